//! The vision pipeline: one supervised thread per camera feeding a bounded queue, and the
//! detector on the calling thread taking frames round-robin. Decoding of the next frame overlaps
//! inference of the current one; nothing but the frame queues sits between them.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender, TryRecvError};
use thiserror::Error;

use crate::detect::manifest::Manifest;
use crate::detect::tiling::Tiling;
use crate::detect::{Detection, Detector, DetectorError};
use crate::source::{
    self, CameraHealth, CameraSettings, Fit, Frame, GstOptions, SourceError, SourceSpec,
    frame_queue,
};

/// One camera as the pipeline runs it.
#[derive(Debug, Clone)]
pub struct CameraInput {
    pub spec: SourceSpec,
    pub settings: CameraSettings,
    pub gst: GstOptions,
    /// Slices each frame is detected in; the source scales frames so each slice fits the model.
    pub tiling: Tiling,
}

/// What the sink sees for each processed frame.
pub struct Processed<'a> {
    /// Index into the pipeline's camera list.
    pub camera: usize,
    pub frame: &'a Frame,
    pub detections: &'a [Detection],
    pub inference: Duration,
}

/// What the pipeline hands its sink: a processed frame, or a tick while no frame is ready, so
/// time-driven work (health, summaries) goes on while every camera is down.
pub enum Event<'a> {
    Frame(Processed<'a>),
    Idle,
    /// A model from the swap channel serves from the next frame on.
    Swapped {
        model: &'a Manifest,
        trial: bool,
    },
    /// The detector failed on a frame. The sink decides: `Break` ends the pipeline with the
    /// error, `Continue` skips the frame (a model on trial is being rolled back).
    DetectorFailed(&'a DetectorError),
}

impl<'a> Event<'a> {
    /// For sinks that only want frames: the frame, or else what the sink should return — a
    /// failed detector ends the run (as the pipeline's error), anything else goes on.
    pub fn into_frame(self) -> Result<Processed<'a>, ControlFlow<()>> {
        match self {
            Event::Frame(p) => Ok(p),
            Event::DetectorFailed(_) => Err(ControlFlow::Break(())),
            Event::Idle | Event::Swapped { .. } => Err(ControlFlow::Continue(())),
        }
    }
}

/// A model to run from the next frame on, loaded off the inference thread so the cameras never
/// wait for it. `trial`: the sink should watch it (a new update) rather than trust it.
pub struct Swap {
    pub detector: Detector,
    pub trial: bool,
}

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error("{} camera(s) failed: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Sources(Vec<SourceError>),
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineReport {
    pub frames: u64,
    pub elapsed: Duration,
}

/// Runs until every camera has ended (recordings), `stop` is set, or the sink breaks. Models
/// arriving on `swaps` replace the detector between two frames; sources keep scaling frames to
/// the first model's input, and the detector resizes them further if a new model's differs.
pub fn run(
    inputs: &[CameraInput],
    detector: &mut Detector,
    swaps: &Receiver<Swap>,
    queue_capacity: usize,
    stop: &Arc<AtomicBool>,
    health: &[Arc<CameraHealth>],
    mut sink: impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<PipelineReport, PipelineError> {
    assert_eq!(health.len(), inputs.len(), "one health record per camera");
    let started = Instant::now();
    let mut frames = 0u64;
    // Sources scale to the model's input (times the slices) themselves, off the inference thread.
    let model_input = detector.manifest().input_spec();
    let outcome = std::thread::scope(|scope| {
        let mut receivers = Vec::with_capacity(inputs.len());
        let mut threads = Vec::with_capacity(inputs.len());
        for (input, h) in inputs.iter().zip(health) {
            let (tx, rx) = frame_queue(queue_capacity, input.settings.live);
            receivers.push(Some(rx));
            let (h, stop) = (h.clone(), stop.clone());
            let (width, height) = input.tiling.fit(model_input.width, model_input.height);
            let gst = GstOptions {
                fit: Some(Fit {
                    width,
                    height,
                    resize: model_input.resize,
                }),
                ..input.gst.clone()
            };
            threads.push(scope.spawn(move || {
                let open = || source::open(&input.settings.id, &input.spec, &gst);
                source::run_camera(&input.settings, open, &tx, &h, &stop)
            }));
        }
        let mut detections = Vec::with_capacity(128);
        let mut next = 0usize;
        let mut helpers = match spawn_helpers(scope, detector, inputs) {
            Ok(h) => h,
            Err(e) => return Err(PipelineError::Detector(e)),
        };
        let result = 'run: loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            if let Ok(swap) = swaps.try_recv() {
                *detector = swap.detector;
                // The old model's lanes end with their channels; nothing is in flight here.
                helpers.clear();
                let event = Event::Swapped {
                    model: detector.manifest(),
                    trial: swap.trial,
                };
                if sink(event).is_break() {
                    break Ok(());
                }
                match spawn_helpers(scope, detector, inputs) {
                    Ok(h) => helpers = h,
                    // One lane goes on; the sink decides whether a model that cannot fork
                    // should serve at all.
                    Err(e) => {
                        if sink(Event::DetectorFailed(&e)).is_break() {
                            break Err(PipelineError::Detector(e));
                        }
                    }
                }
            }
            let Some((camera, frame)) = take_frame(&mut receivers, &mut next) else {
                if receivers.iter().all(Option::is_none) {
                    break Ok(());
                }
                if !wait_ready(&receivers) && sink(Event::Idle).is_break() {
                    break Ok(());
                }
                continue;
            };
            // Frames already waiting go to the other lanes; this one stays on this thread and
            // is handed on first, as it was taken first.
            let mut busy = 0;
            for lane in &mut helpers {
                let Some((camera, frame)) = take_frame(&mut receivers, &mut next) else {
                    break;
                };
                lane.send(camera, frame);
                busy += 1;
            }
            let t0 = Instant::now();
            let tiling = &inputs[camera].tiling;
            let outcome = detector.detect_tiled(frame.view(), tiling, &mut detections);
            let mut flow = deliver(
                &mut sink,
                &mut frames,
                outcome,
                Processed {
                    camera,
                    frame: &frame,
                    detections: &detections,
                    inference: t0.elapsed(),
                },
            );
            drop(frame);
            for lane in &mut helpers[..busy] {
                // Every result is collected, even after a break, so no lane is left holding a
                // frame or a reply nobody reads.
                let Some(done) = lane.receive() else {
                    continue;
                };
                if matches!(flow, Ok(ControlFlow::Continue(()))) {
                    flow = deliver(
                        &mut sink,
                        &mut frames,
                        done.outcome,
                        Processed {
                            camera: done.camera,
                            frame: &done.frame,
                            detections: &done.detections,
                            inference: done.inference,
                        },
                    );
                }
                lane.detections = Some(done.detections);
            }
            match flow {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => break 'run Ok(()),
                Err(e) => break 'run Err(PipelineError::Detector(e)),
            }
        };
        drop(helpers);
        // Dropping the receivers tells camera threads that nobody is listening any more.
        drop(receivers);
        let failures: Vec<SourceError> = threads
            .into_iter()
            .filter_map(|t| t.join().ok().and_then(Result::err))
            .collect();
        match result {
            Ok(()) if !failures.is_empty() => Err(PipelineError::Sources(failures)),
            other => other,
        }
    });
    outcome.map(|()| PipelineReport {
        frames,
        elapsed: started.elapsed(),
    })
}

/// Hands a detected frame, or the detector's failure, to the sink: `Err` ends the run with the
/// failure, `Ok(Break)` ends it cleanly. Counts the frames detected.
fn deliver(
    sink: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
    frames: &mut u64,
    outcome: Result<(), DetectorError>,
    processed: Processed<'_>,
) -> Result<ControlFlow<()>, DetectorError> {
    match outcome {
        Ok(()) => {
            *frames += 1;
            Ok(sink(Event::Frame(processed)))
        }
        Err(e) => match sink(Event::DetectorFailed(&e)) {
            ControlFlow::Break(()) => Err(e),
            ControlFlow::Continue(()) => Ok(ControlFlow::Continue(())),
        },
    }
}

/// A lane on another thread: one frame in, its detections out, one at a time.
struct Helper {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    /// The lane's detection buffer while it is idle, handed back and forth with each frame.
    detections: Option<Vec<Detection>>,
}

struct Job {
    camera: usize,
    frame: Frame,
    detections: Vec<Detection>,
}

struct Done {
    camera: usize,
    frame: Frame,
    detections: Vec<Detection>,
    outcome: Result<(), DetectorError>,
    inference: Duration,
}

impl Helper {
    fn send(&mut self, camera: usize, frame: Frame) {
        let detections = self
            .detections
            .take()
            .unwrap_or_else(|| Vec::with_capacity(128));
        // The lane only ends when this sender is dropped, so the send cannot fail; if it did,
        // the frame is dropped and `receive` reports nothing for it.
        let _ = self.jobs.send(Job {
            camera,
            frame,
            detections,
        });
    }

    fn receive(&mut self) -> Option<Done> {
        self.done.recv().ok()
    }
}

/// The detector's further lanes (`Detector::lanes` minus this thread's), each on its own
/// scoped thread with a fork of the model; they end when their `Helper` is dropped.
fn spawn_helpers<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    detector: &Detector,
    inputs: &'scope [CameraInput],
) -> Result<Vec<Helper>, DetectorError> {
    let mut helpers = Vec::with_capacity(detector.lanes().saturating_sub(1));
    for _ in 1..detector.lanes() {
        let mut lane = detector.fork()?;
        let (jobs, job_rx) = crossbeam_channel::bounded::<Job>(1);
        let (done_tx, done) = crossbeam_channel::bounded::<Done>(1);
        scope.spawn(move || {
            for mut job in job_rx {
                let t0 = Instant::now();
                let tiling = &inputs[job.camera].tiling;
                let outcome = lane.detect_tiled(job.frame.view(), tiling, &mut job.detections);
                let done = Done {
                    camera: job.camera,
                    frame: job.frame,
                    detections: job.detections,
                    outcome,
                    inference: t0.elapsed(),
                };
                if done_tx.send(done).is_err() {
                    break;
                }
            }
        });
        helpers.push(Helper {
            jobs,
            done,
            detections: Some(Vec::with_capacity(128)),
        });
    }
    Ok(helpers)
}

/// One camera whose frames are all the sink wants (`detect`, `replay`, `eval detect`): no model
/// swaps, and a failed detector ends the run with its error.
pub fn run_frames(
    input: &CameraInput,
    detector: &mut Detector,
    queue_capacity: usize,
    stop: &Arc<AtomicBool>,
    mut sink: impl FnMut(Processed<'_>) -> ControlFlow<()>,
) -> Result<PipelineReport, PipelineError> {
    let health = [Arc::default()];
    run(
        std::slice::from_ref(input),
        detector,
        &crossbeam_channel::never(),
        queue_capacity,
        stop,
        &health,
        |event| match event.into_frame() {
            Ok(p) => sink(p),
            Err(flow) => flow,
        },
    )
}

/// The next queued frame, visiting cameras round-robin so a busy one cannot starve the rest.
/// Queues whose camera has ended are retired.
fn take_frame(
    receivers: &mut [Option<source::FrameReceiver>],
    next: &mut usize,
) -> Option<(usize, Frame)> {
    let n = receivers.len();
    for k in 0..n {
        let i = (*next + k) % n;
        let Some(rx) = &receivers[i] else { continue };
        match rx.receiver().try_recv() {
            Ok(frame) => {
                *next = (i + 1) % n;
                return Some((i, frame));
            }
            Err(TryRecvError::Disconnected) => receivers[i] = None,
            Err(TryRecvError::Empty) => {}
        }
    }
    None
}

/// Blocks until some queue has a frame or ends (true), or 100 ms pass (false).
fn wait_ready(receivers: &[Option<source::FrameReceiver>]) -> bool {
    let mut select = Select::new();
    for rx in receivers.iter().flatten() {
        select.recv(rx.receiver());
    }
    select.ready_timeout(Duration::from_millis(100)).is_ok()
}
