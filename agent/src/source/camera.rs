//! The camera supervisor: keeps one source delivering into its queue. Live cameras that fail,
//! end or stall are reopened with backoff; recordings run once and report how they ended.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::queue::{FrameSender, Undelivered};
use super::{FrameSource, Pulled, SourceError};
use crate::backoff::Backoff;

/// How a camera is supervised.
#[derive(Debug, Clone)]
pub struct CameraSettings {
    pub id: String,
    pub live: bool,
    /// A source that delivers nothing for this long is restarted (live) or fails (replay).
    pub stall_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Forward every n-th frame (1 = all); the rest are released before any processing.
    pub every: u64,
}

impl CameraSettings {
    /// Settings for an ad-hoc source (CLI, benchmarks): 10 s stall timeout, backoff from 0.5 s
    /// to 5 s, every frame.
    pub fn ad_hoc(id: &str, live: bool) -> Self {
        Self {
            id: id.to_string(),
            live,
            stall_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(5),
            every: 1,
        }
    }
}

/// Counters the camera thread updates and anyone may read; all monotonic but `connected` and
/// `last_frame_ms`.
#[derive(Debug, Default)]
pub struct CameraHealth {
    connected: AtomicBool,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    /// Milliseconds since `epoch` at the last frame; 0 before the first.
    last_frame_ms: AtomicU64,
    epoch: std::sync::OnceLock<Instant>,
    /// Why the camera is not streaming, until a connection delivers a frame again.
    last_error: std::sync::Mutex<Option<String>>,
}

/// A point-in-time copy of a camera's health, as logged and (later) published.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HealthSnapshot {
    pub connected: bool,
    pub frames_in: u64,
    pub frames_out: u64,
    pub dropped: u64,
    pub reconnects: u64,
    /// Seconds since the last frame; `None` before the first.
    pub last_frame_age_s: Option<f64>,
    /// Why it is not streaming (`no such device`, `connection refused`), while it is not.
    pub last_error: Option<String>,
}

impl CameraHealth {
    fn epoch(&self) -> Instant {
        *self.epoch.get_or_init(Instant::now)
    }

    fn frame_arrived(&self) {
        let ms = self.epoch().elapsed().as_millis() as u64;
        self.last_frame_ms.store(ms.max(1), Ordering::Relaxed);
        self.frames_in.fetch_add(1, Ordering::Relaxed);
    }

    fn failed(&self, why: String) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(why);
        }
    }

    fn streaming(&self) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        let now = self.epoch().elapsed().as_millis() as u64;
        HealthSnapshot {
            connected: self.connected.load(Ordering::Relaxed),
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
            last_frame_age_s: (last > 0).then(|| now.saturating_sub(last) as f64 / 1000.0),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }
}

/// Turns successive health snapshots into rates for the periodic health report.
#[derive(Debug, Default)]
pub struct HealthRates {
    last: Option<(Instant, u64, u64)>,
}

impl HealthRates {
    /// Frames per second in and out since the previous call (0 on the first).
    pub fn update(&mut self, now: Instant, s: &HealthSnapshot) -> (f64, f64) {
        let rates = match self.last {
            Some((t, fin, fout)) => {
                let secs = now.duration_since(t).as_secs_f64().max(1e-9);
                (
                    (s.frames_in - fin) as f64 / secs,
                    (s.frames_out - fout) as f64 / secs,
                )
            }
            None => (0.0, 0.0),
        };
        self.last = Some((now, s.frames_in, s.frames_out));
        rates
    }
}

/// Sleeps `total` in short steps, returning early (true) when `stop` is set.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let deadline = Instant::now() + total;
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        std::thread::sleep((deadline - Instant::now()).min(Duration::from_millis(50)));
    }
    stop.load(Ordering::Relaxed)
}

/// How one connection ended.
enum Ended {
    /// Stop requested or the consumer went away.
    Stopped,
    Eos,
    Failed(SourceError),
}

/// Runs a camera until `stop`, the consumer leaving, or (replay only) the end of the recording.
///
/// `open` is called for every (re)connection. Replays return the error that ended them; live
/// cameras retry with backoff in between, and return an error only when retrying cannot help
/// ([`SourceError::Invalid`]).
pub fn run_camera(
    settings: &CameraSettings,
    mut open: impl FnMut() -> Result<Box<dyn FrameSource>, SourceError>,
    tx: &FrameSender,
    health: &CameraHealth,
    stop: &AtomicBool,
) -> Result<(), SourceError> {
    let mut backoff = Backoff::new(settings.backoff_base, settings.backoff_max);
    let mut rng = StdRng::from_os_rng();
    let id = settings.id.as_str();
    health.epoch();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let ended = match open() {
            Ok(mut source) => {
                tracing::info!(camera = id, "camera opened");
                let ended = deliver(settings, source.as_mut(), tx, health, stop, &mut backoff);
                health.connected.store(false, Ordering::Relaxed);
                ended
            }
            Err(e) => Ended::Failed(e),
        };
        match ended {
            Ended::Stopped => return Ok(()),
            Ended::Eos if !settings.live => return Ok(()),
            Ended::Failed(e) if !settings.live => return Err(e),
            Ended::Failed(e @ SourceError::Invalid { .. }) => {
                tracing::error!(camera = id, error = %e, "camera cannot work as configured");
                health.failed(e.to_string());
                return Err(e);
            }
            Ended::Eos => {
                tracing::warn!(camera = id, "stream ended, reconnecting");
                health.failed("the stream ended".into());
            }
            Ended::Failed(e) => {
                tracing::warn!(camera = id, error = %e, "camera failed, reconnecting");
                health.failed(e.to_string());
            }
        }
        let delay = backoff.next_delay(&mut rng);
        tracing::info!(
            camera = id,
            attempt = backoff.attempts(),
            delay_ms = delay.as_millis() as u64,
            "waiting before reconnect"
        );
        if sleep_unless_stopped(delay, stop) {
            return Ok(());
        }
        health.reconnects.fetch_add(1, Ordering::Relaxed);
    }
}

fn deliver(
    settings: &CameraSettings,
    source: &mut dyn FrameSource,
    tx: &FrameSender,
    health: &CameraHealth,
    stop: &AtomicBool,
    backoff: &mut Backoff,
) -> Ended {
    let poll = settings.stall_timeout.min(Duration::from_millis(200));
    let mut last_frame = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ended::Stopped;
        }
        match source.pull(poll) {
            Ok(Pulled::Frame(frame)) => {
                last_frame = Instant::now();
                if !health.connected.swap(true, Ordering::Relaxed) {
                    backoff.reset();
                    health.streaming();
                }
                health.frame_arrived();
                if frame.index % settings.every.max(1) != 0 {
                    continue;
                }
                match tx.send(frame, stop) {
                    Ok(dropped) => {
                        health.frames_out.fetch_add(1, Ordering::Relaxed);
                        health.dropped.fetch_add(dropped, Ordering::Relaxed);
                    }
                    Err(Undelivered::Closed | Undelivered::Stopping) => return Ended::Stopped,
                }
            }
            Ok(Pulled::Eos) => return Ended::Eos,
            Ok(Pulled::Timeout) => {
                let idle = last_frame.elapsed();
                if idle >= settings.stall_timeout {
                    return Ended::Failed(SourceError::Stalled {
                        camera: settings.id.clone(),
                        seconds: idle.as_secs_f64(),
                    });
                }
            }
            Err(e) => return Ended::Failed(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::super::frame::{Frame, FrameData};
    use super::super::queue::frame_queue;
    use super::*;

    /// A scripted source: each step is what one pull returns.
    enum Step {
        Frame,
        Eos,
        Fail,
        Silence,
    }

    struct Scripted {
        steps: VecDeque<Step>,
        index: u64,
    }

    impl FrameSource for Scripted {
        fn pull(&mut self, timeout: Duration) -> Result<Pulled, SourceError> {
            match self.steps.pop_front() {
                Some(Step::Frame) => {
                    self.index += 1;
                    let data = FrameData::Owned(vec![0; 3]);
                    Ok(Pulled::Frame(Frame {
                        index: self.index - 1,
                        pts_ms: 0,
                        width: 1,
                        height: 1,
                        pixels: (1, 1),
                        stride: 3,
                        data,
                        pulled_at: std::time::Instant::now(),
                    }))
                }
                Some(Step::Eos) => Ok(Pulled::Eos),
                Some(Step::Fail) => Err(SourceError::Stream {
                    camera: "t".into(),
                    message: "boom".into(),
                }),
                Some(Step::Silence) | None => {
                    std::thread::sleep(timeout);
                    Ok(Pulled::Timeout)
                }
            }
        }
    }

    fn settings(live: bool) -> CameraSettings {
        CameraSettings {
            id: "t".into(),
            live,
            stall_timeout: Duration::from_millis(60),
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(5),
            every: 1,
        }
    }

    fn opener(
        scripts: Vec<Vec<Step>>,
    ) -> impl FnMut() -> Result<Box<dyn FrameSource>, SourceError> {
        let scripts = Mutex::new(VecDeque::from(scripts));
        move || match scripts.lock().unwrap().pop_front() {
            Some(steps) => Ok(Box::new(Scripted {
                steps: steps.into(),
                index: 0,
            }) as Box<dyn FrameSource>),
            None => Err(SourceError::Open {
                camera: "t".into(),
                message: "gone".into(),
            }),
        }
    }

    #[test]
    fn replay_ends_at_eos_with_every_frame_delivered() {
        let (tx, rx) = frame_queue(8, false);
        let health = CameraHealth::default();
        let stop = AtomicBool::new(false);
        let open = opener(vec![vec![Step::Frame, Step::Frame, Step::Frame, Step::Eos]]);
        run_camera(&settings(false), open, &tx, &health, &stop).unwrap();
        assert_eq!(rx.receiver().try_iter().count(), 3);
        assert_eq!(health.snapshot().frames_out, 3);
    }

    #[test]
    fn replay_returns_the_error_that_ended_it() {
        let (tx, _rx) = frame_queue(8, false);
        let stop = AtomicBool::new(false);
        let open = opener(vec![vec![Step::Frame, Step::Fail]]);
        let e =
            run_camera(&settings(false), open, &tx, &CameraHealth::default(), &stop).unwrap_err();
        assert!(e.to_string().contains("boom"));
    }

    #[test]
    fn live_camera_survives_errors_eos_and_stalls_and_counts_reconnects() {
        let (tx, rx) = frame_queue(64, true);
        let health = CameraHealth::default();
        let stop = AtomicBool::new(false);
        let scripts = vec![
            vec![Step::Frame, Step::Fail],
            vec![Step::Frame, Step::Eos],
            vec![Step::Frame, Step::Silence, Step::Silence],
            vec![Step::Frame, Step::Frame],
        ];
        let mut open = opener(scripts);
        let mut opened = 0;
        let stop_ref = &stop;
        let result = run_camera(
            &settings(true),
            || {
                opened += 1;
                if opened > 5 {
                    stop_ref.store(true, Ordering::Relaxed);
                }
                open()
            },
            &tx,
            &health,
            &stop,
        );
        assert!(result.is_ok());
        assert_eq!(rx.receiver().try_iter().count(), 5);
        let h = health.snapshot();
        assert_eq!(h.frames_in, 5);
        assert!(h.reconnects >= 4, "{h:?}");
        assert!(!h.connected);
    }

    #[test]
    fn every_nth_frame_is_forwarded() {
        let (tx, rx) = frame_queue(8, false);
        let stop = AtomicBool::new(false);
        let open = opener(vec![
            (0..7).map(|_| Step::Frame).chain([Step::Eos]).collect(),
        ]);
        let s = CameraSettings {
            every: 3,
            ..settings(false)
        };
        run_camera(&s, open, &tx, &CameraHealth::default(), &stop).unwrap();
        let got: Vec<u64> = rx.receiver().try_iter().map(|f| f.index).collect();
        assert_eq!(got, vec![0, 3, 6]);
    }
}
