//! A signed update as files: `update.toml` (the manifest, signed byte for byte),
//! `update.toml.minisig` (a standard minisign signature, so `minisign -V` checks it too) and
//! `model.onnx`. This is what `aisle model pack` writes and an installer copies from a USB stick.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use minisign::{KeyPair, PublicKey, SecretKey, SecretKeyBox};
use thiserror::Error;

use super::manifest::{FORMAT, Targets, UpdateManifest};
use super::verify::{self, Context, Rejection, Trust};
use crate::detect::manifest::Manifest;

pub const MANIFEST_FILE: &str = "update.toml";
pub const SIGNATURE_FILE: &str = "update.toml.minisig";
pub const MODEL_FILE: &str = "model.onnx";

#[derive(Debug, Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key: {0}")]
    Key(String),
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("refused ({reason}): {rejection}", reason = .0.reason(), rejection = .0)]
    Refused(Rejection),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.into(),
        source,
    }
}

/// A new key pair as minisign's text files: (public, secret). The secret key is not
/// password-protected: keep it offline, readable only by the admin.
pub fn keygen() -> Result<(String, String), BundleError> {
    let KeyPair { pk, sk } =
        KeyPair::generate_unencrypted_keypair().map_err(|e| BundleError::Key(e.to_string()))?;
    let public = pk
        .to_box()
        .map_err(|e| BundleError::Key(e.to_string()))?
        .to_string();
    let secret = sk
        .to_box(None)
        .map_err(|e| BundleError::Key(e.to_string()))?
        .to_string();
    Ok((public, secret))
}

/// The base64 key line (`RW…`) of a minisign public key file, as the agent's config wants it.
pub fn public_key_line(text: &str) -> Result<String, BundleError> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .ok_or_else(|| BundleError::Key("no key line in the public key file".into()))?;
    PublicKey::from_base64(line).map_err(|e| BundleError::Key(e.to_string()))?;
    Ok(line.to_string())
}

/// Signs `manifest` (exact bytes) with a minisign secret key file's text.
pub fn sign(manifest: &[u8], secret_key: &str) -> Result<String, BundleError> {
    let sk = SecretKeyBox::from_string(secret_key)
        .and_then(SecretKey::from_unencrypted_box)
        .map_err(|e| BundleError::Key(e.to_string()))?;
    let pk = PublicKey::from_secret_key(&sk).map_err(|e| BundleError::Key(e.to_string()))?;
    minisign::sign(Some(&pk), &sk, Cursor::new(manifest), None, None)
        .map(|s| s.into_string())
        .map_err(|e| BundleError::Key(e.to_string()))
}

/// What an update says besides the model itself.
pub struct Release {
    pub slot: String,
    pub version: u64,
    pub expires_unix_s: u64,
    pub targets: Targets,
    pub url: Option<String>,
    pub min_agent_version: String,
}

/// The update manifest for `model` (its bytes) described by its model `manifest`.
pub fn manifest_for(model: &[u8], manifest: &Manifest, release: Release) -> UpdateManifest {
    use sha2::Digest;
    UpdateManifest {
        format: FORMAT,
        name: manifest.name.clone(),
        slot: release.slot,
        version: release.version,
        sha256: hex::encode(sha2::Sha256::digest(model)),
        size: model.len() as u64,
        min_agent_version: release.min_agent_version,
        expires_unix_s: release.expires_unix_s,
        targets: release.targets,
        url: release.url,
        input: manifest.input.clone(),
        output: manifest.output.clone(),
    }
}

/// Writes a bundle directory: the manifest as TOML, its signature, and the model.
pub fn write(
    dir: &Path,
    manifest: &UpdateManifest,
    model: &[u8],
    secret_key: &str,
) -> Result<(), BundleError> {
    let text = toml::to_string(manifest).map_err(|e| BundleError::Manifest(e.to_string()))?;
    let signature = sign(text.as_bytes(), secret_key)?;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    for (name, bytes) in [
        (MANIFEST_FILE, text.as_bytes()),
        (SIGNATURE_FILE, signature.as_bytes()),
        (MODEL_FILE, model),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }
    Ok(())
}

/// A bundle's three files as read from disk, not yet trusted.
pub struct Unverified {
    pub manifest: Vec<u8>,
    pub signature: String,
    pub model: PathBuf,
}

pub fn read(dir: &Path) -> Result<Unverified, BundleError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let signature_path = dir.join(SIGNATURE_FILE);
    Ok(Unverified {
        manifest: std::fs::read(&manifest_path).map_err(io(&manifest_path))?,
        signature: std::fs::read_to_string(&signature_path).map_err(io(&signature_path))?,
        model: dir.join(MODEL_FILE),
    })
}

impl Unverified {
    /// Every check in order: the manifest's signature and policy first, and only then is the
    /// model read and checked. Returns the verified manifest and the model's bytes.
    pub fn verify(
        &self,
        trust: &Trust,
        ctx: &Context<'_>,
    ) -> Result<(UpdateManifest, Vec<u8>), BundleError> {
        let m = verify::verify_manifest(&self.manifest, &self.signature, trust, ctx)
            .map_err(BundleError::Refused)?;
        let model = std::fs::read(&self.model).map_err(io(&self.model))?;
        verify::check_artifact(&m, &model).map_err(BundleError::Refused)?;
        Ok((m, model))
    }
}
