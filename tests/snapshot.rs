//! `aisle snapshot` through the real binary on the demo video with the default model: the PNG
//! shows the zones where the config puts them, which way the line counts `in`, and the live
//! values the agent would report.

mod common;

use common::*;

fn snapshot(args: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let o = aisle()
        .args(["snapshot", "-c"])
        .arg(root().join("firmware-config/vtest-store.toml"))
        .arg("--out")
        .arg(dir.path().join("plaza.png"))
        .args(args)
        .output()
        .expect("run aisle snapshot");
    (o, dir)
}

const LINE: [u8; 3] = [255, 220, 0];

#[test]
fn the_demo_camera_is_drawn_with_its_zones_values_and_tracks() {
    let (o, dir) = snapshot(&["--frames", "30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "camera plaza after 30 frame(s), 768x576",
        "plaza (",
        "people)",
        "midline (in ",
        "kiosk (",
    ] {
        assert!(out.contains(needle), "{needle:?} not in {out}");
    }
    let img = image::open(dir.path().join("plaza.png"))
        .expect("a PNG")
        .to_rgb8();
    assert_eq!(img.dimensions(), (768, 576));
    // The counting line, x = 0.5 of the width, near its bottom end where nobody walks.
    assert_eq!(img.get_pixel(384, 470).0, LINE);
    // Confirmed tracks are boxed in the track colour.
    let tracked = img.pixels().filter(|p| p.0 == [120, 255, 120]).count();
    assert!(tracked > 100, "{tracked} track-coloured pixels");
}

/// On a plain frame (no people, nothing drawn over the zones) the geometry can be checked
/// pixel by pixel.
#[test]
fn zones_are_where_the_config_puts_them_and_the_arrow_shows_the_way_in() {
    let dir = tempfile::tempdir().unwrap();
    let still = dir.path().join("still.png");
    image::RgbImage::from_pixel(768, 576, image::Rgb([90, 90, 90]))
        .save(&still)
        .unwrap();
    let (o, out) = snapshot(&["--input", still.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("after 1 frame(s)"), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 detection(s)"), "{}", stdout(&o));
    let img = image::open(out.path().join("plaza.png")).unwrap().to_rgb8();
    // The counting line, x = 0.5 of the width, from y = 0.85 up to 0.15 of the height.
    assert_eq!(img.get_pixel(384, 470).0, LINE);
    assert_eq!(img.get_pixel(384, 120).0, LINE);
    // Drawn bottom to top, so `in` (its right-hand side) is to the right: the arrow points there.
    let row = |xs: std::ops::Range<u32>| xs.filter(|&x| img.get_pixel(x, 288).0 == LINE).count();
    assert!(row(392..430) >= 38, "arrow to the right: {}", row(392..430));
    assert_eq!(row(330..380), 0, "nothing to the left");
    // The queue (x 0.62..0.97, y 0.2..0.75) is tinted pink over the plaza's blue; outside it
    // only the plaza (the whole frame) tints the grey, blue.
    let q = img.get_pixel(700, 400);
    assert!(q[0] as i32 > q[1] as i32 + 20, "kiosk tint {q:?}");
    let p = img.get_pixel(200, 500);
    assert!(p[2] as i32 > p[0] as i32 + 20, "plaza tint {p:?}");

    let (o, _) = snapshot(&["--camera", "nowhere"]);
    assert_clean_failure(&o, &["no enabled camera \"nowhere\""]);
}

/// A full disk is an error, not a silent success with no picture.
#[test]
fn a_snapshot_that_cannot_be_written_fails() {
    let dir = tempfile::tempdir().unwrap();
    let still = dir.path().join("still.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([90, 90, 90]))
        .save(&still)
        .unwrap();
    let o = aisle()
        .args(["snapshot", "-c"])
        .arg(root().join("firmware-config/vtest-store.toml"))
        .args(["--out", "/dev/full", "--input"])
        .arg(&still)
        .output()
        .expect("run aisle snapshot");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/dev/full"), "{}", stderr(&o));
}
