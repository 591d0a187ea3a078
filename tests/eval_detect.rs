//! `aisle eval detect` through the real binary: the metric on a hand-computed fixture, and the
//! real model on a folder of JPEG frames (made here from the demo video with GStreamer), so the
//! path that scores models on annotated footage runs on a machine without that footage.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

#[test]
fn mot_detections_are_scored_as_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    // Two frames, three people; ranked hits: 0.9 yes, 0.8 no, 0.7 yes, 0.6 yes, 0.5 no (a
    // second box on a matched person). AP50 = 1/3 + 1/3·3/4 + 1/3·3/4 = 5/6.
    let gt = write(
        dir.path(),
        "gt.txt",
        "1,1,0,0,10,10,-1\n1,2,100,0,10,10,-1\n2,3,0,0,10,10,-1\n",
    );
    let dets = write(
        dir.path(),
        "dets.txt",
        "1,-1,0,0,10,10,0.9\n1,-1,50,50,10,10,0.8\n1,-1,101,0,10,10,0.7\n\
         2,-1,0,1,10,10,0.6\n2,-1,0,0,10,10,0.5\n",
    );
    let plot = dir.path().join("pr.svg");
    let o = aisle()
        .args(["eval", "detect", "--detections"])
        .arg(&dets)
        .arg("--gt")
        .arg(&gt)
        .args(["--score", "0.65", "--plot"])
        .arg(&plot)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let s = &r["scores"];
    assert!(
        (s["ap50"].as_f64().unwrap() - 5.0 / 6.0).abs() < 1e-9,
        "{s}"
    );
    assert_eq!(s["truth"], 3);
    assert!((s["operating"]["count_mae"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert_eq!(s["best_f1"]["score"].as_f64().unwrap() as f32, 0.6);
    assert!(stderr(&o).contains("AP50 0.833"), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
}

/// The demo video's last `count` frames as JPEGs, after `filter` (one GStreamer element and its
/// properties, or nothing).
fn demo_frames(dir: &Path, filter: &[&str], count: usize) -> PathBuf {
    let frames = dir.join("img1");
    std::fs::create_dir(&frames).unwrap();
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", vtest().display()))
        .args(["!", "decodebin", "!", "videoconvert", "!"])
        .args(filter)
        .args(filter.first().map(|_| "!"))
        .args(["jpegenc", "!", "multifilesink"])
        .arg(format!("location={}/%06d.jpg", frames.display()))
        .arg("index=1")
        .arg(format!("max-files={count}"))
        .status()
        .expect("gst-launch-1.0 (scripts/setup.sh installs it)");
    assert!(status.success());
    frames
}

#[test]
fn the_model_runs_on_a_folder_of_frames_and_bad_truth_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let frames = demo_frames(dir.path(), &[], 4);
    // max-files keeps the last 4 frames of the video: the folder starts wherever they are.
    let count = std::fs::read_dir(&frames).unwrap().count();
    assert_eq!(count, 4);
    let gt = write(dir.path(), "gt.txt", "");
    let o = aisle()
        .args(["eval", "detect", "--images"])
        .arg(&frames)
        .arg("--gt")
        .arg(&gt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["model"], "nanodet-m-416-int8");
    assert_eq!(r["frames_timed"], 4);
    assert!(r["ms_per_frame_mean"].as_f64().unwrap() > 0.0);

    let bad = write(
        dir.path(),
        "bad.txt",
        "1,1,0,0,10,10,-1\n2,1,0,zero,10,10,-1\n",
    );
    let o = aisle()
        .args(["eval", "detect", "--images"])
        .arg(&frames)
        .arg("--gt")
        .arg(&bad)
        .output()
        .unwrap();
    assert_clean_failure(&o, &["bad.txt", "line 2"]);
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    iw * ih / (area(a) + area(b) - iw * ih)
}

#[test]
fn a_portrait_frame_detected_in_two_slices_keeps_everyone_the_whole_frame_finds() {
    let dir = tempfile::tempdir().unwrap();
    // The 768x576 demo frames padded to a 768x1376 portrait frame.
    let frames = demo_frames(dir.path(), &["videobox", "top=-400", "bottom=-400"], 3);
    let detect = |tiles: &str| {
        let o = aisle()
            .arg("detect")
            .arg(&frames)
            .args(["--threads", "2", "--score", "0.35", "--tiles", tiles])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let (whole, sliced) = (detect("1x1"), detect("1x2"));
    assert_eq!(whole.len(), 3);
    assert_eq!(sliced.len(), 3);
    let mut confident = 0;
    for (w, s) in whole.iter().zip(&sliced) {
        let found = boxes(s, 0.35);
        for b in boxes(w, 0.6) {
            confident += 1;
            assert!(
                found.iter().any(|f| iou(f, &b) >= 0.5),
                "{b:?} found whole but not in slices: {found:?}"
            );
        }
        for f in &found {
            assert!(
                f[1] >= 390.0 && f[3] <= 986.0,
                "a box in the padding: {f:?}"
            );
        }
    }
    assert!(confident >= 3, "too few people to compare: {confident}");
}
