//! The GStreamer frame source: one pipeline per camera ending in an appsink that hands out
//! packed BGR. Rate limiting, scaling to the detector's input and colour conversion run inside
//! GStreamer, before the appsink, on the camera's streaming thread: scaling the decoder's YUV
//! and converting a 416×312 image costs less than converting the full frame, and the inference
//! thread only normalises.
//!
//! The scaled size depends on the camera's, which is known only once caps arrive, so a probe on
//! the scaler's sink pad computes the letterbox geometry and sets the capsfilter after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSink;
use gstreamer_video::VideoInfo;

use super::frame::{Frame, FrameData};
use super::spec::SourceSpec;
use super::{Pulled, SourceError};
use crate::detect::geometry::{Geometry, ResizeMode};

/// Per-camera pipeline options.
#[derive(Debug, Clone, Default)]
pub struct GstOptions {
    /// Drop frames inside GStreamer down to this rate (live sources only); `None` keeps all.
    pub max_fps: Option<f64>,
    /// Scale frames to what the detector's input holds; `None` delivers the camera's size.
    pub fit: Option<Fit>,
}

/// The model input a source scales its frames for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    pub width: u32,
    pub height: u32,
    pub resize: ResizeMode,
}

/// Camera size and scaled size packed in one word, so the streaming thread can publish both
/// at once: `camera_w | camera_h | scaled_w | scaled_h`, 16 bits each.
#[derive(Default)]
struct Sizes(AtomicU64);

impl Sizes {
    fn store(&self, camera: (u32, u32), scaled: (u32, u32)) {
        let word = [camera.0, camera.1, scaled.0, scaled.1]
            .iter()
            .fold(0u64, |acc, &v| (acc << 16) | u64::from(v.min(0xFFFF)));
        self.0.store(word, Ordering::Release);
    }

    fn load(&self) -> ((u32, u32), (u32, u32)) {
        let w = self.0.load(Ordering::Acquire);
        let part = |shift: u32| ((w >> shift) & 0xFFFF) as u32;
        ((part(48), part(32)), (part(16), part(0)))
    }
}

pub struct GstSource {
    name: String,
    pipeline: gst::Pipeline,
    sink: AppSink,
    index: u64,
    first_pts: Option<gst::ClockTime>,
    /// Set when frames are scaled upstream: the camera size they were scaled from.
    sizes: Option<Arc<Sizes>>,
}

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

fn init() -> Result<(), SourceError> {
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(SourceError::Init)
}

/// Whether a `pipeline:` source can ever run: its description parses and every element exists
/// and links to the conversion the agent appends. Checked without starting anything, so a
/// typo fails `check-config` and `run` at once instead of retrying for ever. Other sources
/// (files, cameras) can only be known by opening them.
pub fn check(spec: &SourceSpec) -> Result<(), String> {
    if !matches!(spec, SourceSpec::Pipeline(_)) {
        return Ok(());
    }
    init().map_err(|e| e.to_string())?;
    let pipeline = gst::parse::launch(&describe(spec, &GstOptions::default()))
        .map_err(|e| format!("the GStreamer pipeline cannot be built: {e}"))?;
    let _ = pipeline.set_state(gst::State::Null);
    Ok(())
}

/// The full pipeline description for a spec.
pub fn describe(spec: &SourceSpec, opts: &GstOptions) -> String {
    let live = spec.is_live();
    let rate = match opts.max_fps {
        Some(fps) if live && fps > 0.0 => {
            format!(" ! videorate drop-only=true max-rate={}", fps.ceil() as u32)
        }
        _ => String::new(),
    };
    // Live: keep only the newest frame. Replay: block the decoder instead of dropping.
    let sink = if live {
        "max-buffers=1 drop=true"
    } else {
        "max-buffers=4 drop=false"
    };
    // Without a fit the scaler keeps the camera's size; with one, `fit_caps` is set by the probe.
    // Scaling the decoder's YUV before converting touches 1.5 bytes a pixel instead of 3 and
    // converts a third of the pixels: 1.5 ms a 768x576 frame against 1.9 ms for conversion alone
    // and 2.7 ms for `videoconvertscale` (measured with gst-launch on the demo video).
    let convert = if opts.fit.is_some() {
        "videoscale name=fit add-borders=false ! capsfilter name=fit_caps ! videoconvert ! video/x-raw,format=BGR"
    } else {
        "videoconvert ! video/x-raw,format=BGR"
    };
    format!(
        "{}{rate} ! {convert} ! appsink name=sink sync=false emit-signals=false {sink}",
        spec.head()
    )
}

/// Watches the caps entering the scaler and points the capsfilter after it at the scaled size.
fn install_fit(pipeline: &gst::Pipeline, fit: Fit) -> Result<Arc<Sizes>, String> {
    let scaler = pipeline
        .by_name("fit")
        .ok_or("pipeline has no element named fit")?;
    let filter = pipeline
        .by_name("fit_caps")
        .ok_or("pipeline has no element named fit_caps")?;
    let pad = scaler.static_pad("sink").ok_or("scaler has no sink pad")?;
    let sizes = Arc::new(Sizes::default());
    let published = sizes.clone();
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
        if let Some(gst::PadProbeData::Event(event)) = &info.data
            && let gst::EventView::Caps(caps) = event.view()
            && let Ok(camera) = VideoInfo::from_caps(caps.caps())
        {
            let geo = Geometry::new(
                fit.resize,
                camera.width(),
                camera.height(),
                fit.width,
                fit.height,
            );
            let scaled = gst::Caps::builder("video/x-raw")
                .field("width", geo.inner_w as i32)
                .field("height", geo.inner_h as i32)
                .build();
            filter.set_property("caps", scaled);
            published.store(
                (camera.width(), camera.height()),
                (geo.inner_w, geo.inner_h),
            );
        }
        gst::PadProbeReturn::Ok
    });
    Ok(sizes)
}

/// Makes libav decoders write into their own frames and copy each into a pooled buffer.
///
/// With direct rendering, `avdec_*` behind `videoscale` allocates a fresh frame-sized buffer
/// for every frame (663 KB at 768x576: 798 `mmap` calls for the 795 frames of the demo video
/// with the agent's mmap threshold, see `heap`), which costs 0.36 ms a frame in page faults.
/// Without it those allocations are gone and decoding costs the same (1.45 against 1.45 ms a
/// frame over the demo video, decode+scale+convert with gst-launch).
fn decode_into_pool(element: &gst::Element) {
    let is_libav = element
        .factory()
        .is_some_and(|f| f.name().starts_with("avdec_"));
    if is_libav && element.find_property("direct-rendering").is_some() {
        element.set_property("direct-rendering", false);
    }
}

/// Largest picture accepted as a camera: 8K. Decoding is what costs: a 20000 × 20000 PNG is
/// 1.6 GB of pixels before anything could refuse it.
pub const MAX_STILL_PIXELS: u64 = 7680 * 4320;

/// A still picture given as a camera must be no larger than [`MAX_STILL_PIXELS`]; its header says
/// so without decoding it. Videos and files `image` does not know pass.
fn still_fits(path: &std::path::Path) -> Result<(), String> {
    let dims = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .ok()
        .filter(|r| r.format().is_some())
        .and_then(|r| r.into_dimensions().ok());
    match dims {
        Some((w, h)) if u64::from(w) * u64::from(h) > MAX_STILL_PIXELS => Err(format!(
            "{} is {w} x {h} pixels; at most {MAX_STILL_PIXELS} (8K) are read",
            path.display()
        )),
        _ => Ok(()),
    }
}

impl GstSource {
    pub fn open(name: &str, spec: &SourceSpec, opts: &GstOptions) -> Result<Self, SourceError> {
        init()?;
        let desc = describe(spec, opts);
        let open_err = |message: String| SourceError::Open {
            camera: name.to_string(),
            message,
        };
        let invalid = |message: String| SourceError::Invalid {
            camera: name.to_string(),
            message,
        };
        if let SourceSpec::File(path) = spec {
            still_fits(path).map_err(invalid)?;
        }
        let element = gst::parse::launch(&desc).map_err(|e| {
            invalid(format!(
                "the pipeline cannot be built: {e} (pipeline: {desc})"
            ))
        })?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| open_err("not a pipeline".into()))?;
        pipeline.connect_deep_element_added(|_, _, element| decode_into_pool(element));
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<AppSink>().ok())
            .ok_or_else(|| open_err("pipeline has no appsink named sink".into()))?;
        let sizes = opts
            .fit
            .map(|fit| install_fit(&pipeline, fit))
            .transpose()
            .map_err(open_err)?;
        let src = Self {
            name: name.to_string(),
            pipeline,
            sink,
            index: 0,
            first_pts: None,
            sizes,
        };
        if src.pipeline.set_state(gst::State::Playing).is_err() {
            let message = src
                .bus_error()
                .unwrap_or_else(|| "pipeline refused to start".into());
            return Err(open_err(message));
        }
        Ok(src)
    }

    /// The first error message waiting on the bus, if any.
    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(err) = msg.view() {
                let debug = err.debug().map(|d| d.to_string()).unwrap_or_default();
                let origin = msg
                    .src()
                    .map(|s| s.path_string().to_string())
                    .unwrap_or_default();
                let last_debug_line = debug.lines().last().unwrap_or("").trim().to_string();
                let detail = if last_debug_line.is_empty() {
                    String::new()
                } else {
                    format!(" ({last_debug_line})")
                };
                return Some(format!(
                    "{}: {}{detail}",
                    origin.rsplit('/').next().unwrap_or(""),
                    err.error()
                ));
            }
        }
        None
    }

    /// Waits up to `timeout` for the next frame.
    pub fn pull(&mut self, timeout: Duration) -> Result<Pulled, SourceError> {
        let Some(sample) = self
            .sink
            .try_pull_sample(gst::ClockTime::from_nseconds(timeout.as_nanos() as u64))
        else {
            if let Some(message) = self.bus_error() {
                return Err(SourceError::Stream {
                    camera: self.name.clone(),
                    message,
                });
            }
            return Ok(if self.sink.is_eos() {
                Pulled::Eos
            } else {
                Pulled::Timeout
            });
        };
        let stream_err = |message: String| SourceError::Stream {
            camera: self.name.clone(),
            message,
        };
        let caps = sample
            .caps()
            .ok_or_else(|| stream_err("sample without caps".into()))?;
        let info =
            VideoInfo::from_caps(caps).map_err(|e| stream_err(format!("unreadable caps: {e}")))?;
        let pixels = (info.width(), info.height());
        let camera = match &self.sizes {
            None => pixels,
            Some(sizes) => {
                let (camera, scaled) = sizes.load();
                if scaled != pixels {
                    // Scaled for a camera size that has since changed: its geometry is gone.
                    tracing::debug!(camera = self.name, ?pixels, ?scaled, "stale frame skipped");
                    return Ok(Pulled::Timeout);
                }
                camera
            }
        };
        let buffer = sample
            .buffer_owned()
            .ok_or_else(|| stream_err("sample without buffer".into()))?;
        let pts = buffer.pts();
        let mapped = buffer
            .into_mapped_buffer_readable()
            .map_err(|_| stream_err("cannot map buffer".into()))?;
        let pts_ms = match (
            pts,
            *self
                .first_pts
                .get_or_insert(pts.unwrap_or(gst::ClockTime::ZERO)),
        ) {
            (Some(p), first) => p.saturating_sub(first).mseconds(),
            (None, _) => 0,
        };
        let frame = Frame {
            index: self.index,
            pts_ms,
            width: camera.0,
            height: camera.1,
            pixels,
            stride: info.stride()[0] as usize,
            data: FrameData::Gst(mapped),
            pulled_at: Instant::now(),
        };
        self.index += 1;
        Ok(Pulled::Frame(frame))
    }
}

impl Drop for GstSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
