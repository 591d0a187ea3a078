//! `aisle snapshot`: one camera's view as the agent sees it, as a PNG on the box — zones with
//! their live values, the way lines count, shelf cells by their reading, detections and track
//! ids — so an installer checks zones against the picture instead of against numbers. The
//! picture is written locally and never published.

pub mod draw;
pub mod video;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use image::{Rgba, RgbaImage};
use thiserror::Error;

use crate::analytics::camera::CameraAnalytics;
use crate::analytics::zones::{Zone, ZoneConfig, ZoneKind, ZoneMetrics};
use crate::config::Config;
use crate::detect::preprocess::FrameView;
use crate::detect::{Detection, Detector};
use crate::pipeline::{self, PipelineError};
use crate::shelf::Shelves;
use crate::shelf::warp::{self, Homography};
use crate::source::SourceSpec;
use crate::store_analytics::{Seen, StageError, StoreAnalytics};
use draw::{Scene, ZoneShape};

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Camera(#[from] crate::config::CameraChoiceError),
    #[error(transparent)]
    Source(#[from] crate::source::SpecError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("no frame came from {0}")]
    NoFrame(String),
    #[error(transparent)]
    Analytics(#[from] StageError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: image::ImageError,
    },
}

/// What to snapshot and how long to watch first.
pub struct Request<'a> {
    /// The camera's id (default: the first enabled one).
    pub camera: Option<&'a str>,
    /// A recording or image instead of the camera's own source.
    pub input: Option<&'a Path>,
    /// Frames to run before the picture is taken, so tracks confirm and zones count.
    pub frames: u64,
}

/// The picture and what it shows.
pub struct Snapshot {
    pub camera: String,
    /// The camera's picture as it came, for `aisle ui` to draw editable zones on.
    pub frame: RgbaImage,
    /// The picture with what the agent sees drawn on it.
    pub image: RgbaImage,
    pub frames: u64,
    pub scene: Scene,
    /// Why shelf cells are not coloured, when they are not (no reference, no model).
    pub shelves_off: Option<String>,
}

impl Snapshot {
    /// Encodes in memory and writes in one call, so a full disk (or `/dev/full`) is an error
    /// rather than a buffered write whose failure is dropped.
    pub fn save_png(&self, path: &Path) -> Result<(), SnapshotError> {
        let err = |source| SnapshotError::Write {
            path: path.into(),
            source,
        };
        let mut png = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgba8(self.image.clone())
            .into_rgb8()
            .write_to(&mut png, image::ImageFormat::Png)
            .map_err(err)?;
        std::fs::write(path, png.into_inner()).map_err(|e| err(image::ImageError::IoError(e)))
    }
}

/// Runs one camera through the detector, tracker, zones and shelves for `frames` frames, and
/// draws the last one.
pub fn take(
    cfg: &Config,
    request: &Request<'_>,
    detector: &mut Detector,
    stop: &Arc<AtomicBool>,
) -> Result<Snapshot, SnapshotError> {
    let inputs = cfg.camera_inputs()?;
    let (index, zones) = cfg.enabled_camera(request.camera)?;
    let mut input = inputs[index].clone();
    if let Some(path) = request.input {
        input.spec = SourceSpec::parse(&path.display().to_string())?;
        input.settings.live = false;
    }
    let id = input.settings.id.clone();
    let (shelves, shelves_off) = match cfg.shelves() {
        Ok(s) => (s, None),
        Err(e) => (Shelves::none(), Some(e.to_string())),
    };
    let mut store = StoreAnalytics::new(cfg.camera_analytics(), shelves);
    // The latest frame's pixels (copied into one reused buffer: the source may end before
    // `frames`, so any frame may be the one drawn), its detections and geometry.
    let mut pixels: Vec<u8> = Vec::new();
    let mut last: Option<(Vec<Detection>, FrameGeometry)> = None;
    let mut frames = 0u64;
    let mut failure = None;
    let mut payloads = Vec::new();
    pipeline::run_frames(&input, detector, 2, stop, |p| {
        frames += 1;
        let view = p.frame.view();
        let t_ms = p.frame.pts_ms;
        let size = (p.frame.width, p.frame.height);
        let analysed = store.on_frame(index, t_ms, Seen::Frame(&view, p.detections), &mut payloads);
        payloads.clear();
        if let Err(e) = analysed {
            failure = Some(SnapshotError::Analytics(e));
            return ControlFlow::Break(());
        }
        pixels.clear();
        pixels.extend_from_slice(view.bgr);
        let geometry = FrameGeometry {
            pixels: (view.width, view.height),
            stride: view.stride,
            source: view.source,
            size,
        };
        last = Some((p.detections.to_vec(), geometry));
        if frames >= request.frames {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let (detections, g) = last.ok_or_else(|| SnapshotError::NoFrame(format!("camera {id}")))?;
    let view = FrameView {
        width: g.pixels.0,
        height: g.pixels.1,
        stride: g.stride,
        bgr: &pixels,
        source: g.source,
    };
    let frame = to_image(&view, g.size);
    let mut image = frame.clone();
    let (w, h) = g.size;
    let scene = scene(zones, store.camera(index), &detections, w, h);
    draw::draw(&mut image, &scene);
    Ok(Snapshot {
        camera: id,
        frame,
        image,
        frames,
        scene,
        shelves_off,
    })
}

/// Where a copied frame's pixels sit and what size the camera sent.
struct FrameGeometry {
    pixels: (u32, u32),
    stride: usize,
    source: (u32, u32),
    size: (u32, u32),
}

/// The frame's pixels as an RGBA image at the camera's size (zones and boxes are in it).
pub fn to_image(view: &FrameView<'_>, size: (u32, u32)) -> RgbaImage {
    let mut img = RgbaImage::new(view.width, view.height);
    for (y, row) in view
        .bgr
        .chunks(view.stride)
        .take(view.height as usize)
        .enumerate()
    {
        for (x, px) in row.chunks_exact(3).take(view.width as usize).enumerate() {
            img.put_pixel(x as u32, y as u32, Rgba([px[2], px[1], px[0], 255]));
        }
    }
    if (view.width, view.height) == size {
        img
    } else {
        image::imageops::resize(&img, size.0, size.1, image::imageops::FilterType::Triangle)
    }
}

/// What is drawn: every zone with its live value, the detections and the visible tracks.
pub fn scene(
    zones: &[ZoneConfig],
    analytics: &CameraAnalytics,
    detections: &[Detection],
    w: u32,
    h: u32,
) -> Scene {
    let live = analytics.zones();
    let shapes = zones
        .iter()
        .map(|cfg| shape(cfg, live.iter().find(|z| z.name == cfg.name), w, h))
        .collect();
    Scene {
        zones: shapes,
        detections: detections.iter().map(|d| (d.bbox, d.score)).collect(),
        tracks: analytics
            .tracks()
            .iter()
            .filter(|t| t.visible())
            .map(|t| (t.id, t.bbox()))
            .collect(),
        banners: Vec::new(),
    }
}

fn shape(cfg: &ZoneConfig, live: Option<&Zone>, w: u32, h: u32) -> ZoneShape {
    let segment = |pts: &[[f32; 2]]| {
        let p = cfg.to_pixels(pts, w, h);
        (p.len() == 2).then(|| (p[0], p[1]))
    };
    let polygon = cfg.to_pixels(cfg.polygon(), w, h);
    let mut cells = Vec::new();
    if cfg.kind() == ZoneKind::Shelf
        && let Ok(corners) = <[(f32, f32); 4]>::try_from(polygon.as_slice())
        && let Some(face) = Homography::unit_square_to(&corners)
    {
        let read = live.and_then(Zone::shelf_cells).unwrap_or_default();
        let quads = warp::cells(&face, cfg.split().0, cfg.split().1);
        cells = quads
            .into_iter()
            .enumerate()
            .map(|(i, q)| (q, read.get(i).copied().flatten()))
            .collect();
    }
    ZoneShape {
        name: cfg.name.clone(),
        kind: cfg.kind(),
        polygon,
        line: segment(cfg.line()),
        service_line: segment(cfg.service_line()),
        value: live.map_or_else(|| "no frame yet".into(), |z| value(&z.metrics())),
        cells,
    }
}

/// A zone's live value, as store staff would say it.
fn value(m: &ZoneMetrics) -> String {
    let people = |n: u32| {
        if n == 1 {
            "1 person".into()
        } else {
            format!("{n} people")
        }
    };
    match m {
        ZoneMetrics::Area { occupancy_last, .. } => people(*occupancy_last),
        ZoneMetrics::Line { r#in, out } => format!("in {in} / out {out}", in = r#in),
        ZoneMetrics::Queue {
            length_last,
            estimated_wait_s,
            ..
        } => match estimated_wait_s {
            Some(s) => format!("{} waiting, ~{s:.0} s", length_last),
            None => format!("{length_last} waiting"),
        },
        ZoneMetrics::Shelf { fill: Some(f), .. } => format!("fill {:.0}%", f * 100.0),
        ZoneMetrics::Shelf { fill: None, .. } => "not read yet".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Level;

    #[test]
    fn values_read_as_staff_say_them() {
        let area = ZoneMetrics::Area {
            occupancy_mean: 0.5,
            occupancy_max: 2,
            occupancy_last: 1,
            congestion: Level::Low,
        };
        assert_eq!(value(&area), "1 person");
        assert_eq!(
            value(&ZoneMetrics::Line { r#in: 3, out: 1 }),
            "in 3 / out 1"
        );
        let shelf = ZoneMetrics::Shelf {
            fill: Some(0.25),
            fill_min: Some(0.25),
            empty_cells: vec!["r1b1".into()],
            low_cells: Vec::new(),
            samples: 1,
            occluded: 0,
        };
        assert_eq!(value(&shelf), "fill 25%");
    }

    #[test]
    fn a_bgr_frame_becomes_rgb_at_the_camera_size() {
        let bgr = [10u8, 20, 30, 40, 50, 60];
        let view = FrameView {
            width: 2,
            height: 1,
            stride: 6,
            bgr: &bgr,
            source: (4, 2),
        };
        let img = to_image(&view, (2, 1));
        assert_eq!(*img.get_pixel(0, 0), Rgba([30, 20, 10, 255]));
        assert_eq!(to_image(&view, (4, 2)).dimensions(), (4, 2));
    }
}
