//! `aisle model install BUNDLE`: an update from a USB stick or a service laptop, through the same
//! checks as one that arrives over the network (signature first, then policy, then the artifact
//! and the ONNX file, then the canary), into the same model store. The agent picks the new
//! model up when it (re)starts.

use std::path::Path;

use thiserror::Error;

use super::OtaConfig;
use super::bundle::{self, BundleError};
use super::canary::{self, CanaryError};
use super::store::{ModelStore, StoreError, StoreState};
use super::verify::{self, Context, Trust};
use crate::detect::DetectorOptions;

#[derive(Debug, Error)]
pub enum InstallError {
    #[error("the config has no [ota] section: this agent takes no model updates")]
    NotEnabled,
    #[error("{0}")]
    Keys(String),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("refused (canary): the new model {0}")]
    Canary(CanaryError),
}

/// The gateway a bundle is installed on: its `[ota]` section (`None`: it takes no updates) and
/// the device and site its targets are checked against.
pub struct Gateway<'a> {
    pub ota: Option<&'a OtaConfig>,
    pub device: &'a str,
    pub site: &'a str,
}

/// Verifies the bundle in `dir` for this device and installs it; returns the new store state.
/// `opts` are the detector settings the canary loads models with.
pub fn install(
    gateway: &Gateway<'_>,
    dir: &Path,
    now_unix_s: u64,
    opts: &DetectorOptions,
) -> Result<StoreState, InstallError> {
    let ota = gateway.ota.ok_or(InstallError::NotEnabled)?;
    let trust = Trust::new(
        &ota.trusted_keys,
        &ota.revoked_keys,
        ota.required_signatures,
    )
    .map_err(|e| InstallError::Keys(verify::describe(&e)))?;
    let store = ModelStore::open(&ota.state_dir)?;
    let floors = store.state()?.floors();
    let ctx = Context {
        device: gateway.device,
        site: gateway.site,
        agent_version: env!("CARGO_PKG_VERSION"),
        now_unix_s,
        floors: &floors,
    };
    let (m, model) = bundle::read(dir)?.verify(&trust, &ctx)?;
    let current = store.active_manifest(&m.slot)?;
    let staged = store.stage(&m, &model)?;
    if let Err(e) = canary::run(&staged, current.as_deref(), opts, &[]) {
        store.discard(&m.slot, m.version, false)?;
        return Err(InstallError::Canary(e));
    }
    // An installer at the box is watching: the update is not on trial.
    Ok(store.activate(&m, false)?)
}
