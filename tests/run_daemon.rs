//! `aisle run` and `aisle check-config` as installers use them: the real binary, a real config.

mod common;

use std::path::Path;
use std::time::Duration;

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

/// Every shipped config passes `check-config`; the broker certificates they name live on the
/// gateway, so the demo's stand in for them here.
#[test]
fn every_shipped_config_is_valid() {
    let pki = root().join(".deps/demo/pki");
    let mut checked = 0;
    let mut dirs = vec![root().join("firmware-config")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // Simulation scenarios are not agent configs; tests/simulate.rs loads each one.
                if !path.ends_with("scenarios") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let mut cmd = aisle();
            cmd.arg("check-config").arg(&path);
            if std::fs::read_to_string(&path)
                .unwrap()
                .contains("\n[mqtt]\n")
            {
                cmd.env("AISLE_MQTT__CA_FILE", pki.join("ca.crt"))
                    .env("AISLE_MQTT__CLIENT_CERT", pki.join("client.crt"))
                    .env("AISLE_MQTT__CLIENT_KEY", pki.join("client.key"));
            }
            let o = cmd.output().unwrap();
            assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} configs");
}

#[test]
fn check_config_reports_every_problem_with_its_field() {
    let err = check_config_rejects(
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
    let err = check_config_rejects("[agent]\ndevice_id = \"a\"\nsite = \"b\"\nzone = 1\n");
    assert!(err.contains("bad.toml") && err.contains("zone"), "{err}");
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
    let outbox = tempfile::tempdir().unwrap();
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
        .env("AISLE_OUTBOX__PATH", outbox.path())
        .env("AISLE_METRICS__LISTEN", "127.0.0.1:0")
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
    let cfg = live_config(dir.path(), "test://ball?width=160&height=120&fps=5", "");
    let mut agent = Daemon::start(&cfg, &[("AISLE_LOG", "aisle=debug")]);
    let frame = std::iter::from_fn(|| agent.next_event()).find(|e| e["message"] == "frame");
    assert!(frame.is_some(), "no frame processed");
    let (status, rest) = agent.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        rest.iter().any(|e| e["message"] == "agent stopped"),
        "{rest:?}"
    );
}

#[test]
fn unreachable_camera_is_retried_with_growing_backoff_and_reported_until_stopped() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("rtsp://127.0.0.1:{port}/nothing");
    let cfg = live_config(
        dir.path(),
        &uri,
        "reconnect_min_s = 0.1\nreconnect_max_s = 0.8",
    );
    let mut agent = Daemon::start(&cfg, &[("AISLE_PIPELINE__HEALTH_INTERVAL_S", "0.5")]);
    let mut delays = Vec::new();
    let mut health = None;
    while delays.len() < 5 || health.is_none() {
        let event = agent
            .next_event()
            .expect("the agent exited on an unreachable camera");
        if event["message"] == "waiting before reconnect" {
            assert_eq!(event["camera"], "door");
            delays.push(event["delay_ms"].as_u64().unwrap());
        }
        if event["message"] == "camera health" {
            health = Some(event);
        }
    }
    assert!(agent.is_running());
    let health = health.unwrap();
    assert_eq!(
        (health["camera"].as_str(), health["connected"].as_bool()),
        (Some("door"), Some(false))
    );
    // Why it is down travels with the health report, so a camera that cannot come back by itself
    // (a wrong address, a missing device) is told apart from one that dropped for a moment.
    let why = health["error"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "no reason in {health}");
    // Doubling from 100 ms with jitter in [0.5, 1], capped at 800 ms.
    assert!(
        delays[0] <= 100 && delays[4] >= 400 && delays.iter().all(|&d| d <= 800),
        "{delays:?}"
    );
    let (status, _) = agent.terminate();
    assert!(status.success(), "{status:?}");
}

#[test]
fn check_config_names_the_field_of_a_type_error_and_env_strings_stay_strings() {
    let err = check_config_rejects(
        "[agent]\ndevice_id = \"a\"\nsite = \"b\"\n[[cameras]]\nid = \"door\"\nuri = \"test://\"\nevery = \"often\"\n",
    );
    assert!(err.contains("cameras[0].every: invalid type"), "{err}");
    let o = aisle()
        .args(["check-config", "firmware-config/demo.toml"])
        .env("AISLE_AGENT__SITE", "42")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The wall clock stepped an hour back while the agent runs (`faketime`, as NTP does to a
/// gateway that booted without a real-time clock; the monotonic clock is left alone, as the
/// kernel does): summaries keep coming once a window, stamped with the new wall time.
#[test]
fn a_wall_clock_stepped_back_an_hour_does_not_stop_the_summaries() {
    let lib = Path::new("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1");
    assert!(
        lib.is_file(),
        "{} is missing: scripts/setup.sh installs faketime",
        lib.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let offset = dir.path().join("offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let cfg = live_config(dir.path(), "test://ball?width=160&height=120&fps=5", "");
    let env = [
        ("LD_PRELOAD", lib.to_str().unwrap()),
        ("FAKETIME_TIMESTAMP_FILE", offset.to_str().unwrap()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ("FAKETIME_CACHE_DURATION", "1"),
        ("AISLE_ANALYTICS__SUMMARY_INTERVAL_S", "1"),
    ];
    let mut agent = Daemon::start(&cfg, &env);
    let summaries = |agent: &mut Daemon, n: usize| -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        while out.len() < n {
            let e = agent
                .wait_for("event stored", Duration::from_secs(20))
                .unwrap_or_else(|| panic!("summaries stopped after {}: {out:?}", out.len()));
            let event: serde_json::Value =
                serde_json::from_str(e["event"].as_str().unwrap()).unwrap();
            if event["payload"]["type"] == "summary" {
                out.push((
                    event["ts_ms"].as_i64().unwrap(),
                    event["payload"]["window_end_ms"].as_i64().unwrap(),
                ));
            }
        }
        out
    };
    let before = summaries(&mut agent, 3);
    std::fs::write(&offset, "-1h\n").unwrap();
    let after = summaries(&mut agent, 5);
    let (status, _) = agent.terminate();
    assert!(status.success());
    let hour = 3_600_000;
    let last_before = before.last().unwrap();
    let last_after = after.last().unwrap();
    // Five more one-second windows came, and the last of them is stamped an hour earlier than
    // the wall clock had it before the step (give or take the seconds that passed).
    let moved = last_before.0 - last_after.0;
    assert!(
        (hour - 30_000..hour).contains(&moved),
        "{before:?} then {after:?}"
    );
    for (ts, end) in before.iter().chain(&after) {
        assert!(
            (0..5_000).contains(&(ts - end)),
            "window end {end} beside stamp {ts}"
        );
    }
}
