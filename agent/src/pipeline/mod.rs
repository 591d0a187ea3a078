//! The vision pipeline: one supervised thread per camera feeding a bounded queue, and the
//! detector taking frames round-robin, on the calling thread or in several lanes (`lanes`).
//! Decoding of the next frame overlaps inference of the current one; nothing but the frame
//! queues sits between them.

mod lanes;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use thiserror::Error;

use crate::detect::manifest::Manifest;
use crate::detect::tiling::Tiling;
use crate::detect::{Detection, Detector, DetectorError};
use crate::source::{
    self, CameraHealth, CameraSettings, Fit, Frame, GstOptions, SourceError, SourceSpec, doorbell,
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
    /// A lane's thread panicked: the frame it held will never come back, so the run ends
    /// rather than wait for it (systemd restarts the agent).
    #[error("a detector lane stopped with a panic")]
    LanePanicked,
}

#[derive(Debug, Clone, Copy)]
pub struct PipelineReport {
    pub frames: u64,
    pub elapsed: Duration,
}

/// Runs until every camera has ended (recordings), `stop` is set, or the sink breaks. Models
/// arriving on `swaps` replace the detector between two frames; sources keep scaling frames to
/// the first model's input, and the detector resizes them further if a new model's differs.
/// With one lane the detector runs on this thread; with more, on lane threads (`lanes`), and
/// this thread hands their results to the sink in the order the frames were taken.
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
    let mut senders = Vec::with_capacity(inputs.len());
    let mut receivers = Vec::with_capacity(inputs.len());
    let (bell, rung) = doorbell();
    for input in inputs {
        let (tx, rx) = frame_queue(queue_capacity, input.settings.live);
        senders.push(tx.with_bell(bell.clone()));
        receivers.push(Some(rx));
    }
    drop(bell);
    let shared = lanes::Shared::new(receivers, rung);
    let outcome = std::thread::scope(|scope| {
        let mut threads = Vec::with_capacity(inputs.len());
        for ((input, h), tx) in inputs.iter().zip(health).zip(senders) {
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
        let mut inline = detector.lanes() == 1;
        let result = loop {
            let served = if inline {
                serve_inline(
                    &shared,
                    detector,
                    inputs,
                    stop,
                    swaps,
                    &mut detections,
                    &mut frames,
                    &mut sink,
                )
            } else {
                lanes::serve(
                    scope,
                    &shared,
                    detector,
                    inputs,
                    stop,
                    swaps,
                    &mut frames,
                    &mut sink,
                )
            };
            match served {
                Served::Ended(result) => break result,
                Served::Swap(swap) => {
                    *detector = swap.detector;
                    inline = detector.lanes() == 1;
                    let event = Event::Swapped {
                        model: detector.manifest(),
                        trial: swap.trial,
                    };
                    if sink(event).is_break() {
                        break Ok(());
                    }
                }
                // One lane goes on; the sink decides whether a model that cannot fork should
                // serve at all.
                Served::CannotFork(e) => {
                    if sink(Event::DetectorFailed(&e)).is_break() {
                        break Err(PipelineError::Detector(e));
                    }
                    inline = true;
                }
            }
        };
        // Dropping the receivers tells camera threads that nobody is listening any more.
        shared.close();
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

/// How a serving loop ended.
enum Served {
    /// The run is over: cameras ended, `stop`, the sink broke, or the detector failed.
    Ended(Result<(), PipelineError>),
    /// A new model, to serve once everything taken so far has been handed on.
    Swap(Box<Swap>),
    /// The model could not be forked into lanes.
    CannotFork(DetectorError),
}

/// One lane: the detector on this thread, taking frames itself.
#[allow(clippy::too_many_arguments)]
fn serve_inline(
    shared: &lanes::Shared,
    detector: &mut Detector,
    inputs: &[CameraInput],
    stop: &AtomicBool,
    swaps: &Receiver<Swap>,
    detections: &mut Vec<Detection>,
    frames: &mut u64,
    sink: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Served {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Served::Ended(Ok(()));
        }
        if let Ok(swap) = swaps.try_recv() {
            return Served::Swap(Box::new(swap));
        }
        let Some((camera, frame)) = ({
            let mut feed = shared.feed();
            let taken = feed.take();
            if taken.is_none() && feed.ended() {
                return Served::Ended(Ok(()));
            }
            taken
        }) else {
            if !shared.wait_ready() && sink(Event::Idle).is_break() {
                return Served::Ended(Ok(()));
            }
            continue;
        };
        let t0 = Instant::now();
        let tiling = &inputs[camera].tiling;
        let outcome = detector.detect_tiled(frame.view(), tiling, detections);
        let processed = Processed {
            camera,
            frame: &frame,
            detections,
            inference: t0.elapsed(),
        };
        match deliver(sink, frames, outcome, processed) {
            Ok(ControlFlow::Continue(())) => {}
            Ok(ControlFlow::Break(())) => return Served::Ended(Ok(())),
            Err(e) => return Served::Ended(Err(PipelineError::Detector(e))),
        }
    }
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
