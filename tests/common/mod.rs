//! Helpers shared by the integration tests: where the real binary, model and video are, and how
//! to run the binary and read what it says.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn aisle() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aisle"));
    c.env_remove("AISLE_LOG").current_dir(root());
    c
}

/// The demo video installed by scripts/setup.sh.
pub fn vtest() -> PathBuf {
    let p = root().join(".deps/data/vtest.avi");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

pub fn default_manifest() -> PathBuf {
    root().join("models/nanodet-m-416/manifest.toml")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a clean failure: non-zero exit, no panic, and an error line mentioning every `needle`.
pub fn assert_clean_failure(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "panicked: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("aisle: "))
        .unwrap_or_else(|| panic!("no `aisle:` error line in {err}"));
    for n in needles {
        assert!(
            line.contains(n),
            "error line {line:?} does not mention {n:?}"
        );
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A copy of the default model in `dir` with its manifest text transformed by `edit`.
pub fn model_variant(
    dir: &Path,
    onnx_bytes: Option<&[u8]>,
    edit: impl Fn(String) -> String,
) -> PathBuf {
    let src = default_manifest();
    let onnx = match onnx_bytes {
        Some(b) => b.to_vec(),
        None => std::fs::read(src.with_file_name("nanodet-m-416.onnx")).expect("default model"),
    };
    std::fs::write(dir.join("nanodet-m-416.onnx"), onnx).expect("write model");
    let text = std::fs::read_to_string(&src).expect("default manifest");
    write(dir, "manifest.toml", edit(text))
}

/// The persons in one `aisle detect` JSON line with at least `min_score`.
pub fn people(line: &serde_json::Value, min_score: f64) -> usize {
    line["detections"]
        .as_array()
        .expect("detections array")
        .iter()
        .filter(|d| d["label"] == "person" && d["score"].as_f64().unwrap_or(0.0) >= min_score)
        .count()
}
