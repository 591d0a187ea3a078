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

/// A bundle's files as read from disk, not yet trusted.
pub struct Unverified {
    pub manifest: Vec<u8>,
    /// The packer's signature first, then co-signatures in file-name order.
    pub signatures: Vec<String>,
    pub model: PathBuf,
}

/// A co-signature's file: `update.toml.<KEY ID>.minisig`, so `minisign -V -x` checks it too.
pub fn cosignature_file(key_id: &str) -> String {
    format!("{MANIFEST_FILE}.{key_id}.minisig")
}

pub fn read(dir: &Path) -> Result<Unverified, BundleError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let signature_path = dir.join(SIGNATURE_FILE);
    let mut signatures =
        vec![std::fs::read_to_string(&signature_path).map_err(io(&signature_path))?];
    let mut cosigned: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(&format!("{MANIFEST_FILE}."))
                    && n.ends_with(".minisig")
                    && n != SIGNATURE_FILE
            })
        })
        .collect();
    cosigned.sort();
    for path in cosigned {
        signatures.push(std::fs::read_to_string(&path).map_err(io(&path))?);
    }
    Ok(Unverified {
        manifest: std::fs::read(&manifest_path).map_err(io(&manifest_path))?,
        signatures,
        model: dir.join(MODEL_FILE),
    })
}

/// Adds a co-signature by another admin's secret key to a packed bundle; returns its key id.
/// The manifest is signed byte for byte as it is, after its checks on the admin's desk.
pub fn cosign(dir: &Path, secret_key: &str) -> Result<String, BundleError> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let signature = sign(&manifest, secret_key)?;
    let sig = minisign::SignatureBox::from_string(&signature)
        .map_err(|e| BundleError::Key(e.to_string()))?;
    let id = verify::key_id(sig.keynum());
    let path = dir.join(cosignature_file(&id));
    std::fs::write(&path, signature).map_err(io(&path))?;
    Ok(id)
}

impl Unverified {
    /// Every check in order: the manifest's signature and policy first, and only then is the
    /// model read and checked. Returns the verified manifest and the model's bytes.
    pub fn verify(
        &self,
        trust: &Trust,
        ctx: &Context<'_>,
    ) -> Result<(UpdateManifest, Vec<u8>), BundleError> {
        let m = verify::verify_manifest(&self.manifest, &self.signatures, trust, ctx)
            .map_err(BundleError::Refused)?;
        let model = std::fs::read(&self.model).map_err(io(&self.model))?;
        verify::check_artifact(&m, &model).map_err(BundleError::Refused)?;
        Ok((m, model))
    }
}
