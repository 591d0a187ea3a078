//! `aisle replay`: the full pipeline — detector, tracker, zones, rules, summaries — on a recorded
//! video, printing every event as one JSON line. Time is the video's own timestamps, so the same
//! input and config give byte-identical output; this is where zones and rules are tuned before
//! they go to a store.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::clock::{Clock, StreamClock};
use crate::config::Config;
use crate::detect::Detector;
use crate::events::{CameraHealth, Payload, Sequencer};
use crate::pipeline::{self, Event as PipelineEvent, PipelineError};
use crate::source::{SourceSpec, SpecError};

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("no enabled camera {0:?} in the config")]
    NoCamera(String),
    #[error("the config has no enabled camera")]
    NoCameras,
    #[error(transparent)]
    Input(#[from] SpecError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("{0}")]
    Zones(String),
    #[error("cannot write events: {0}")]
    Write(std::io::Error),
}

pub struct ReplayReport {
    pub frames: u64,
    pub events: u64,
}

/// Replays `input` through the analytics of `camera` (default: the first enabled camera),
/// writing events to `out`. With `realtime`, frames are paced to their timestamps.
pub fn replay(
    cfg: &Config,
    camera: Option<&str>,
    input: &Path,
    realtime: bool,
    detector: &mut Detector,
    stop: &Arc<AtomicBool>,
    mut out: impl Write,
) -> Result<ReplayReport, ReplayError> {
    let inputs = cfg.camera_inputs()?;
    let index = match camera {
        Some(id) => inputs
            .iter()
            .position(|c| c.settings.id == id)
            .ok_or_else(|| ReplayError::NoCamera(id.to_string()))?,
        None if inputs.is_empty() => return Err(ReplayError::NoCameras),
        None => 0,
    };
    let mut input_cam = inputs[index].clone();
    input_cam.spec = SourceSpec::parse(&input.display().to_string())?;
    input_cam.settings.live = false;
    let mut analytics = cfg.camera_analytics().swap_remove(index);
    let camera_id = input_cam.settings.id.clone();
    let mut sequencer = Sequencer::new(&cfg.agent.device_id, &cfg.agent.site, "replay", 1);
    let started = Instant::now();
    let clock = StreamClock::default();
    let mut payloads = Vec::new();
    let (mut last_pts, mut frames_in, mut frames_out, mut events) = (0u64, 0u64, 0u64, 0u64);
    let mut failure: Option<ReplayError> = None;
    let health = [Arc::default()];
    let mut emit =
        |payloads: &mut Vec<Payload>, ts: u64, out: &mut dyn Write| -> Result<(), ReplayError> {
            for p in payloads.drain(..) {
                let line = serde_json::to_string(&sequencer.stamp(Some(&camera_id), ts, p))
                    .map_err(|e| ReplayError::Write(e.into()))?;
                writeln!(out, "{line}").map_err(ReplayError::Write)?;
                events += 1;
            }
            Ok(())
        };
    let stream_health = |frames_in: u64, frames_out: u64, pts: u64| {
        let secs = (pts as f64 / 1000.0).max(1e-3);
        CameraHealth {
            connected: true,
            fps_in: frames_in as f64 / secs,
            fps_out: frames_out as f64 / secs,
            dropped: 0,
            reconnects: 0,
        }
    };
    pipeline::run(
        std::slice::from_ref(&input_cam),
        detector,
        4,
        stop,
        &health,
        |event| {
            let PipelineEvent::Frame(p) = event else {
                return ControlFlow::Continue(());
            };
            if realtime {
                let due = Duration::from_millis(p.frame.pts_ms);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            clock.advance_to(p.frame.pts_ms);
            last_pts = clock.now_ms();
            frames_in = p.frame.index + 1;
            frames_out += 1;
            let step = analytics
                .on_frame(
                    last_pts,
                    p.frame.width,
                    p.frame.height,
                    p.detections,
                    &mut payloads,
                )
                .map_err(ReplayError::Zones);
            analytics.on_tick(
                last_pts,
                true,
                &stream_health(frames_in, frames_out, last_pts),
                &mut payloads,
            );
            match step.and_then(|()| emit(&mut payloads, last_pts, &mut out)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        },
    )?;
    if let Some(e) = failure {
        return Err(e);
    }
    analytics.finish(
        last_pts,
        &stream_health(frames_in, frames_out, last_pts),
        &mut payloads,
    );
    emit(&mut payloads, last_pts, &mut out)?;
    out.flush().map_err(ReplayError::Write)?;
    Ok(ReplayReport {
        frames: frames_out,
        events,
    })
}
