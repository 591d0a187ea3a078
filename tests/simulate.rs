//! The simulation loop end to end with the real binary: `aisle simulate` writes a store day's
//! detections and truth, `aisle replay` runs the tracker, zones and rules on the detections, and
//! `aisle eval --check` holds the result to the marks store ops were promised: line counts within
//! 5 %, queue wait p90 within 15 %, occupancy MAE ≤ 0.5 person, every true alert raised within
//! 30 s and no false one. Each example scenario in firmware-config/scenarios/ is one case.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn scenario(name: &str) -> PathBuf {
    root().join(format!("firmware-config/scenarios/{name}.toml"))
}

fn run_simulate(scenario: &Path, out: &Path) -> std::process::Output {
    aisle()
        .args(["simulate", "--scenario"])
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run aisle simulate")
}

fn simulate(scenario: &Path, out: &Path) {
    let o = run_simulate(scenario, out);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Replays `file` (`--detections` or `--tracks`) and writes the events beside it.
fn replay(dir: &Path, flag: &str, file: &str) -> PathBuf {
    let o = aisle()
        .args(["replay", "--config"])
        .arg(root().join("firmware-config/sim-store.toml"))
        .arg(flag)
        .arg(dir.join(file))
        .args(["--fps", "5", "--size", "1280x720"])
        .output()
        .expect("run aisle replay");
    assert!(o.status.success(), "{}", stderr(&o));
    let events = dir.join(format!("events-{file}.jsonl"));
    std::fs::write(&events, &o.stdout).unwrap();
    events
}

fn eval(dir: &Path, events: &Path) -> serde_json::Value {
    let o = aisle()
        .args(["eval", "--json", "--check", "--truth"])
        .arg(dir.join("truth.json"))
        .arg("--events")
        .arg(events)
        .output()
        .expect("run aisle eval");
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report JSON");
    assert!(
        o.status.success(),
        "thresholds missed: {}\n{}",
        report["failures"],
        stderr(&o)
    );
    report
}

/// Simulates, replays the noisy detections and checks them against the truth; returns the
/// report for the case's own expectations.
fn scored(name: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    simulate(&scenario(name), dir.path());
    let report = eval(
        dir.path(),
        &replay(dir.path(), "--detections", "detections.txt"),
    );
    println!("{name}: {report}");
    report
}

fn true_alerts(report: &serde_json::Value) -> u64 {
    report["alerts"]["true_alerts"].as_u64().unwrap()
}

#[test]
fn quiet_weekday_scores_within_the_marks_and_raises_nothing() {
    let r = scored("quiet-weekday");
    assert_eq!(true_alerts(&r), 0);
    assert_eq!(r["alerts"]["raised"], 0);
}

#[test]
fn saturday_rush_raises_queue_and_crowding_alerts_on_time() {
    let r = scored("saturday-rush");
    assert!(true_alerts(&r) >= 2, "a rush must alert: {}", r["alerts"]);
    let matched = r["alerts"]["delays_s"].as_array().unwrap().len() as u64;
    assert_eq!(matched, true_alerts(&r));
    assert!(r["lines"][0]["true_in"].as_u64().unwrap() > 150);
}

#[test]
fn a_closed_lane_means_long_queues_and_abandonment() {
    let r = scored("lane-closed");
    assert!(true_alerts(&r) >= 1, "{}", r["alerts"]);
    let abandoned: u64 = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["true_abandoned"].as_u64().unwrap())
        .sum();
    assert!(abandoned > 0);
    let closed = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["zone"] == "lane-2")
        .unwrap();
    assert_eq!(closed["true_served"], 0);
}

/// The zones on perfect tracks must reproduce the truth exactly: whatever error the noisy cases
/// show comes from the detector noise and the tracker, not from the zone logic.
#[test]
fn true_tracks_reproduce_the_truth_exactly_and_files_are_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate(&scenario("lane-closed"), a.path());
    simulate(&scenario("lane-closed"), b.path());
    for file in ["detections.txt", "tracks.txt", "truth.json"] {
        let read = |d: &Path| std::fs::read(d.join(file)).unwrap();
        assert!(
            read(a.path()) == read(b.path()),
            "{file} differs between runs"
        );
    }
    let r = eval(a.path(), &replay(a.path(), "--tracks", "tracks.txt"));
    for l in r["lines"].as_array().unwrap() {
        assert_eq!(
            (l["in"].clone(), l["out"].clone()),
            (l["true_in"].clone(), l["true_out"].clone())
        );
    }
    for q in r["queues"].as_array().unwrap() {
        assert_eq!(q["served"], q["true_served"], "{q}");
        assert_eq!(q["abandoned"], q["true_abandoned"], "{q}");
        assert_eq!(q["wait_p90_s"], q["true_wait_p90_s"], "{q}");
    }
    assert!(
        r["occupancy"][0]["mae"].as_f64().unwrap() < 0.05,
        "{}",
        r["occupancy"]
    );
    assert_eq!(r["alerts"]["false_alerts"].as_array().unwrap().len(), 0);
}

#[test]
fn a_bad_scenario_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(scenario("quiet-weekday"))
        .unwrap()
        .replace(
            "config = \"../sim-store.toml\"",
            &format!(
                "config = {:?}",
                root().join("firmware-config/sim-store.toml")
            ),
        )
        .replace("fps = 5.0", "fps = -1.0")
        .replace("zone = \"lane-1\"", "zone = \"lane-9\"");
    let bad = write(dir.path(), "bad.toml", text);
    let o = run_simulate(&bad, &dir.path().join("out"));
    assert_clean_failure(
        &o,
        &[
            "fps: -1 must be within",
            "lanes[0].zone: no zone \"lane-9\"",
        ],
    );
    let unknown = write(dir.path(), "unknown.toml", "rush = true\n");
    let o = run_simulate(&unknown, &dir.path().join("out"));
    assert_clean_failure(&o, &["unknown.toml", "rush"]);
}
