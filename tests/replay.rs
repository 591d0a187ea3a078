//! `aisle replay` end to end on the demo video: real decoding, the real model, the whole analytics
//! chain, events as JSON lines.

mod common;

use common::*;

fn replay(env: &[(&str, &str)]) -> std::process::Output {
    let video = vtest();
    aisle()
        .args([
            "replay",
            "--config",
            "firmware-config/vtest-store.toml",
            "--input",
            video.to_str().unwrap(),
        ])
        .envs(env.iter().copied())
        .output()
        .expect("run aisle replay")
}

fn events(o: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event JSON"))
        .collect()
}

#[test]
fn full_frame_occupancy_stays_plausible_every_second() {
    let o = replay(&[
        ("AISLE_ANALYTICS__SUMMARY_INTERVAL_S", "1"),
        ("AISLE_RUNTIME__THREADS", "2"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let summaries: Vec<serde_json::Value> = events(&o)
        .into_iter()
        .filter(|e| e["payload"]["type"] == "summary")
        .collect();
    assert!(
        (79..=81).contains(&summaries.len()),
        "{} one-second summaries for 80 s of video",
        summaries.len()
    );
    for s in &summaries {
        let plaza = s["payload"]["zones"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zone"] == "plaza")
            .unwrap();
        let (mean, max) = (
            plaza["occupancy_mean"].as_f64().unwrap(),
            plaza["occupancy_max"].as_u64().unwrap(),
        );
        // The video shows 0 to about 10 people at a time.
        assert!((0.0..=12.0).contains(&mean) && max <= 14, "{s}");
        assert_eq!(s["device_id"], "demo-gw-01");
        assert_eq!(s["schema_version"], aisle::events::SCHEMA_VERSION);
    }
    let busy = summaries
        .iter()
        .filter(|s| s["payload"]["zones"][0]["occupancy_max"].as_u64().unwrap() >= 3)
        .count();
    assert!(
        busy >= 60,
        "people are on screen most of the video; {busy} of {} seconds",
        summaries.len()
    );
}

#[test]
fn replay_is_deterministic_and_publishes_no_track_data() {
    let env = [
        ("AISLE_CAMERAS__0__EVERY", "3"),
        ("AISLE_RUNTIME__THREADS", "2"),
    ];
    let (a, b) = (replay(&env), replay(&env));
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(!a.stdout.is_empty());
    assert_eq!(
        a.stdout, b.stdout,
        "same input, same config: byte-identical events"
    );
    for e in events(&a) {
        let text = e.to_string();
        for forbidden in ["\"id\"", "track", "box", "bbox"] {
            assert!(!text.contains(forbidden), "{forbidden} in {text}");
        }
        assert!(text.len() < 4096, "event of {} bytes", text.len());
    }
}

#[test]
fn the_committed_event_schema_matches_the_types() {
    let o = aisle().arg("events-schema").output().unwrap();
    assert!(o.status.success());
    let committed = std::fs::read_to_string(root().join("docs/events.schema.json")).unwrap();
    assert_eq!(
        stdout(&o),
        committed,
        "regenerate with: aisle events-schema > docs/events.schema.json"
    );
}

#[test]
fn a_reader_that_stops_early_is_not_a_failure() {
    // `aisle … | grep -q` under `set -o pipefail`: the reader closes the pipe and the command
    // must still exit 0, without a panic on stderr.
    let mut child = aisle()
        .arg("events-schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
}

#[test]
fn bad_zones_and_rules_are_each_named_by_check_config() {
    let err = check_config_rejects(
        r#"
[agent]
device_id = "gw"
site = "s"
[[cameras]]
id = "cam"
uri = "test://"
[[cameras.zones]]
name = "bowtie"
kind = "area"
polygon = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
[[cameras.zones]]
name = "offscreen"
kind = "area"
polygon = [[0.5, 0.5], [1.5, 0.5], [1.0, 1.0]]
[[cameras.zones]]
name = "till"
kind = "queue"
polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]
service_line = [[0.5, 0.0], [0.5, 0.5]]
[[rules]]
name = "typo"
zone = "till"
when = "queue.lenght >= 4 for 60s"
[[rules]]
name = "backwards"
zone = "till"
when = "queue.length >= 4"
clear = "queue.length <= 6"
[[rules]]
name = "nowhere"
zone = "missing"
when = "area.occupancy > 3"
"#,
    );
    for needle in [
        "cameras[0].zones[0].polygon: is self-intersecting",
        "cameras[0].zones[1].polygon: lies outside the frame",
        "rules[0].when: unknown metric \"lenght\"",
        "rules[1].clear: clear threshold 6 is on the wrong side",
        "rules[2].zone: no zone \"missing\"",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from {err}");
    }
}

#[test]
fn a_wrong_config_path_fails_at_once_and_names_its_cause_once() {
    let zero = aisle()
        .args(["check-config", "/dev/zero"])
        .output()
        .unwrap();
    assert_eq!(zero.status.code(), Some(1));
    assert!(
        stderr(&zero).contains("/dev/zero is not a regular file"),
        "{}",
        stderr(&zero)
    );
    let missing = aisle()
        .args(["check-config", "/nonexistent/aisle.toml"])
        .output()
        .unwrap();
    let err = stderr(&missing);
    assert_eq!(missing.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
}

/// `--annotate`: the recording with the agent's overlays, frame for frame, and the events are
/// the same bytes as without it.
#[test]
fn an_annotated_replay_writes_every_frame_and_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.avi");
    let made = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(format!("uridecodebin uri=file://{} ! videoconvert ! identity eos-after=40 ! jpegenc ! avimux ! filesink location={}", vtest().display(), clip.display()).split_whitespace())
        .status()
        .expect("gst-launch-1.0");
    assert!(made.success());
    let cfg = root().join("firmware-config/vtest-store.toml");
    let run = |extra: &[&std::ffi::OsStr]| {
        let o = aisle()
            .args(["replay", "-c"])
            .arg(&cfg)
            .arg("--input")
            .arg(&clip)
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            !stderr(&o).contains("replay: frame"),
            "no progress off a terminal"
        );
        o.stdout
    };
    let plain = run(&[]);
    // On a terminal a progress line is drawn; off one (here) stderr stays as scripts expect.
    let tty = std::process::Command::new("script")
        .args(["-qec"])
        .arg(format!(
            "{} replay -c {} --input {} > /dev/null",
            env!("CARGO_BIN_EXE_aisle"),
            cfg.display(),
            clip.display()
        ))
        .arg("/dev/null")
        .output()
        .expect("script (util-linux) runs a command on a terminal");
    assert!(tty.status.success(), "{}", stderr(&tty));
    assert!(
        String::from_utf8_lossy(&tty.stdout).contains("replay: frame "),
        "progress on a terminal"
    );
    let video = dir.path().join("annotated.webm");
    let annotated = run(&["--annotate".as_ref(), video.as_os_str()]);
    assert_eq!(plain, annotated, "the events do not change");
    assert!(!plain.is_empty());
    let frames = dir.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let decoded = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(format!("filesrc location={} ! matroskademux ! vp8dec ! videoconvert ! pngenc ! multifilesink location={}/%03d.png", video.display(), frames.display()).split_whitespace())
        .status()
        .unwrap();
    assert!(decoded.success());
    assert_eq!(
        std::fs::read_dir(&frames).unwrap().count(),
        40,
        "one video frame per frame"
    );
    let last = image::open(frames.join("039.png")).unwrap().to_rgb8();
    assert_eq!(last.dimensions(), (768, 576));
    // The counting line at x = 0.5, near its bottom end (VP8 is lossy: close to its yellow).
    let p = last.get_pixel(384, 470);
    assert!(p[0] > 200 && p[1] > 170 && p[2] < 90, "line colour {p:?}");

    let o = aisle()
        .args(["replay", "-c"])
        .arg(&cfg)
        .arg("--input")
        .arg(&clip)
        .args(["--annotate", "out.gif"])
        .output()
        .unwrap();
    assert_clean_failure(&o, &["out.gif", ".webm"]);
}
