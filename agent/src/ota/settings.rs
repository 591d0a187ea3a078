//! The `[ota]` section: who may sign model updates and where installed models live
//! (docs/ota.md), validated here beside the code that uses it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Who may sign model updates, and where installed models live.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtaConfig {
    /// Minisign public keys (the `RW…` line of `aisle model keygen`'s `.pub`); any one of them
    /// may sign. List the new key beside the old one to rotate.
    pub trusted_keys: Vec<String>,
    /// Key ids (16 hex digits) refused even if still listed as trusted: a stolen key.
    #[serde(default)]
    pub revoked_keys: Vec<String>,
    /// How many distinct trusted keys must sign an update (k of n; `aisle model cosign`).
    #[serde(default = "default_required_signatures")]
    pub required_signatures: usize,
    /// Installed models and the install state (relative paths from the config file's folder).
    #[serde(default = "default_models_dir")]
    pub state_dir: PathBuf,
    /// CA certificates (PEM) that HTTPS model downloads are checked against.
    #[serde(default = "default_download_ca")]
    pub ca_file: PathBuf,
    /// Frames a model updated over the network serves on trial before the health gate judges
    /// it against the model it replaced.
    #[serde(default = "default_trial_frames")]
    pub trial_frames: u64,
}

fn default_models_dir() -> PathBuf {
    "/var/lib/aisle/models".into()
}

fn default_download_ca() -> PathBuf {
    "/etc/ssl/certs/ca-certificates.crt".into()
}

fn default_required_signatures() -> usize {
    1
}

fn default_trial_frames() -> u64 {
    100
}

impl OtaConfig {
    /// Every problem of the section, with its `ota.` field path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Err(errors) = super::verify::Trust::new(
            &self.trusted_keys,
            &self.revoked_keys,
            self.required_signatures,
        ) {
            for e in errors {
                p.push(Problem::new(e.field, e.reason));
            }
        }
        if !(1..=100_000).contains(&self.trial_frames) {
            p.push(Problem::new(
                "ota.trial_frames",
                "must be within 1..=100000",
            ));
        }
        p
    }
}
