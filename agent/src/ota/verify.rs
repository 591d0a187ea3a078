//! Deciding whether an update may be installed, in an order that gives an attacker nothing to
//! work with: the signature over the manifest's exact bytes first — nothing is parsed or fetched
//! before it verifies with a trusted, unrevoked key — then format, expiry, target, agent version
//! and the anti-rollback floor; then the artifact, streamed against the manifest's size cap and
//! hash; then the ONNX file itself (no external data, the declared input shape). Pure: the clock,
//! the device identity and the floor come in as a [`Context`].

use std::collections::BTreeMap;
use std::io::Cursor;

use minisign::{PublicKey, SignatureBox};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::manifest::{FORMAT, UpdateManifest, parse_version};
use super::onnx::{self, OnnxError};
pub use super::trust::{KeyError, Trust, describe, key_id};

/// Why an update was refused. `reason()` is the short code published in the rejection event.
#[derive(Debug, Error, PartialEq)]
pub enum Rejection {
    #[error("signature is not a minisign signature: {0}")]
    SignatureFormat(String),
    #[error("signed by unknown key {0}")]
    UnknownKey(String),
    #[error("signed by revoked key {0}")]
    RevokedKey(String),
    #[error("signature does not verify with key {0}")]
    BadSignature(String),
    #[error("{have} of the {need} signatures by distinct trusted keys that this gateway requires")]
    NotEnoughSignatures { have: usize, need: usize },
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("manifest format {0} is not supported (this agent reads {FORMAT})")]
    Format(u32),
    #[error(
        "this gateway's clock is not set (it reads {now_unix_s} s since 1970): expiry cannot be checked, so no update is taken until NTP sets it"
    )]
    ClockNotSet { now_unix_s: u64 },
    #[error("manifest expired at {expires_unix_s} (now {now_unix_s})")]
    Expired {
        expires_unix_s: u64,
        now_unix_s: u64,
    },
    #[error("not for this gateway (device {device}, site {site})")]
    NotTargeted { device: String, site: String },
    #[error("needs agent {needs}, this is {have}")]
    AgentTooOld { needs: String, have: String },
    #[error("version {version} is below the installed floor {floor} (downgrade)")]
    Downgrade { version: u64, floor: u64 },
    #[error("version {version} is already installed (replay)")]
    Replay { version: u64 },
    #[error("artifact is larger than the declared {declared} bytes")]
    TooLarge { declared: u64 },
    #[error("artifact is {got} bytes, the manifest declares {declared}")]
    Size { declared: u64, got: u64 },
    #[error("artifact sha256 {got} does not match the manifest's {declared}")]
    Hash { declared: String, got: String },
    #[error("model: {0}")]
    Onnx(#[from] OnnxError),
    #[error("model input {name:?} is {got:?}, the manifest declares [1, 3, {height}, {width}]")]
    InputShape {
        name: String,
        got: Option<Vec<Option<i64>>>,
        width: u32,
        height: u32,
    },
}

impl Rejection {
    /// Whether the manifest's signature had verified when this was refused: only then may the
    /// manifest's own fields (name, slot, version) be repeated in the rejection event.
    pub fn after_signature(&self) -> bool {
        !matches!(
            self,
            Rejection::SignatureFormat(_)
                | Rejection::UnknownKey(_)
                | Rejection::RevokedKey(_)
                | Rejection::BadSignature(_)
                | Rejection::NotEnoughSignatures { .. }
                | Rejection::Manifest(_)
        )
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::SignatureFormat(_) => "signature_format",
            Rejection::UnknownKey(_) => "unknown_key",
            Rejection::RevokedKey(_) => "revoked_key",
            Rejection::BadSignature(_) => "bad_signature",
            Rejection::NotEnoughSignatures { .. } => "signatures",
            Rejection::Manifest(_) => "bad_manifest",
            Rejection::Format(_) => "unsupported_format",
            Rejection::ClockNotSet { .. } => "clock_not_set",
            Rejection::Expired { .. } => "expired",
            Rejection::NotTargeted { .. } => "not_targeted",
            Rejection::AgentTooOld { .. } => "agent_too_old",
            Rejection::Downgrade { .. } => "downgrade",
            Rejection::Replay { .. } => "replay",
            Rejection::TooLarge { .. } => "artifact_too_large",
            Rejection::Size { .. } => "artifact_size",
            Rejection::Hash { .. } => "artifact_hash",
            Rejection::Onnx(_) => "bad_model",
            Rejection::InputShape { .. } => "input_shape",
        }
    }
}

/// What the device knows about itself when an update arrives.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub device: &'a str,
    pub site: &'a str,
    pub agent_version: &'a str,
    pub now_unix_s: u64,
    /// Per slot, the highest version ever activated (a slot not listed has never had one).
    pub floors: &'a BTreeMap<String, u64>,
}

/// Checks the signatures over `manifest` (the exact bytes that were signed) — enough of them, by
/// distinct trusted keys, and none by a revoked key or failing with a trusted one — then parses
/// and checks the manifest against the device's context. Signatures by keys the gateway does not
/// know are ignored, so an update can carry more signers than one gateway trusts.
pub fn verify_manifest(
    manifest: &[u8],
    signatures: &[String],
    trust: &Trust,
    ctx: &Context<'_>,
) -> Result<UpdateManifest, Rejection> {
    if signatures.is_empty() {
        return Err(Rejection::SignatureFormat("no signature".into()));
    }
    let mut signers: Vec<&PublicKey> = Vec::new();
    let mut unknown = None;
    for signature in signatures {
        if !global_signature_whole(signature) {
            return Err(Rejection::SignatureFormat(
                "the trusted comment's signature is not 64 bytes".into(),
            ));
        }
        let sig = SignatureBox::from_string(signature)
            .map_err(|e| Rejection::SignatureFormat(e.to_string()))?;
        let id = key_id(sig.keynum());
        if trust.revoked.contains(&id) {
            return Err(Rejection::RevokedKey(id));
        }
        let Some(key) = trust.keys.iter().find(|k| k.keynum() == sig.keynum()) else {
            unknown.get_or_insert(id);
            continue;
        };
        minisign::verify(key, &sig, Cursor::new(manifest), true, false, false)
            .map_err(|_| Rejection::BadSignature(id))?;
        if !signers.iter().any(|s| s.keynum() == key.keynum()) {
            signers.push(key);
        }
    }
    match (signers.len(), unknown) {
        (0, Some(id)) => return Err(Rejection::UnknownKey(id)),
        (have, _) if have < trust.required => {
            return Err(Rejection::NotEnoughSignatures {
                have,
                need: trust.required,
            });
        }
        _ => {}
    }

    let text =
        std::str::from_utf8(manifest).map_err(|_| Rejection::Manifest("is not UTF-8".into()))?;
    let m: UpdateManifest = toml::from_str(text)
        .map_err(|e: toml::de::Error| Rejection::Manifest(e.message().to_string()))?;
    if m.format != FORMAT {
        return Err(Rejection::Format(m.format));
    }
    // An unset clock would take any expired manifest for a fresh one: a replay of an old update.
    if !crate::clock::wall_clock_set(ctx.now_unix_s.saturating_mul(1000)) {
        return Err(Rejection::ClockNotSet {
            now_unix_s: ctx.now_unix_s,
        });
    }
    if m.expires_unix_s <= ctx.now_unix_s {
        return Err(Rejection::Expired {
            expires_unix_s: m.expires_unix_s,
            now_unix_s: ctx.now_unix_s,
        });
    }
    if !m.targets.admits(ctx.device, ctx.site) {
        return Err(Rejection::NotTargeted {
            device: ctx.device.into(),
            site: ctx.site.into(),
        });
    }
    match (
        parse_version(&m.min_agent_version),
        parse_version(ctx.agent_version),
    ) {
        (Some(needs), Some(have)) if needs <= have => {}
        _ => {
            return Err(Rejection::AgentTooOld {
                needs: m.min_agent_version.clone(),
                have: ctx.agent_version.into(),
            });
        }
    }
    let floor = ctx.floors.get(&m.slot).copied().unwrap_or(0);
    if m.version == floor {
        return Err(Rejection::Replay { version: m.version });
    }
    if m.version < floor {
        return Err(Rejection::Downgrade {
            version: m.version,
            floor,
        });
    }
    if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Rejection::Manifest(format!(
            "sha256 {:?} is not 64 hex digits",
            m.sha256
        )));
    }
    Ok(m)
}

/// Whether a minisign signature's fourth line (the signature over the trusted comment) is the
/// 88 base64 characters of 64 bytes. minisign 0.9.1 decodes it at any length and then slices
/// 64 bytes out of it, which panics on a shorter one (found by `tests/fuzz.rs`): an offer on the
/// command topic must not be able to kill the update thread.
fn global_signature_whole(signature: &str) -> bool {
    signature
        .lines()
        .nth(3)
        .is_some_and(|line| line.trim().len() == 88)
}

/// The artifact checked as it streams in: refused the moment it passes the declared size, so
/// an endless download cannot fill the disk.
pub struct ArtifactCheck {
    declared_size: u64,
    declared_sha256: String,
    len: u64,
    hasher: Sha256,
}

impl ArtifactCheck {
    pub fn new(m: &UpdateManifest) -> Self {
        Self {
            declared_size: m.size,
            declared_sha256: m.sha256.to_ascii_lowercase(),
            len: 0,
            hasher: Sha256::new(),
        }
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Rejection> {
        self.len += chunk.len() as u64;
        if self.len > self.declared_size {
            return Err(Rejection::TooLarge {
                declared: self.declared_size,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    pub fn finish(self) -> Result<(), Rejection> {
        if self.len != self.declared_size {
            return Err(Rejection::Size {
                declared: self.declared_size,
                got: self.len,
            });
        }
        let got = hex::encode(self.hasher.finalize());
        if got != self.declared_sha256 {
            return Err(Rejection::Hash {
                declared: self.declared_sha256,
                got,
            });
        }
        Ok(())
    }
}

/// The whole artifact at once: size and hash, then the ONNX checks.
pub fn check_artifact(m: &UpdateManifest, model: &[u8]) -> Result<(), Rejection> {
    let mut check = ArtifactCheck::new(m);
    check.push(model)?;
    check.finish()?;
    let summary = onnx::inspect(model)?;
    let name = &m.input.name;
    let got = summary
        .inputs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, dims)| dims.clone());
    let expected = [1, 3, i64::from(m.input.height), i64::from(m.input.width)];
    let fits = got.as_ref().is_some_and(|dims| {
        dims.len() == 4
            && dims
                .iter()
                .zip(expected)
                .all(|(d, e)| d.is_none_or(|d| d == e))
    });
    if fits {
        Ok(())
    } else {
        Err(Rejection::InputShape {
            name: name.clone(),
            got,
            width: m.input.width,
            height: m.input.height,
        })
    }
}

/// One fixture per attack, as `tough` does: each builds a signed update that is wrong in exactly
/// one way and checks the refusal and its published reason.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::manifest::Manifest;
    use crate::ota::bundle::{self, Release};
    use crate::ota::manifest::Targets;
    use crate::ota::onnx::tests::model;

    const NOW: u64 = 1_800_000_000;

    struct Keys {
        public: String,
        secret: String,
    }

    fn keys() -> Keys {
        let (public, secret) = bundle::keygen().unwrap();
        Keys {
            public: bundle::public_key_line(&public).unwrap(),
            secret,
        }
    }

    fn nanodet() -> Manifest {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/nanodet-m-416/manifest.toml");
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn onnx() -> Vec<u8> {
        model("input_1:0", &[1, 3, 416, 416], None)
    }

    fn release(version: u64) -> Release {
        Release {
            slot: "person".into(),
            version,
            expires_unix_s: NOW + 3600,
            targets: Targets {
                devices: vec!["*".into()],
                sites: vec!["store-12".into()],
            },
            url: None,
            min_agent_version: "0.1.0".into(),
        }
    }

    /// (manifest bytes, signature) for `version` of `artifact`, signed with `key`.
    fn signed(key: &Keys, version: u64, artifact: &[u8]) -> (Vec<u8>, String) {
        signed_release(key, release(version), artifact)
    }

    fn signed_release(key: &Keys, r: Release, artifact: &[u8]) -> (Vec<u8>, String) {
        let m = bundle::manifest_for(artifact, &nanodet(), r);
        let text = toml::to_string(&m).unwrap().into_bytes();
        let sig = bundle::sign(&text, &key.secret).unwrap();
        (text, sig)
    }

    fn floors() -> BTreeMap<String, u64> {
        [("person".to_string(), 7)].into()
    }

    fn verify(m: &[u8], sig: &str, t: &Trust) -> Result<UpdateManifest, Rejection> {
        verify_all(m, &[sig], t)
    }

    fn verify_all(m: &[u8], sigs: &[&str], t: &Trust) -> Result<UpdateManifest, Rejection> {
        let sigs: Vec<String> = sigs.iter().map(|s| s.to_string()).collect();
        let floors = floors();
        let ctx = Context {
            device: "gw-1",
            site: "store-12",
            agent_version: "0.1.0",
            now_unix_s: NOW,
            floors: &floors,
        };
        verify_manifest(m, &sigs, t, &ctx)
    }

    fn trust(keys: &[&Keys], revoked: &[String]) -> Trust {
        let ks: Vec<String> = keys.iter().map(|k| k.public.clone()).collect();
        Trust::new(&ks, revoked, 1).unwrap()
    }

    fn reason(r: Result<impl std::fmt::Debug, Rejection>) -> &'static str {
        r.expect_err("must be refused").reason()
    }

    #[test]
    fn a_good_update_passes_every_check() {
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        assert_eq!(manifest.version, 8);
        check_artifact(&manifest, &onnx()).unwrap();
    }

    #[test]
    fn bad_signature() {
        let k = keys();
        let (mut m, sig) = signed(&k, 8, &onnx());
        // One byte of the manifest changed after signing: the version.
        let at = m.windows(11).position(|w| w == b"version = 8").unwrap();
        m[at + 10] = b'9';
        assert_eq!(
            reason(verify(&m, &sig, &trust(&[&k], &[]))),
            "bad_signature"
        );
        assert_eq!(
            reason(verify(&m, "garbage", &trust(&[&k], &[]))),
            "signature_format"
        );
    }

    #[test]
    fn a_short_trusted_comment_signature_is_refused_not_a_panic() {
        // Found by tests/fuzz.rs: minisign panics verifying a global signature under 64 bytes.
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let mut lines: Vec<&str> = sig.lines().collect();
        let short = lines[3][..60].to_string() + "==";
        lines[3] = &short;
        let cut = lines.join("\n");
        assert_eq!(
            reason(verify(&m, &cut, &trust(&[&k], &[]))),
            "signature_format"
        );
    }

    #[test]
    fn unknown_key() {
        let (k, stranger) = (keys(), keys());
        let (m, sig) = signed(&stranger, 8, &onnx());
        assert_eq!(reason(verify(&m, &sig, &trust(&[&k], &[]))), "unknown_key");
    }

    #[test]
    fn revoked_key_even_while_still_listed_as_trusted() {
        let (old, new) = (keys(), keys());
        let (m, sig) = signed(&old, 8, &onnx());
        let old_id = key_id(SignatureBox::from_string(&sig).unwrap().keynum());
        let rotated = trust(&[&old, &new], &[old_id]);
        assert_eq!(reason(verify(&m, &sig, &rotated)), "revoked_key");
        // Rotation: the same update signed with the new key is accepted.
        let (m, sig) = signed(&new, 8, &onnx());
        verify(&m, &sig, &rotated).unwrap();
    }

    #[test]
    fn downgrade_and_replay_of_the_current_version() {
        let k = keys();
        let (m, sig) = signed(&k, 6, &onnx());
        assert_eq!(reason(verify(&m, &sig, &trust(&[&k], &[]))), "downgrade");
        let (m, sig) = signed(&k, 7, &onnx());
        assert_eq!(reason(verify(&m, &sig, &trust(&[&k], &[]))), "replay");
    }

    #[test]
    fn expired_manifest() {
        let k = keys();
        let expired = Release {
            expires_unix_s: NOW,
            ..release(8)
        };
        let (m, sig) = signed_release(&k, expired, &onnx());
        assert_eq!(reason(verify(&m, &sig, &trust(&[&k], &[]))), "expired");
    }

    #[test]
    fn a_gateway_whose_clock_is_not_set_takes_no_update() {
        // Booted without a real-time clock, before NTP: 1970, where every manifest looks fresh.
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let floors = floors();
        let ctx = Context {
            device: "gw-1",
            site: "store-12",
            agent_version: "0.1.0",
            now_unix_s: 120,
            floors: &floors,
        };
        let r = verify_manifest(&m, &[sig], &trust(&[&k], &[]), &ctx);
        assert_eq!(reason(r), "clock_not_set");
    }

    #[test]
    fn another_sites_update() {
        let k = keys();
        let mut r = release(8);
        r.targets.sites = vec!["store-99".into()];
        let (m, sig) = signed_release(&k, r, &onnx());
        assert_eq!(reason(verify(&m, &sig, &trust(&[&k], &[]))), "not_targeted");
    }

    #[test]
    fn manifest_with_unknown_fields_even_when_signed() {
        let k = keys();
        let (m, _) = signed(&k, 8, &onnx());
        let text = format!("{}\nbackdoor = true\n", String::from_utf8(m).unwrap());
        let sig = bundle::sign(text.as_bytes(), &k.secret).unwrap();
        let err = verify(text.as_bytes(), &sig, &trust(&[&k], &[])).unwrap_err();
        assert_eq!(err.reason(), "bad_manifest");
        assert!(err.to_string().contains("backdoor"), "{err}");
    }

    #[test]
    fn manifest_a_with_artifact_b() {
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        let mut other = onnx();
        let last = other.len() - 1;
        other[last] ^= 1;
        assert_eq!(reason(check_artifact(&manifest, &other)), "artifact_hash");
    }

    #[test]
    fn truncated_artifact() {
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        let model = onnx();
        assert_eq!(
            reason(check_artifact(&manifest, &model[..model.len() - 10])),
            "artifact_size"
        );
    }

    #[test]
    fn endless_artifact_is_cut_at_the_declared_size() {
        let k = keys();
        let (m, sig) = signed(&k, 8, &onnx());
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        let mut check = ArtifactCheck::new(&manifest);
        let chunk = [0u8; 64];
        let mut pushed = 0u64;
        let refused = loop {
            match check.push(&chunk) {
                Ok(()) => pushed += 64,
                Err(e) => break e,
            }
        };
        assert_eq!(refused.reason(), "artifact_too_large");
        assert!(
            pushed <= manifest.size,
            "stopped after {pushed} of {} bytes",
            manifest.size
        );
    }

    #[test]
    fn onnx_with_external_data_path_traversal() {
        let k = keys();
        let evil = model("input_1:0", &[1, 3, 416, 416], Some("../../../etc/shadow"));
        let (m, sig) = signed(&k, 8, &evil);
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        let err = check_artifact(&manifest, &evil).unwrap_err();
        assert_eq!(err.reason(), "bad_model");
        assert!(err.to_string().contains("../../../etc/shadow"), "{err}");
    }

    #[test]
    fn input_shape_mismatch() {
        let k = keys();
        let small = model("input_1:0", &[1, 3, 320, 320], None);
        let (m, sig) = signed(&k, 8, &small);
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        assert_eq!(reason(check_artifact(&manifest, &small)), "input_shape");
        let renamed = model("images", &[1, 3, 416, 416], None);
        let (m, sig) = signed(&k, 8, &renamed);
        let manifest = verify(&m, &sig, &trust(&[&k], &[])).unwrap();
        assert_eq!(reason(check_artifact(&manifest, &renamed)), "input_shape");
    }

    #[test]
    fn an_agent_too_old_for_the_model() {
        let k = keys();
        let future = Release {
            min_agent_version: "9.0.0".into(),
            ..release(8)
        };
        let (m, sig) = signed_release(&k, future, &onnx());
        assert_eq!(
            reason(verify(&m, &sig, &trust(&[&k], &[]))),
            "agent_too_old"
        );
    }

    #[test]
    fn trust_config_problems_are_each_named() {
        let errs = Trust::new(&["not a key".into()], &["XYZ".into()], 1)
            .err()
            .unwrap();
        assert_eq!(errs[0].field, "ota.trusted_keys[0]");
        assert_eq!(errs[1].field, "ota.revoked_keys[0]");
        assert_eq!(
            Trust::new(&[], &[], 1).err().unwrap()[0].field,
            "ota.trusted_keys"
        );
        let k = keys();
        let errs = Trust::new(std::slice::from_ref(&k.public), &[], 2)
            .err()
            .unwrap();
        assert_eq!(errs[0].field, "ota.required_signatures");
    }

    fn two_of(keys: &[&Keys]) -> Trust {
        let ks: Vec<String> = keys.iter().map(|k| k.public.clone()).collect();
        Trust::new(&ks, &[], 2).unwrap()
    }

    #[test]
    fn k_of_n_needs_k_distinct_trusted_signers() {
        let (a, b, c, stranger) = (keys(), keys(), keys(), keys());
        let (m, sig_a) = signed(&a, 8, &onnx());
        let sig_b = bundle::sign(&m, &b.secret).unwrap();
        let sig_s = bundle::sign(&m, &stranger.secret).unwrap();
        let t = two_of(&[&a, &b, &c]);
        assert_eq!(reason(verify_all(&m, &[&sig_a], &t)), "signatures");
        // The same key twice is one signer; a stranger's signature counts for nothing.
        assert_eq!(reason(verify_all(&m, &[&sig_a, &sig_a], &t)), "signatures");
        assert_eq!(reason(verify_all(&m, &[&sig_a, &sig_s], &t)), "signatures");
        assert_eq!(
            verify_all(&m, &[&sig_a, &sig_s, &sig_b], &t)
                .unwrap()
                .version,
            8
        );
        assert_eq!(reason(verify_all(&m, &[&sig_s], &t)), "unknown_key");
    }

    #[test]
    fn k_of_n_refuses_any_bad_or_revoked_signature_among_good_ones() {
        let (a, b, c) = (keys(), keys(), keys());
        let (m, sig_a) = signed(&a, 8, &onnx());
        let sig_b = bundle::sign(&m, &b.secret).unwrap();
        let sig_c = bundle::sign(&m, &c.secret).unwrap();
        let (_, other) = signed(&c, 9, &onnx());
        let t = two_of(&[&a, &b, &c]);
        // c signed another manifest: a signature by a trusted key that does not verify.
        assert_eq!(
            reason(verify_all(&m, &[&sig_a, &sig_b, &other], &t)),
            "bad_signature"
        );
        let c_id = key_id(SignatureBox::from_string(&sig_c).unwrap().keynum());
        let ks: Vec<String> = [&a, &b, &c].iter().map(|k| k.public.clone()).collect();
        let t = Trust::new(&ks, &[c_id], 2).unwrap();
        assert_eq!(
            reason(verify_all(&m, &[&sig_a, &sig_b, &sig_c], &t)),
            "revoked_key"
        );
    }
}
