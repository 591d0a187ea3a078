//! Helpers shared by the integration tests: where the real binary, model and video are, and how
//! to run the binary and read what it says.
#![allow(dead_code)]

pub mod broker;
pub mod browser;
pub mod https;

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

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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

/// Runs `aisle check-config` on `text`, expects it to reject it, and returns what it said.
pub fn check_config_rejects(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write(dir.path(), "bad.toml", text);
    let o = aisle()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .expect("run aisle");
    assert!(!o.status.success(), "accepted: {text}");
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    stderr(&o)
}

/// `aisle model keygen --out DIR` (keys `DIR/aisle-model.{pub,key}`); returns the key line for
/// a gateway's `ota.trusted_keys`.
pub fn keygen(dir: &Path) -> String {
    let o = aisle()
        .args(["model", "keygen", "--out"])
        .arg(dir)
        .output()
        .expect("run aisle model keygen");
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o).trim().to_string();
    assert!(line.starts_with("RW"), "{line}");
    line
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

/// The boxes `[x0, y0, x1, y1]` of one `aisle detect` JSON line with at least `min_score`.
pub fn boxes(line: &serde_json::Value, min_score: f64) -> Vec<[f64; 4]> {
    line["detections"]
        .as_array()
        .expect("detections array")
        .iter()
        .filter(|d| d["score"].as_f64().unwrap_or(0.0) >= min_score)
        .map(|d| {
            let b: Vec<f64> = d["box"]
                .as_array()
                .expect("box array")
                .iter()
                .map(|v| v.as_f64().expect("box coordinate"))
                .collect();
            [b[0], b[1], b[2], b[3]]
        })
        .collect()
}

/// A config for one live camera at `uri`, using the default model and one ORT thread.
pub fn live_config(dir: &Path, uri: &str, extra_camera_keys: &str) -> PathBuf {
    let text = format!(
        "[agent]\ndevice_id = \"t\"\nsite = \"s\"\n[detector]\nmodel = \"{}\"\n[runtime]\nthreads = 1\n\
         [outbox]\npath = \"{}\"\n[[cameras]]\nid = \"door\"\nuri = \"{uri}\"\n{extra_camera_keys}\n",
        default_manifest().display(),
        dir.join("outbox").display()
    );
    write(dir, "live.toml", text)
}

/// `aisle run` as a child process with JSON logs, killed if the test ends early. Its stderr is
/// read on a thread of its own, so a test that looks away never stalls the agent on a full pipe.
pub struct Daemon {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl Daemon {
    pub fn start(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = aisle();
        cmd.args([
            "run",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
        ]);
        cmd.envs(env.iter().copied())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn aisle run");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next JSON log event, or `None` once the agent closed its stderr.
    pub fn next_event(&mut self) -> Option<serde_json::Value> {
        self.lines.recv().ok()
    }

    /// The next log event with this message, waiting at most `within`.
    pub fn wait_for(
        &mut self,
        message: &str,
        within: std::time::Duration,
    ) -> Option<serde_json::Value> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let e = self.lines.recv_timeout(left).ok()?;
            if e["message"] == message {
                return Some(e);
            }
        }
    }

    /// The next JSON log event if one comes before `deadline`.
    pub fn wait_for_any(&mut self, deadline: std::time::Instant) -> Option<serde_json::Value> {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.lines.recv_timeout(left).ok()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` and returns the exit status and every event logged after it.
    pub fn signal(mut self, signal: i32) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        let rest: Vec<serde_json::Value> = std::iter::from_fn(|| self.next_event()).collect();
        (self.child.wait().expect("wait"), rest)
    }

    /// Sends SIGTERM and returns the exit status and every event logged after it.
    pub fn terminate(self) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
        self.signal(libc::SIGTERM)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
