//! `aisle replay`: the full pipeline — detector, tracker, zones, rules, summaries — on a recorded
//! video, printing every event as one JSON line. Time is the video's own timestamps, so the same
//! input and config give byte-identical output; this is where zones and rules are tuned before
//! they go to a store.
//!
//! The same analytics also run on MOT-format detections (no detector) or tracks (no tracker
//! either), and can write the confirmed tracks out in MOT format: that is how each stage after
//! the detector is scored against ground truth (docs/evaluation.md).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::analytics::mot::{self, MotRow};
use crate::analytics::zones::ZoneConfig;
use crate::clock::{Clock, StreamClock};
use crate::config::Config;
use crate::detect::preprocess::FrameView;
use crate::detect::{Detection, Detector};
use crate::events::{AlertState, CameraHealth, Payload, Sequencer};
use crate::pipeline::{self, CameraInput, PipelineError};
use crate::shelf::{ShelfError, Shelves};
use crate::snapshot::draw::Banner;
use crate::snapshot::video::{VideoError, VideoWriter};
use crate::snapshot::{self as overlay};
use crate::source::{SourceSpec, SpecError};
use crate::store_analytics::{Seen, StageError, StoreAnalytics};

#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(transparent)]
    Camera(#[from] crate::config::CameraChoiceError),
    #[error(transparent)]
    Input(#[from] SpecError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Analytics(#[from] StageError),
    #[error("cannot write events")]
    Write(#[source] std::io::Error),
    #[error("frame rate {0} must be above 0 (--fps)")]
    Fps(f64),
    #[error("tracks need ids: frame {0} has a box with id -1 (detections go in --detections)")]
    TrackId(u64),
    #[error(transparent)]
    Shelf(#[from] ShelfError),
    #[error(transparent)]
    Video(#[from] VideoError),
}

pub struct ReplayReport {
    pub frames: u64,
    pub events: u64,
}

/// What a replay reads instead of the camera.
pub enum ReplayInput<'a> {
    /// A recording, through the detector.
    Video {
        path: &'a Path,
        detector: &'a mut Detector,
        /// Pace frames to their timestamps instead of running as fast as possible.
        realtime: bool,
        /// Also write the recording with what the agent sees drawn on it (`aisle snapshot`'s
        /// overlays, plus alert banners) to this video file.
        annotate: Option<&'a Path>,
        /// Told each frame done and its time in the recording, for a progress line.
        progress: Option<&'a mut dyn FnMut(u64, u64)>,
    },
    /// MOT-format detections: the tracker, zones and rules, no detector.
    Detections(MotFrames),
    /// MOT-format tracks (ground truth): zones and rules on them, no detector, no tracker.
    Tracks(MotFrames),
}

/// MOT rows with the timing and frame size a text file does not carry.
pub struct MotFrames {
    pub rows: Vec<MotRow>,
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// One camera's analytics fed frame by frame, writing events (and optionally the confirmed
/// tracks) as they come.
struct Session<'w> {
    store: StoreAnalytics,
    /// The replayed camera's index among the enabled cameras.
    camera_index: usize,
    sequencer: Sequencer,
    camera: String,
    out: &'w mut dyn Write,
    tracks_out: Option<&'w mut dyn Write>,
    payloads: Vec<Payload>,
    last_ms: u64,
    frames_in: u64,
    frames_out: u64,
    events: u64,
    /// Alerts raised and not cleared, and cleared ones with when, for annotated video.
    banners: Vec<(String, Banner, Option<u64>)>,
}

/// How long a cleared alert's banner stays on an annotated video.
const CLEARED_BANNER_MS: u64 = 3_000;

impl Session<'_> {
    /// Frame `number` (1-based) at `t_ms`.
    fn frame(&mut self, number: u64, t_ms: u64, seen: Seen<'_>) -> Result<(), ReplayError> {
        self.last_ms = t_ms;
        self.frames_in = number;
        self.frames_out += 1;
        self.store
            .on_frame(self.camera_index, t_ms, seen, &mut self.payloads)?;
        if let Some(tracks_out) = self.tracks_out.as_deref_mut() {
            let tracks = self.store.camera(self.camera_index).tracks();
            for t in tracks.iter().filter(|t| t.visible()) {
                let row = MotRow {
                    frame: number,
                    id: t.id as i64,
                    bbox: t.bbox(),
                    conf: t.score,
                };
                mot::write_row(tracks_out, &row).map_err(ReplayError::Write)?;
            }
        }
        let health = self.health();
        self.store
            .on_tick(self.camera_index, t_ms, true, &health, &mut self.payloads);
        self.emit()
    }

    fn health(&self) -> CameraHealth {
        let secs = (self.last_ms as f64 / 1000.0).max(1e-3);
        CameraHealth {
            connected: true,
            fps_in: self.frames_in as f64 / secs,
            fps_out: self.frames_out as f64 / secs,
            dropped: 0,
            reconnects: 0,
        }
    }

    /// The alert banners to draw on the frame at `last_ms`.
    fn banners(&mut self) -> Vec<Banner> {
        let now = self.last_ms;
        self.banners
            .retain(|(_, _, cleared)| cleared.is_none_or(|t| now < t + CLEARED_BANNER_MS));
        self.banners.iter().map(|(_, b, _)| b.clone()).collect()
    }

    fn note_alert(&mut self, a: &crate::events::Alert) {
        let what = match (&a.zone, a.value) {
            (Some(zone), Some(v)) => format!("{} on {zone} ({v:.2})", a.rule),
            (Some(zone), None) => format!("{} on {zone}", a.rule),
            (None, _) => a.rule.clone(),
        };
        match a.state {
            AlertState::Raised => self.banners.push((
                a.alert_id.clone(),
                Banner {
                    text: format!("ALERT {what}"),
                    raised: true,
                },
                None,
            )),
            AlertState::Cleared => {
                for (id, b, cleared) in &mut self.banners {
                    if *id == a.alert_id {
                        *b = Banner {
                            text: format!("cleared {what}"),
                            raised: false,
                        };
                        *cleared = Some(self.last_ms);
                    }
                }
            }
        }
    }

    fn emit(&mut self) -> Result<(), ReplayError> {
        let alerts: Vec<crate::events::Alert> = self
            .payloads
            .iter()
            .filter_map(|p| match p {
                Payload::Alert(a) => Some(a.clone()),
                _ => None,
            })
            .collect();
        for a in &alerts {
            self.note_alert(a);
        }
        for p in self.payloads.drain(..) {
            let event = self.sequencer.stamp(Some(&self.camera), self.last_ms, p);
            let line = serde_json::to_string(&event).map_err(|e| ReplayError::Write(e.into()))?;
            writeln!(self.out, "{line}").map_err(ReplayError::Write)?;
            self.events += 1;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<ReplayReport, ReplayError> {
        let health = self.health();
        self.store
            .finish(self.camera_index, self.last_ms, &health, &mut self.payloads);
        self.emit()?;
        self.out.flush().map_err(ReplayError::Write)?;
        if let Some(tracks_out) = self.tracks_out.as_deref_mut() {
            tracks_out.flush().map_err(ReplayError::Write)?;
        }
        Ok(ReplayReport {
            frames: self.frames_out,
            events: self.events,
        })
    }
}

/// Replays `input` through the analytics of `camera` (default: the first enabled camera),
/// writing events to `out` and, when given, the confirmed tracks to `tracks_out` in MOT format.
pub fn replay<'w>(
    cfg: &Config,
    camera: Option<&str>,
    input: ReplayInput<'_>,
    stop: &Arc<AtomicBool>,
    out: &'w mut dyn Write,
    tracks_out: Option<&'w mut dyn Write>,
) -> Result<ReplayReport, ReplayError> {
    let inputs = cfg.camera_inputs()?;
    let (index, zones) = cfg.enabled_camera(camera)?;
    // Shelves are read off pictures: only a video has them.
    let shelves = match input {
        ReplayInput::Video { .. } => cfg.shelves()?,
        _ => Shelves::none(),
    };
    let mut session = Session {
        store: StoreAnalytics::new(cfg.camera_analytics(), shelves),
        camera_index: index,
        sequencer: Sequencer::new(&cfg.agent.device_id, &cfg.agent.site, "replay", 1),
        camera: inputs[index].settings.id.clone(),
        out,
        tracks_out,
        payloads: Vec::new(),
        last_ms: 0,
        frames_in: 0,
        frames_out: 0,
        events: 0,
        banners: Vec::new(),
    };
    match input {
        ReplayInput::Video {
            path,
            detector,
            realtime,
            annotate,
            progress,
        } => {
            if let Some(path) = annotate {
                crate::snapshot::video::check(path)?;
            }
            let mut input_cam = inputs[index].clone();
            input_cam.spec = SourceSpec::parse(&path.display().to_string())?;
            input_cam.settings.live = false;
            let video = VideoReplay {
                input: &input_cam,
                realtime,
                annotate: annotate.map(|path| (path, zones.to_vec())),
            };
            replay_video(&video, detector, stop, &mut session, progress)?;
        }
        ReplayInput::Detections(mot) => replay_mot(&mot, false, stop, &mut session)?,
        ReplayInput::Tracks(mot) => replay_mot(&mot, true, stop, &mut session)?,
    }
    session.finish()
}

/// The camera a recording stands in for.
struct VideoReplay<'a> {
    input: &'a CameraInput,
    /// Pace frames to their timestamps.
    realtime: bool,
    /// Where to write the annotated video, and the camera's zones to draw on it.
    annotate: Option<(&'a Path, Vec<ZoneConfig>)>,
}

fn replay_video(
    video: &VideoReplay<'_>,
    detector: &mut Detector,
    stop: &Arc<AtomicBool>,
    session: &mut Session<'_>,
    mut progress: Option<&mut dyn FnMut(u64, u64)>,
) -> Result<(), ReplayError> {
    let started = Instant::now();
    let clock = StreamClock::default();
    let mut failure: Option<ReplayError> = None;
    let mut writer: Option<VideoWriter> = None;
    pipeline::run_frames(video.input, detector, 4, stop, |p| {
        if video.realtime {
            let due = Duration::from_millis(p.frame.pts_ms);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        clock.advance_to(p.frame.pts_ms);
        let size = (p.frame.width, p.frame.height);
        let view = p.frame.view();
        let step = session
            .frame(
                p.frame.index + 1,
                clock.now_ms(),
                Seen::Frame(&view, p.detections),
            )
            .and_then(|()| match &video.annotate {
                Some((path, zones)) => annotate(
                    &mut writer,
                    (path, zones),
                    session,
                    &view,
                    p.detections,
                    size,
                    clock.now_ms(),
                ),
                None => Ok(()),
            });
        if let Some(tick) = progress.as_deref_mut() {
            tick(p.frame.index + 1, p.frame.pts_ms);
        }
        match step {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(w) = writer {
        w.finish()?;
    }
    failure.map_or(Ok(()), Err)
}

/// Draws what the agent sees on this frame (as `aisle snapshot` does, with the alerts on screen)
/// and appends it to the annotated video, opened at the first frame.
fn annotate(
    writer: &mut Option<VideoWriter>,
    (path, zones): (&Path, &[ZoneConfig]),
    session: &mut Session<'_>,
    view: &FrameView<'_>,
    detections: &[Detection],
    size: (u32, u32),
    t_ms: u64,
) -> Result<(), ReplayError> {
    let mut image = overlay::to_image(view, size);
    let analytics = session.store.camera(session.camera_index);
    let mut scene = overlay::scene(zones, analytics, detections, size.0, size.1);
    scene.banners = session.banners();
    overlay::draw::draw(&mut image, &scene);
    let w = match writer {
        Some(w) => w,
        None => writer.insert(VideoWriter::create(path, size.0, size.1, 10)?),
    };
    w.push(&image, t_ms)?;
    Ok(())
}

/// Feeds MOT rows frame by frame, as detections for the tracker or, `tracked`, as tracks.
fn replay_mot(
    mot: &MotFrames,
    tracked: bool,
    stop: &Arc<AtomicBool>,
    session: &mut Session<'_>,
) -> Result<(), ReplayError> {
    if !(mot.fps.is_finite() && mot.fps > 0.0) {
        return Err(ReplayError::Fps(mot.fps));
    }
    if tracked && let Some(r) = mot.rows.iter().find(|r| r.id < 0) {
        return Err(ReplayError::TrackId(r.frame));
    }
    let (mut dets, mut tracks) = (Vec::new(), Vec::new());
    let size = (mot.width, mot.height);
    for (number, rows) in mot::frames(&mot.rows) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let t_ms = ((number - 1) as f64 * 1000.0 / mot.fps).round() as u64;
        let seen = if tracked {
            tracks.clear();
            tracks.extend(rows.iter().map(|r| (r.id as u64, r.bbox)));
            Seen::Tracks(size, &tracks)
        } else {
            dets.clear();
            dets.extend(rows.iter().map(MotRow::detection));
            Seen::Detections(size, &dets)
        };
        session.frame(number, t_ms, seen)?;
    }
    Ok(())
}
