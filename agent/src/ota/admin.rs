//! The fleet admin's side of updates: `aisle model keygen`, `pack` and `verify`. Runs on the
//! admin's workstation, never on a gateway with the secret key.

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::bundle::{self, BundleError, Release};
use super::manifest::{Targets, UpdateManifest};
use super::verify::{self, Context, Trust};
use crate::detect::manifest::{Manifest, ManifestError};

#[derive(Debug, Error)]
pub enum AdminError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} exists: refusing to overwrite a key")]
    Exists(PathBuf),
    #[error("--expires {0:?}: {1}")]
    Expires(String, String),
    #[error("{0}")]
    Keys(String),
    #[error(
        "--name {0:?}: a key name is a plain file name (letters, digits, '-', '_', '.'), not a path"
    )]
    Name(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AdminError + '_ {
    move |source| AdminError::Io {
        path: path.into(),
        source,
    }
}

/// Writes `DIR/NAME.pub` and `DIR/NAME.key` (mode 0600); returns the key line for agents'
/// `ota.trusted_keys`.
pub fn keygen(dir: &Path, name: &str) -> Result<String, AdminError> {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(AdminError::Name(name.to_string()));
    }
    let (public, secret) = bundle::keygen()?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (pub_path, key_path) = (
        dir.join(format!("{name}.pub")),
        dir.join(format!("{name}.key")),
    );
    for p in [&pub_path, &key_path] {
        if p.exists() {
            return Err(AdminError::Exists(p.clone()));
        }
    }
    write_private(&key_path, secret.as_bytes())?;
    std::fs::write(&pub_path, &public).map_err(io(&pub_path))?;
    Ok(bundle::public_key_line(&public)?)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AdminError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))
}

/// `--expires`: RFC 3339 (`2027-01-31T00:00:00Z`) or a number of days from `now` (`90d`).
pub fn parse_expiry(text: &str, now_unix_s: u64) -> Result<u64, AdminError> {
    let bad = |why: &str| AdminError::Expires(text.into(), why.into());
    if let Some(days) = text.strip_suffix('d') {
        let days: u64 = days.parse().map_err(|_| bad("expected e.g. 90d"))?;
        return Ok(now_unix_s + days * 86_400);
    }
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| bad(&e.to_string()))?;
    u64::try_from(t.unix_timestamp()).map_err(|_| bad("before 1970"))
}

/// What `pack` needs besides the files.
pub struct PackOptions<'a> {
    pub onnx: &'a Path,
    pub manifest: &'a Path,
    pub key: &'a Path,
    pub out: &'a Path,
    pub release: Release,
}

/// Signs `onnx` described by the model `manifest` into a bundle directory.
pub fn pack(o: PackOptions<'_>) -> Result<UpdateManifest, AdminError> {
    let model_manifest = Manifest::load(o.manifest)?;
    let model = std::fs::read(o.onnx).map_err(io(o.onnx))?;
    let secret = std::fs::read_to_string(o.key).map_err(io(o.key))?;
    let m = bundle::manifest_for(&model, &model_manifest, o.release);
    bundle::write(o.out, &m, &model, &secret)?;
    Ok(m)
}

/// Everything a gateway would check, against a public key file, a device identity and the
/// version the gateway runs in `slot`.
pub fn verify_bundle(
    dir: &Path,
    pubkey: &Path,
    device: &str,
    site: &str,
    (slot, floor): (&str, u64),
    now_unix_s: u64,
) -> Result<UpdateManifest, AdminError> {
    let public = std::fs::read_to_string(pubkey).map_err(io(pubkey))?;
    let trust = Trust::new(&[bundle::public_key_line(&public)?], &[], 1)
        .map_err(|e| AdminError::Keys(verify::describe(&e)))?;
    let floors = [(slot.to_string(), floor)].into();
    let ctx = Context {
        device,
        site,
        agent_version: env!("CARGO_PKG_VERSION"),
        now_unix_s,
        floors: &floors,
    };
    let (m, _) = bundle::read(dir)?.verify(&trust, &ctx)?;
    Ok(m)
}

/// Targets from the command line: every device and site unless narrowed.
pub fn targets(devices: Vec<String>, sites: Vec<String>) -> Targets {
    let or_all = |v: Vec<String>| if v.is_empty() { vec!["*".into()] } else { v };
    Targets {
        devices: or_all(devices),
        sites: or_all(sites),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_name_that_is_a_path_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("keys");
        for name in ["../../x", "a/b", "", ".hidden", "..", "k\0"] {
            let e = keygen(&out, name).unwrap_err();
            assert!(matches!(e, AdminError::Name(_)), "{name:?}: {e}");
        }
        assert!(!out.exists(), "nothing written for a refused name");
        assert!(keygen(&out, "fleet-admin_1.2026").is_ok());
        assert!(out.join("fleet-admin_1.2026.key").is_file());
    }
}
