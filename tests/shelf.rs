//! Empty-shelf detection end to end: the committed classifier on the held-out synthetic split,
//! and the real binary on a rendered shelf video (GStreamer decoding it, the person detector
//! finding a real pedestrian in front of the shelf, the shelf classifier, the alert engine).
//! The cells and the video are made by `models/shelf/` with the pinned Python of setup.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{aisle, assert_clean_failure, root, stderr, stdout, write};
use serde_json::Value;

fn python() -> PathBuf {
    let p = root().join(".deps/shelf-venv/bin/python");
    assert!(
        p.is_file(),
        "{} is missing: run scripts/setup.sh",
        p.display()
    );
    p
}

fn generate(script: &str, args: &[&str]) {
    let o = Command::new(python())
        .arg(root().join("models/shelf").join(script))
        .args(args)
        .output()
        .expect("run the shelf generator");
    assert!(o.status.success(), "{script}: {}", stderr(&o));
}

/// The rendered shelf video and its truth, made once per test run.
fn video() -> &'static (tempfile::TempDir, Value) {
    static VIDEO: OnceLock<(tempfile::TempDir, Value)> = OnceLock::new();
    VIDEO.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let vtest = common::vtest();
        generate(
            "render_video.py",
            &[
                "--vtest",
                vtest.to_str().unwrap(),
                "--out",
                dir.path().to_str().unwrap(),
            ],
        );
        let truth = std::fs::read_to_string(dir.path().join("truth.json")).expect("truth.json");
        (dir, serde_json::from_str(&truth).expect("truth is JSON"))
    })
}

fn shelf_video() -> PathBuf {
    video().0.path().join("shelf.avi")
}

fn truth() -> &'static Value {
    &video().1
}

/// A config watching the rendered shelf (its face, 3 levels of 4 bays) every 5 s, alerting when
/// the fill stays under 0.6 for 30 s.
fn shelf_config(dir: &Path, uri: &Path, polygon: &str, units: &str) -> PathBuf {
    write(
        dir,
        "shelf.toml",
        format!(
            r#"
[agent]
device_id = "shelf-test"
site = "lab"

[runtime]
threads = 2

[analytics]
summary_interval_s = 30

[shelf]
interval_s = 5
calibration_dir = "calibration"

[[cameras]]
id = "aisle-4"
uri = "{}"

[[cameras.zones]]
name = "bay-2"
kind = "shelf"
units = "{units}"
polygon = {polygon}
rows = 3
bays = 4

[[rules]]
name = "shelf-empty"
zone = "bay-2"
when = "shelf.fill < 0.6 for 30s"
clear = "shelf.fill >= 0.8"
"#,
            uri.display()
        ),
    )
}

/// The shelf face of render_video.py, in pixels.
fn face() -> String {
    serde_json::to_string(&truth()["face"]).unwrap()
}

fn calibrate(cfg: &Path) -> Value {
    let o = aisle()
        .args(["shelf", "calibrate", "-c"])
        .arg(cfg)
        .output()
        .expect("run aisle shelf calibrate");
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("calibration report")
}

fn replay(cfg: &Path, env: &[(&str, &str)]) -> Vec<Value> {
    let o = aisle()
        .args(["replay", "-c"])
        .arg(cfg)
        .arg("--input")
        .arg(shelf_video())
        .envs(env.iter().copied())
        .output()
        .expect("run aisle replay");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line"))
        .collect()
}

fn shelf_summaries(events: &[Value]) -> Vec<(u64, Value)> {
    events
        .iter()
        .filter(|e| e["payload"]["type"] == "summary")
        .map(|e| {
            (
                e["payload"]["window_end_ms"].as_u64().unwrap(),
                e["payload"]["zones"][0].clone(),
            )
        })
        .collect()
}

fn alerts(events: &[Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|e| e["payload"]["type"] == "alert")
        .map(|e| {
            (
                e["payload"]["state"].as_str().unwrap().to_string(),
                e["ts_ms"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn cells(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|v| (v - want).abs() < 1e-9)
}

/// `aisle shelf eval ARGS`'s report, and the figures recorded in models/shelf/metrics.json.
fn shelf_eval(args: &[&str]) -> (Value, Value) {
    let o = aisle()
        .args(["shelf", "eval"])
        .args(args)
        .output()
        .expect("run aisle shelf eval");
    assert!(o.status.success(), "{}", stderr(&o));
    let report = serde_json::from_str(&stdout(&o)).unwrap();
    let recorded = serde_json::from_str(
        &std::fs::read_to_string(root().join("models/shelf/metrics.json")).unwrap(),
    )
    .unwrap();
    (report, recorded)
}

#[test]
fn held_out_accuracy_reproduces_the_training_figure() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        "synth.py",
        &[
            "--split",
            "test",
            "--n",
            "3000",
            "--out",
            dir.path().to_str().unwrap(),
        ],
    );
    let (report, recorded) = shelf_eval(&["--cells", dir.path().to_str().unwrap()]);
    let (got, want) = (
        report["accuracy"].as_f64().unwrap(),
        recorded["test_accuracy"].as_f64().unwrap(),
    );
    println!("held-out accuracy {got:.4} (recorded {want:.4}); {report}");
    assert_eq!(report["cells"], 3000);
    assert!(
        (got - want).abs() <= 0.01,
        "accuracy {got} against the recorded {want}"
    );
    assert!(got >= 0.95, "accuracy {got} below the 0.95 floor");
    assert!(report["empty_recall"].as_f64().unwrap() >= 0.95, "{report}");
    assert!(
        report["stocked_read_empty"].as_f64().unwrap() <= 0.02,
        "{report}"
    );
}

/// The real shelf photos with their gaps outlined (`../shared/data/empty-shelf`, beside the
/// checkout on every developer's machine and in CI; never packaged), or `AISLE_SHELF_PHOTOS`.
fn shelf_photos() -> Option<PathBuf> {
    std::env::var_os("AISLE_SHELF_PHOTOS")
        .map(PathBuf::from)
        .into_iter()
        .chain([root().join("../shared/data/empty-shelf")])
        .find(|d| d.join("images").is_dir())
}

#[test]
fn real_held_out_photos_score_as_recorded() {
    let Some(photos) = shelf_photos() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have ../shared/data/empty-shelf"
        );
        eprintln!("skipped: no shelf photos at ../shared/data/empty-shelf");
        return;
    };
    let (report, recorded) = shelf_eval(&[
        "--split",
        "held-out",
        "--grid",
        "4x4",
        "--photos",
        photos.to_str().unwrap(),
    ]);
    let want = &recorded["real_held_out"];
    println!("real held-out photos: {report}");
    assert_eq!(report["photos"], want["photos"], "the split moved");
    assert_eq!(report["cells"], want["cells"]);
    for key in [
        "accuracy",
        "empty_recall",
        "stocked_read_empty",
        "image_accuracy",
    ] {
        let (got, rec) = (report[key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!(
            (got - rec).abs() <= 0.01,
            "{key}: {got} against the recorded {rec}"
        );
    }
    // Floors: the synthetic-only model found 2 % of the real empty cells.
    assert!(report["empty_recall"].as_f64().unwrap() >= 0.8, "{report}");
    assert!(report["accuracy"].as_f64().unwrap() >= 0.75, "{report}");
}

/// A false "person" standing still on a real empty shelf: the agent's own watch, with the bundled
/// classifier, on a held-out real photo. The box hides the empty cell until `still_occluder_s`,
/// then the gap is read; a weak box never hides it.
#[test]
fn a_still_false_person_on_a_real_empty_shelf_stops_hiding_it() {
    use aisle::analytics::zones::{CellState, ZoneConfig};
    use aisle::detect::{BBox, Detection, FrameView};
    use aisle::shelf::photos;
    use aisle::shelf::{CameraShelves, ShelfModel, WatchSettings};

    let Some(dir) = shelf_photos() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the shelf photos"
        );
        eprintln!("skipped: no shelf photos");
        return;
    };
    let listed = photos::list(&dir).unwrap();
    let held: Vec<_> = listed
        .iter()
        .filter(|(image, _)| {
            let name = image.file_name().unwrap().to_str().unwrap();
            photos::held_out(photos::source_of(name))
        })
        .collect();
    let load = |i: usize| photos::load(&held[i].0, &held[i].1).unwrap();
    let (reference, shelf) = (load(0), load(3));
    let zone: ZoneConfig = toml::from_str(
        "name = \"face\"\nkind = \"shelf\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\nrows = 4\nbays = 4",
    )
    .unwrap();
    let calibration = tempfile::tempdir().unwrap();
    fn view(p: &photos::Photo) -> FrameView<'_> {
        FrameView::packed(p.width, p.height, &p.bgr)
    }
    aisle::shelf::watch::reference("cam", std::slice::from_ref(&zone), &view(&reference))
        .unwrap()
        .save(calibration.path())
        .unwrap();
    let settings = WatchSettings {
        interval_ms: 30_000,
        occlusion: 0.05,
        same_as_reference: 0.35,
        still_occluder_ms: 120_000,
        occluder_score: 0.5,
    };
    let mut model = ShelfModel::load(&root().join("models/shelf/manifest.toml"), 1, None).unwrap();
    let mut watch = CameraShelves::new("cam", &[zone], calibration.path(), settings)
        .unwrap()
        .unwrap();
    let mut sample = |t_ms: u64, people: &[Detection]| {
        let mut got = Vec::new();
        watch
            .on_frame(t_ms, &view(&shelf), people, &mut model, |_, r| {
                got = r.to_vec()
            })
            .unwrap();
        got
    };
    let clear = sample(0, &[]);
    let empty = clear
        .iter()
        .position(|c| *c == Some(CellState::Empty))
        .expect("the photo shows a gap the model reads");
    let (w, h) = (shelf.width as f32 / 4.0, shelf.height as f32 / 4.0);
    let (r, b) = ((empty / 4) as f32, (empty % 4) as f32);
    let person = |score: f32| Detection {
        class: 0,
        score,
        bbox: BBox::new(
            b * w + 5.0,
            r * h + 5.0,
            (b + 1.0) * w - 5.0,
            (r + 1.0) * h - 5.0,
        ),
    };
    for t in [30_000, 60_000, 90_000, 120_000] {
        assert_eq!(sample(t, &[person(0.9)])[empty], None, "hidden at {t} ms");
    }
    assert_eq!(
        sample(150_000, &[person(0.9)])[empty],
        Some(CellState::Empty),
        "still for 120 s: the gap is read"
    );
    assert_eq!(
        sample(180_000, &[person(0.4)])[empty],
        Some(CellState::Empty),
        "a weak box hides nothing"
    );
}

#[test]
fn an_emptied_shelf_alerts_after_the_debounce_not_for_a_shopper_and_clears_on_restock() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shelf_config(dir.path(), &shelf_video(), &face(), "pixels");
    let report = calibrate(&cfg);
    assert_eq!(report[0]["zones"][0]["stocked"], 12, "{report}");
    let events = replay(&cfg, &[]);
    let t = truth();
    let emptied_ms = (t["emptied_s"].as_f64().unwrap() * 1000.0) as u64;
    let restocked_ms = t["restocked_s"].as_u64().unwrap() * 1000;
    let got = alerts(&events);
    println!(
        "alerts {got:?}; last cell emptied at {emptied_ms} ms, restocked at {restocked_ms} ms"
    );
    assert_eq!(got.len(), 2, "one raise and one clear: {got:?}");
    let (raised, cleared) = (got[0].1, got[1].1);
    assert_eq!(
        (got[0].0.as_str(), got[1].0.as_str()),
        ("raised", "cleared")
    );
    // Under 0.6 from the first sample after the last cell emptied (5 s interval), then 30 s.
    assert!(
        raised >= emptied_ms + 30_000 && raised <= emptied_ms + 30_000 + 5_000,
        "raised at {raised} ms"
    );
    assert!(
        cleared >= restocked_ms && cleared <= restocked_ms + 5_000,
        "cleared at {cleared} ms"
    );
    let summaries = shelf_summaries(&events);
    // 0-30 s: the shopper stands in front from 10 s; the cells they hide are skipped.
    let (_, first) = &summaries[0];
    assert_eq!(first["fill_min"], 1.0, "{first}");
    assert!(first["occluded"].as_u64().unwrap() > 0, "{first}");
    // Emptied: exactly the emptied and lowered cells, a shopper walking past from 110 s.
    let emptied_fill = 1.0 - (6.0 + 0.5 * 2.0) / 12.0;
    for (end, z) in summaries
        .iter()
        .filter(|(end, _)| (90_000..=120_000).contains(end))
    {
        assert_eq!(
            cells(&z["empty_cells"]),
            cells(&t["empty_cells"]),
            "window to {end}: {z}"
        );
        assert_eq!(
            cells(&z["low_cells"]),
            cells(&t["low_cells"]),
            "window to {end}: {z}"
        );
        assert!(close(&z["fill_min"], emptied_fill), "window to {end}: {z}");
    }
    // Lights dimmed by a third from 130 s: no cell changes until the restock at 150 s (the
    // alert held until then, and no sample read more gaps).
    let (_, dimmed) = summaries.iter().find(|(end, _)| *end == 150_000).unwrap();
    assert!(close(&dimmed["fill_min"], emptied_fill), "{dimmed}");
    let (_, last) = summaries.last().unwrap();
    assert_eq!(last["fill"], 1.0, "restocked, under dimmed lights: {last}");

    // The counter-check: with no cell ever skipped, the shopper is read as gaps.
    let blind = replay(&cfg, &[("AISLE_SHELF__OCCLUSION", "1.0")]);
    let (_, first) = &shelf_summaries(&blind)[0];
    assert!(first["fill_min"].as_f64().unwrap() < 1.0, "{first}");
}

#[test]
fn a_missing_or_foreign_calibration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shelf_config(dir.path(), &shelf_video(), &face(), "pixels");
    let replay = || {
        aisle()
            .args(["replay", "-c"])
            .arg(&cfg)
            .arg("--input")
            .arg(shelf_video())
            .output()
            .unwrap()
    };
    assert_clean_failure(
        &replay(),
        &["\"aisle-4\"", "no calibration", "aisle shelf calibrate"],
    );
    calibrate(&cfg);
    let path = dir.path().join("calibration/aisle-4.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"width\": 768", "\"width\": 1280")).unwrap();
    assert_clean_failure(
        &replay(),
        &["taken at 1280x576", "sends 768x576", "calibrate"],
    );
    std::fs::write(&path, "{ not json").unwrap();
    assert_clean_failure(&replay(), &["aisle-4.json", "invalid"]);
}

#[test]
fn a_shelf_outside_the_frame_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let outside = "[[100.0, 50.0], [900.0, 50.0], [900.0, 400.0], [100.0, 400.0]]";
    let cfg = shelf_config(dir.path(), &common::vtest(), outside, "pixels");
    let o = aisle()
        .args(["shelf", "calibrate", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_clean_failure(&o, &["\"bay-2\"", "outside the 768x576 frame"]);
    // Normalised corners outside 0..1, three corners, and a debounce shorter than two samples
    // are refused before anything runs.
    let e = common::check_config_rejects(
        &std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(outside, "[[0.1, 0.1], [1.4, 0.1], [0.9, 0.9]]")
            .replace("units = \"pixels\"", "units = \"normalized\"")
            .replace("for 30s", "for 5s"),
    );
    assert!(
        e.contains("cameras[0].zones[0].polygon") && e.contains("exactly 4 corners"),
        "{e}"
    );
    assert!(e.contains("lies outside the frame"), "{e}");
    assert!(
        e.contains("rules[0].when") && e.contains("at least two samples"),
        "{e}"
    );
}

#[test]
fn a_shelf_model_with_other_labels_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("models/shelf");
    std::fs::copy(
        src.join("shelf-cell.onnx"),
        dir.path().join("shelf-cell.onnx"),
    )
    .unwrap();
    let manifest = std::fs::read_to_string(src.join("manifest.toml")).unwrap();
    let bad = write(
        dir.path(),
        "manifest.toml",
        manifest.replace(
            r#"labels = ["stocked", "low", "empty"]"#,
            r#"labels = ["product", "gap", "price-tag"]"#,
        ),
    );
    let cells = dir.path().join("cells");
    generate(
        "synth.py",
        &[
            "--split",
            "val",
            "--n",
            "3",
            "--out",
            cells.to_str().unwrap(),
        ],
    );
    let o = aisle()
        .args(["shelf", "eval", "--cells"])
        .arg(&cells)
        .arg("--model")
        .arg(&bad)
        .output()
        .unwrap();
    assert_clean_failure(
        &o,
        &["manifest.toml", "output.labels", "stocked", "low", "empty"],
    );
}

#[test]
fn the_daemon_watches_calibrated_shelves_and_runs_on_without_a_calibration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shelf_config(dir.path(), &shelf_video(), &face(), "pixels");
    let run = || {
        let o = aisle()
            .args(["run", "--log-format", "json", "--config"])
            .arg(&cfg)
            .env("AISLE_OUTBOX__PATH", dir.path().join("outbox"))
            // Recordings run as fast as they decode; sample every second of wall time.
            .env("AISLE_SHELF__INTERVAL_S", "1")
            .env("AISLE_CAMERAS__0__EVERY", "2")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    let log = run();
    assert!(
        log.contains("shelf watch off") && log.contains("aisle shelf calibrate"),
        "{log}"
    );
    assert!(
        log.contains("agent stopped"),
        "people analytics ran on: {log}"
    );
    calibrate(&cfg);
    let log = run();
    assert!(log.contains("shelf watch on"), "{log}");
    let o = aisle()
        .args(["outbox", "dump", "--config"])
        .arg(&cfg)
        .env("AISLE_OUTBOX__PATH", dir.path().join("outbox"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let shelf: Vec<Value> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|record| record["payload"]["payload"].clone())
        .filter(|e| e["type"] == "summary")
        .map(|e| e["zones"][0].clone())
        .filter(|z| z["samples"].as_u64().unwrap_or(0) > 0)
        .collect();
    assert!(
        !shelf.is_empty(),
        "no summary with shelf samples: {}",
        stdout(&o)
    );
    assert!(shelf.iter().all(|z| z["fill"].is_number()), "{shelf:?}");
}

#[test]
fn a_customers_gap_detector_reads_the_shelf_through_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shelf_config(dir.path(), &shelf_video(), &face(), "pixels");
    let gaps = root().join("tests/fixtures/gap-detector/manifest.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[shelf]\n",
        &format!("[shelf]\nmodel = \"{}\"\n", gaps.display()),
    );
    std::fs::write(&cfg, text).unwrap();
    // The stand-in always reports the middle bays as gaps; in the reference frame they are full.
    let report = calibrate(&cfg);
    assert_eq!(
        report[0]["zones"][0]["empty"].as_array().unwrap().len(),
        6,
        "{report}"
    );
    let events = replay(&cfg, &[]);
    let summaries = shelf_summaries(&events);
    // Full: the reference overrules the detector. Emptied: the detector's gaps are the cells.
    assert_eq!(summaries[0].1["fill_min"], 1.0, "{}", summaries[0].1);
    let (_, emptied) = summaries.iter().find(|(end, _)| *end == 90_000).unwrap();
    assert_eq!(
        cells(&emptied["empty_cells"]),
        cells(&truth()["empty_cells"]),
        "{emptied}"
    );
    let states: Vec<String> = alerts(&events).into_iter().map(|(s, _)| s).collect();
    assert_eq!(states, ["raised", "cleared"]);
}

/// `aisle snapshot` on the calibrated shelf: each of the 12 cells is drawn in the colour of its
/// reading (stocked, at the start of the video), and the zone says its fill.
#[test]
fn a_snapshot_colours_each_shelf_cell_by_its_reading() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shelf_config(dir.path(), &shelf_video(), &face(), "pixels");
    calibrate(&cfg);
    let png = dir.path().join("shelf.png");
    let o = aisle()
        .args(["snapshot", "--frames", "3", "-c"])
        .arg(&cfg)
        .arg("--out")
        .arg(&png)
        .output()
        .expect("run aisle snapshot");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("bay-2 (fill 100%)"), "{}", stdout(&o));
    let img = image::open(&png).expect("a PNG").to_rgb8();
    assert_stocked_outlines(&img);
    // `shelf calibrate` left the same picture of what it stored beside the reference.
    let stored = image::open(dir.path().join("calibration/aisle-4.png"))
        .expect("the calibration picture")
        .to_rgb8();
    assert_stocked_outlines(&stored);
}

/// Every cell of the rendered shelf face is outlined in the stocked colour.
fn assert_stocked_outlines(img: &image::RgbImage) {
    let corners: Vec<[f64; 2]> = serde_json::from_value(truth()["face"].clone()).unwrap();
    // Points on the face by bilinear interpolation (close enough to the homography for a
    // mildly tilted face), 3 levels of 4 bays.
    let at = |u: f64, v: f64| {
        let lerp =
            |a: [f64; 2], b: [f64; 2], t: f64| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
        let top = lerp(corners[0], corners[1], u);
        let bottom = lerp(corners[3], corners[2], u);
        let p = lerp(top, bottom, v);
        (p[0].round() as u32, p[1].round() as u32)
    };
    // Each cell is outlined in its reading's colour (stocked: green): look on the edges
    // between levels, a few pixels around where the face's interpolation puts them.
    const STOCKED: [u8; 3] = [40, 200, 80];
    let near = |(x, y): (u32, u32)| {
        (x - 3..=x + 3).any(|x| (y - 3..=y + 3).any(|y| img.get_pixel(x, y).0 == STOCKED))
    };
    for edge in [1.0 / 3.0, 2.0 / 3.0] {
        for bay in 0..4 {
            let p = at((bay as f64 + 0.5) / 4.0, edge);
            assert!(
                near(p),
                "no stocked outline near {p:?} (bay {bay}, edge {edge:.2})"
            );
        }
    }
}
