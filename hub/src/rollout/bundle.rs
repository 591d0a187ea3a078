//! A signed bundle as `aisle model pack` wrote it (`update.toml`, `update.toml.minisig`,
//! co-signatures `update.toml.<KEY ID>.minisig`, `model.onnx`), read into the offer the agent
//! takes on `cmd/model`. The hub does not verify signatures: it is not trusted with keys, and every
//! gateway checks the offer before it reads the manifest. A bundle a gateway refuses shows up as
//! `rejected` in wave 1 and halts the rollout there.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

const MANIFEST_FILE: &str = "update.toml";
const SIGNATURE_FILE: &str = "update.toml.minisig";

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
}

/// What the hub reads from the manifest: which model and version, and which gateways may take it
/// (the agent refuses an offer whose targets leave it out, so the rollout leaves them out too).
#[derive(Debug, Deserialize)]
struct Manifest {
    name: String,
    version: i64,
    url: Option<String>,
    targets: Targets,
}

pub use aisle_proto::offer::Targets;

#[derive(Debug)]
pub struct Bundle {
    /// The directory's name, as people call the bundle.
    pub name: String,
    pub model: String,
    pub version: i64,
    pub targets: Targets,
    /// The JSON the agent parses as an offer.
    pub offer: serde_json::Value,
}

fn read(path: &Path) -> Result<String, BundleError> {
    std::fs::read_to_string(path).map_err(|e| BundleError::Read {
        path: path.into(),
        reason: e.to_string(),
    })
}

pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = read(&manifest_path)?;
    let bad = |reason: String| BundleError::Manifest {
        path: manifest_path.clone(),
        reason,
    };
    let parsed: Manifest = toml::from_str(&manifest).map_err(|e| bad(e.message().to_string()))?;
    if parsed.url.is_none() {
        return Err(bad(
            "no url: gateways fetch the model from the manifest's url".into(),
        ));
    }
    let signature = read(&dir.join(SIGNATURE_FILE))?;
    let entries = std::fs::read_dir(dir).map_err(|e| BundleError::Read {
        path: dir.into(),
        reason: e.to_string(),
    })?;
    let mut cosigned: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with("update.toml.") && n.ends_with(".minisig") && n != SIGNATURE_FILE
            })
        })
        .collect();
    cosigned.sort();
    let cosignatures = cosigned
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Bundle {
        name,
        model: parsed.name,
        version: parsed.version,
        targets: parsed.targets,
        // The agent's own offer type, so what the hub sends is what a gateway parses.
        offer: serde_json::to_value(aisle_proto::offer::Offer {
            manifest,
            signature,
            cosignatures,
        })
        .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "format = 1\nname = \"nanodet\"\nslot = \"detector\"\nversion = 7\n\
        url = \"https://models.example/7.onnx\"\n[targets]\ndevices = [\"*\"]\nsites = [\"store-1\"]\n";

    #[test]
    fn a_bundle_becomes_the_agents_offer() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(MANIFEST_FILE), MANIFEST).expect("write");
        std::fs::write(dir.path().join(SIGNATURE_FILE), "sig-1").expect("write");
        std::fs::write(dir.path().join("update.toml.ABCD.minisig"), "sig-2").expect("write");
        let b = load(dir.path()).expect("bundle");
        assert_eq!((b.model.as_str(), b.version), ("nanodet", 7));
        assert_eq!(b.offer["manifest"], MANIFEST);
        assert_eq!(b.offer["signature"], "sig-1");
        assert_eq!(b.offer["cosignatures"], serde_json::json!(["sig-2"]));
        assert!(b.targets.admits("gw-9", "store-1"));
        assert!(!b.targets.admits("gw-9", "store-2"));
    }

    #[test]
    fn a_bundle_without_url_or_signature_is_refused_by_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = MANIFEST.replace("url = \"https://models.example/7.onnx\"\n", "");
        std::fs::write(dir.path().join(MANIFEST_FILE), m).expect("write");
        let e = load(dir.path()).expect_err("no url").to_string();
        assert!(e.contains("update.toml: no url"), "{e}");
        std::fs::write(dir.path().join(MANIFEST_FILE), MANIFEST).expect("write");
        let e = load(dir.path()).expect_err("no signature").to_string();
        assert!(e.contains("update.toml.minisig"), "{e}");
    }
}
