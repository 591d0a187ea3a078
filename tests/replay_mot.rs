//! `aisle replay` on MOT-format input: ground-truth tracks straight into the zones, the same boxes
//! as detections through the tracker, and the confirmed tracks written back out in MOT format.
//! The scene is made here, so every count is known: three people cross a counting line, two
//! walking down the image (in) and one up (out).

mod common;

use std::path::Path;

use common::*;

const FPS: u32 = 10;
const FRAMES: u64 = 60;

/// (x centre, first foot y, last foot y) of each person; boxes are 40x100 pixels.
const WALKERS: [(f32, f32, f32); 3] = [
    (100.0, 100.0, 400.0),
    (400.0, 420.0, 80.0),
    (550.0, 60.0, 460.0),
];

fn truth_box(person: usize, frame: u64) -> (f32, f32, f32, f32) {
    let (cx, from, to) = WALKERS[person];
    let foot = from + (to - from) * (frame - 1) as f32 / (FRAMES - 1) as f32;
    (cx - 20.0, foot - 100.0, 40.0, 100.0)
}

fn truth_file(dir: &Path, with_ids: bool) -> std::path::PathBuf {
    let mut text = String::new();
    for frame in 1..=FRAMES {
        for person in 0..WALKERS.len() {
            let (x, y, w, h) = truth_box(person, frame);
            let id = if with_ids { person as i64 + 1 } else { -1 };
            text.push_str(&format!("{frame},{id},{x},{y},{w},{h},0.9,-1,-1,-1\n"));
        }
    }
    write(dir, if with_ids { "gt.txt" } else { "det.txt" }, text)
}

fn config(dir: &Path) -> std::path::PathBuf {
    write(
        dir,
        "mot.toml",
        "[agent]\ndevice_id = \"eval\"\nsite = \"lab\"\n\
         [analytics]\nsummary_interval_s = 60.0\n\
         [[cameras]]\nid = \"lab\"\nuri = \"test://\"\n\
         [[cameras.zones]]\nname = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]\n\
         [[cameras.zones]]\nname = \"left\"\nkind = \"area\"\n\
         polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\n",
    )
}

fn replay(dir: &Path, flag: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    let fps = FPS.to_string();
    aisle()
        .args(["replay", "--config"])
        .arg(config(dir))
        .arg(flag)
        .arg(file)
        .args(["--fps", &fps, "--size", "640x480"])
        .args(extra)
        .output()
        .expect("run aisle replay")
}

/// (in, out) of the `door` line summed over every summary.
fn door_counts(o: &std::process::Output) -> (u64, u64) {
    assert!(o.status.success(), "{}", stderr(o));
    let mut counts = (0, 0);
    for line in stdout(o).lines() {
        let e: serde_json::Value = serde_json::from_str(line).expect("event JSON");
        if e["payload"]["type"] != "summary" {
            continue;
        }
        for z in e["payload"]["zones"].as_array().expect("zones") {
            if z["zone"] == "door" {
                counts.0 += z["in"].as_u64().expect("in");
                counts.1 += z["out"].as_u64().expect("out");
            }
        }
    }
    counts
}

#[test]
fn ground_truth_tracks_count_every_crossing() {
    let dir = tempfile::tempdir().unwrap();
    let gt = truth_file(dir.path(), true);
    assert_eq!(
        door_counts(&replay(dir.path(), "--tracks", &gt, &[])),
        (2, 1)
    );
}

#[test]
fn detections_go_through_the_tracker_and_tracks_come_back_out() {
    let dir = tempfile::tempdir().unwrap();
    let det = truth_file(dir.path(), false);
    let out = dir.path().join("tracks.txt");
    let o = replay(
        dir.path(),
        "--detections",
        &det,
        &["--emit-tracks", out.to_str().unwrap()],
    );
    assert_eq!(door_counts(&o), (2, 1));
    let text = std::fs::read_to_string(&out).expect("tracks file");
    let mut ids = std::collections::BTreeMap::new();
    for line in text.lines() {
        let f: Vec<f32> = line
            .split(',')
            .map(|v| v.parse().expect("number"))
            .collect();
        assert_eq!(f.len(), 10, "{line}");
        let (frame, id) = (f[0] as u64, f[1] as i64);
        // Each output box lies on one walker's true box in that frame.
        let person = (0..WALKERS.len())
            .find(|&p| {
                let (x, y, _, _) = truth_box(p, frame);
                (f[2] - x).abs() < 4.0 && (f[3] - y).abs() < 4.0
            })
            .unwrap_or_else(|| panic!("no walker under {line}"));
        assert!(
            (f[4] - 40.0).abs() < 2.0 && (f[5] - 100.0).abs() < 2.0,
            "{line}"
        );
        assert_eq!(
            *ids.entry(id).or_insert(person),
            person,
            "id {id} changed person"
        );
    }
    assert_eq!(ids.len(), WALKERS.len(), "one track per person: {ids:?}");
    // Confirmed from the second frame on (min_hits = 2), then in every frame.
    assert_eq!(
        text.lines().count() as u64,
        (FRAMES - 1) * WALKERS.len() as u64
    );
}

#[test]
fn bad_mot_input_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.txt",
        "1,1,0,0,10,10,1\n2,1,0,zero,10,10,1\n",
    );
    let o = replay(dir.path(), "--tracks", &bad, &[]);
    assert_clean_failure(&o, &["bad.txt", "line 2", "top \"zero\""]);

    let det = truth_file(dir.path(), false);
    let o = replay(dir.path(), "--tracks", &det, &[]);
    assert_clean_failure(&o, &["frame 1", "id -1", "--detections"]);

    let gt = truth_file(dir.path(), true);
    let o = replay(
        dir.path(),
        "--tracks",
        &gt,
        &["--emit-tracks", "unused.txt"],
    );
    assert!(
        !o.status.success() && stderr(&o).contains("cannot be used with"),
        "{}",
        stderr(&o)
    );

    let o = aisle()
        .args(["replay", "--config"])
        .arg(config(dir.path()))
        .arg("--detections")
        .arg(&det)
        .output()
        .expect("run aisle replay");
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("--fps") && err.contains("--size"),
        "{err}"
    );
}
