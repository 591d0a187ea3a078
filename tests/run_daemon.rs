//! `aisle run` and `aisle check-config` as installers use them: the real binary, a real config.

mod common;

use common::*;

#[test]
fn the_demo_config_is_valid() {
    let o = aisle()
        .args(["check-config", "firmware-config/demo.toml"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ok"));
}

#[test]
fn check_config_reports_every_problem_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "bad.toml",
        r#"
[agent]
device_id = "gw/1"
site = "s"
[runtime]
threads = 1000
[[cameras]]
id = "a"
uri = "gopher://x"
[[cameras]]
id = "a"
uri = "missing.avi"
every = 0
"#,
    );
    let o = aisle()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    for f in [
        "agent.device_id",
        "runtime.threads",
        "cameras[0].uri",
        "cameras[1].id",
        "cameras[1].uri",
        "cameras[1].every",
        "6 problem",
    ] {
        assert!(err.contains(f), "{f} missing from {err}");
    }
}

#[test]
fn check_config_names_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "c.toml",
        "[agent]\ndevice_id = \"a\"\nsite = \"b\"\nzone = 1\n",
    );
    let o = aisle()
        .args(["check-config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("c.toml") && stderr(&o).contains("zone"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn environment_overrides_reach_the_daemon() {
    let o = aisle()
        .args(["check-config", "firmware-config/demo.toml"])
        .env("AISLE_CAMERAS__0__EVERY", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cameras[0].every"), "{}", stderr(&o));
}

#[test]
fn daemon_replays_a_recording_to_the_end_and_exits_cleanly() {
    let o = aisle()
        .args([
            "run",
            "--config",
            "firmware-config/demo.toml",
            "--log-format",
            "json",
        ])
        .env("AISLE_CAMERAS__0__EVERY", "40")
        .env("AISLE_RUNTIME__THREADS", "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let events: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started = events
        .iter()
        .find(|e| e["message"] == "agent started")
        .expect("started line");
    assert_eq!(started["device"], "demo-gw-01");
    let stopped = events
        .iter()
        .find(|e| e["message"] == "agent stopped")
        .expect("stopped line");
    assert_eq!(stopped["frames"], 20, "795 frames, every 40th");
}

#[test]
fn daemon_stops_on_sigterm_while_a_live_camera_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "live.toml",
        format!(
            "[agent]\ndevice_id = \"t\"\nsite = \"s\"\n[detector]\nmodel = \"{}\"\n[runtime]\nthreads = 1\n[[cameras]]\nid = \"pattern\"\nuri = \"test://ball?width=160&height=120&fps=5\"\n",
            default_manifest().display()
        ),
    );
    let mut child = aisle()
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--log-format",
            "json",
        ])
        .env("AISLE_LOG", "aisle=debug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut lines = std::io::BufRead::lines(err);
    let frame_seen = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("\"message\":\"frame\""));
    assert!(frame_seen, "no frame processed");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    assert!(rest.iter().any(|l| l.contains("agent stopped")), "{rest:?}");
}
