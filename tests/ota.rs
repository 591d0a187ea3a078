//! Signed model updates through the real binary: an admin makes a key and signs the bundled
//! model as version 2; a gateway installs it offline and its agent starts on it; then replays,
//! downgrades, a tampered artifact and a stranger's signature are each refused with their reason
//! while version 2 stays installed.

mod common;

use std::path::{Path, PathBuf};

use common::*;

struct Fleet {
    dir: tempfile::TempDir,
    key_line: String,
}

impl Fleet {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key_line = keygen(&dir.path().join("keys"));
        Self { dir, key_line }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The bundled model signed as `version` for site `store-12`, with `key` (a keygen dir).
    fn pack(&self, version: u64, keys: &Path) -> PathBuf {
        let onnx = root().join("models/nanodet-m-416/nanodet-m-416.onnx");
        self.pack_onnx(version, keys, &onnx)
    }

    fn pack_onnx(&self, version: u64, keys: &Path, onnx: &Path) -> PathBuf {
        let manifest = root().join("models/nanodet-m-416/manifest.toml");
        self.pack_model(version, keys, onnx, &manifest)
    }

    fn pack_model(&self, version: u64, keys: &Path, onnx: &Path, manifest: &Path) -> PathBuf {
        let out = self.path(&format!("bundle-{version}"));
        let o = aisle()
            .args(["model", "pack", "--onnx"])
            .arg(onnx)
            .arg("--manifest")
            .arg(manifest)
            .args([
                "--version",
                &version.to_string(),
                "--site",
                "store-12",
                "--key",
            ])
            .arg(keys.join("aisle-model.key"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        out
    }

    fn config(&self) -> PathBuf {
        self.config_trusting(&[&self.key_line], 1)
    }

    /// A gateway that trusts `keys` and requires `required` of them to sign.
    fn config_trusting(&self, keys: &[&str], required: usize) -> PathBuf {
        let keys: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
        let text = format!(
            "[agent]\ndevice_id = \"gw-1\"\nsite = \"store-12\"\n[runtime]\nthreads = 1\n\
             [outbox]\npath = \"{}\"\n[ota]\ntrusted_keys = [{}]\nrequired_signatures = {required}\n\
             state_dir = \"{}\"\n[[cameras]]\nid = \"door\"\nuri = \"test://?frames=3\"\n",
            self.path("outbox").display(),
            keys.join(", "),
            self.path("models").display()
        );
        write(self.dir.path(), "gateway.toml", text)
    }

    fn install(&self, bundle: &Path) -> std::process::Output {
        self.install_with(bundle, &self.config())
    }

    fn install_with(&self, bundle: &Path, config: &Path) -> std::process::Output {
        aisle()
            .args(["model", "install"])
            .arg(bundle)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    }

    fn active_version(&self) -> u64 {
        let state: serde_json::Value =
            serde_json::from_slice(&std::fs::read(self.path("models/state.json")).unwrap())
                .unwrap();
        state["slots"]["person"]["active"]["version"]
            .as_u64()
            .unwrap()
    }
}

#[test]
fn an_offline_install_is_verified_activated_and_run_and_every_attack_is_refused() {
    let fleet = Fleet::new();
    let keys = fleet.path("keys");
    let v2 = fleet.pack(2, &keys);

    let o = aisle()
        .args(["model", "verify"])
        .arg(&v2)
        .arg("--pubkey")
        .arg(keys.join("aisle-model.pub"))
        .args(["--site", "store-12"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("ok: nanodet-m-416 v2"),
        "{}",
        stdout(&o)
    );

    let o = fleet.install(&v2);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fleet.active_version(), 2);

    // The agent starts on the installed model.
    let o = aisle()
        .args(["run", "--log-format", "json", "--config"])
        .arg(fleet.config())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let started = stderr(&o)
        .lines()
        .find(|l| l.contains("agent started"))
        .map(str::to_string)
        .unwrap_or_default();
    assert!(started.contains("\"model_version\":2"), "{}", stderr(&o));

    // Replay of the installed version, and a downgrade.
    assert_clean_failure(&fleet.install(&v2), &["refused (replay)"]);
    let v1 = fleet.pack(1, &keys);
    assert_clean_failure(&fleet.install(&v1), &["refused (downgrade)"]);

    // Version 3 with one byte of the model changed after signing.
    let v3 = fleet.pack(3, &keys);
    let model = v3.join("model.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&model, bytes).unwrap();
    assert_clean_failure(&fleet.install(&v3), &["refused (artifact_hash)"]);

    // Version 3 signed by a key the gateway does not trust.
    let stranger = Fleet::new();
    let v3 = fleet.pack(3, &stranger.path("keys"));
    assert_clean_failure(&fleet.install(&v3), &["refused (unknown_key)"]);

    assert_eq!(
        fleet.active_version(),
        2,
        "every refusal leaves version 2 active"
    );
}

/// The int8 models travel the update path like any other: packed and signed, verified and
/// installed, and the agent starts on each. Slowest first: each update is then faster than the
/// model it replaces, so the canary's latency budget (twice the current model's time, which
/// centernet-mbv3 against movenet-multipose comes within noise of on a loaded 2-core machine)
/// is not what this test measures.
#[test]
fn every_int8_model_is_an_update_like_any_other() {
    let fleet = Fleet::new();
    let keys = fleet.path("keys");
    for (version, model) in [
        (2, "centernet-mbv3"),
        (3, "movenet-multipose"),
        (4, "nanodet-m-416"),
    ] {
        let dir = root().join("models").join(model);
        let onnx = dir.join(format!("{model}-int8.onnx"));
        let bundle = fleet.pack_model(version, &keys, &onnx, &dir.join("manifest-int8.toml"));
        let o = fleet.install(&bundle);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        assert_eq!(fleet.active_version(), version);
        let o = aisle()
            .args(["run", "--log-format", "json", "--config"])
            .arg(fleet.config())
            .output()
            .unwrap();
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        let started = stderr(&o)
            .lines()
            .find(|l| l.contains("agent started"))
            .map(str::to_string)
            .unwrap_or_default();
        let name = format!("\"model\":\"{model}-int8\"");
        assert!(started.contains(&name), "{model}: {started}");
    }
}

#[test]
fn keygen_never_overwrites_a_key() {
    let fleet = Fleet::new();
    let o = aisle()
        .args(["model", "keygen", "--out"])
        .arg(fleet.path("keys"))
        .output()
        .unwrap();
    assert_clean_failure(&o, &["aisle-model.pub exists: refusing to overwrite a key"]);
}

#[test]
fn a_gateway_requiring_two_signers_refuses_one_and_takes_two() {
    let fleet = Fleet::new();
    let second = Fleet::new();
    let config = fleet.config_trusting(&[&fleet.key_line, &second.key_line], 2);
    let v2 = fleet.pack(2, &fleet.path("keys"));
    assert_clean_failure(
        &fleet.install_with(&v2, &config),
        &["refused (signatures)", "1 of the 2"],
    );
    let o = aisle()
        .args(["model", "cosign"])
        .arg(&v2)
        .arg("--key")
        .arg(second.path("keys/aisle-model.key"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("co-signed by key "),
        "{}",
        stdout(&o)
    );
    // The co-signature is a standard minisign file beside the first.
    let cosigs = std::fs::read_dir(&v2)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("update.toml.")
                && name.ends_with(".minisig")
                && name != "update.toml.minisig"
        })
        .count();
    assert_eq!(cosigs, 1);
    let o = fleet.install_with(&v2, &config);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fleet.active_version(), 2);
}
