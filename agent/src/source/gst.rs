//! The GStreamer frame source: one pipeline per camera ending in an appsink that hands out
//! packed BGR. Rate limiting and colour conversion run inside GStreamer, before the appsink.

use std::sync::OnceLock;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSink;
use gstreamer_video::VideoInfo;

use super::frame::{Frame, FrameData};
use super::spec::SourceSpec;
use super::{Pulled, SourceError};

/// Per-camera pipeline options.
#[derive(Debug, Clone, Default)]
pub struct GstOptions {
    /// Drop frames inside GStreamer down to this rate (live sources only); `None` keeps all.
    pub max_fps: Option<f64>,
}

pub struct GstSource {
    name: String,
    pipeline: gst::Pipeline,
    sink: AppSink,
    index: u64,
    first_pts: Option<gst::ClockTime>,
}

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

fn init() -> Result<(), SourceError> {
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(SourceError::Init)
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
    format!(
        "{}{rate} ! videoconvert ! video/x-raw,format=BGR ! appsink name=sink sync=false emit-signals=false {sink}",
        spec.head()
    )
}

impl GstSource {
    pub fn open(name: &str, spec: &SourceSpec, opts: &GstOptions) -> Result<Self, SourceError> {
        init()?;
        let desc = describe(spec, opts);
        let open_err = |message: String| SourceError::Open {
            camera: name.to_string(),
            message,
        };
        let element =
            gst::parse::launch(&desc).map_err(|e| open_err(format!("{e} (pipeline: {desc})")))?;
        let pipeline = element
            .downcast::<gst::Pipeline>()
            .map_err(|_| open_err("not a pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<AppSink>().ok())
            .ok_or_else(|| open_err("pipeline has no appsink named sink".into()))?;
        let src = Self {
            name: name.to_string(),
            pipeline,
            sink,
            index: 0,
            first_pts: None,
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
            width: info.width(),
            height: info.height(),
            stride: info.stride()[0] as usize,
            data: FrameData::Gst(mapped),
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
