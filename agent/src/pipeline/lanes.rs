//! Several frames inferred side by side (`DetectorOptions::lanes` > 1). Each lane is a thread
//! with its own fork of the detector that takes the next frame itself as soon as it is free, so
//! no lane ever waits for another. A frame gets a ticket when it is taken; the pipeline's thread
//! hands results to the sink in ticket order, and a lane may not take a ticket more than
//! `window` ahead of the sink, which bounds what waits to be handed on.
//!
//! Why not one run over all the threads: ONNX Runtime splits each operator between its threads
//! and waits for the slowest part, and every decoder thread that pre-empts one of them stalls
//! the whole run; one-thread runs side by side are only slowed by what pre-empts them
//! (docs/performance.md).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use super::{CameraInput, Event, PipelineError, Processed, Served, Swap, deliver};
use crate::detect::{Detection, Detector, DetectorError};
use crate::source::{Frame, FrameReceiver};

/// How long a wait for frames or results lasts before the waiter looks at `stop` again, and
/// how long without a result before the sink gets an idle tick.
const TICK: Duration = Duration::from_millis(100);

/// The frame queues and the ticket counters, behind one lock so tickets follow the order
/// frames were taken in.
pub(super) struct Feed {
    receivers: Vec<Option<FrameReceiver>>,
    /// The queue round-robin visits first next time.
    next: usize,
    /// The ticket the next frame taken gets.
    ticket: u64,
    /// The ticket the sink gets next.
    delivered: u64,
    /// Set while a swap waits for what was taken to be handed on.
    paused: bool,
}

impl Feed {
    /// The next queued frame, visiting cameras round-robin so a busy one cannot starve the
    /// rest. Queues whose camera has ended are retired.
    pub(super) fn take(&mut self) -> Option<(usize, Frame)> {
        let n = self.receivers.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            let Some(rx) = &self.receivers[i] else {
                continue;
            };
            match rx.receiver().try_recv() {
                Ok(frame) => {
                    self.next = (i + 1) % n;
                    return Some((i, frame));
                }
                Err(TryRecvError::Disconnected) => self.receivers[i] = None,
                Err(TryRecvError::Empty) => {}
            }
        }
        None
    }

    /// Whether every camera has ended.
    pub(super) fn ended(&self) -> bool {
        self.receivers.iter().all(Option::is_none)
    }
}

/// What the pipeline's thread and the lanes share.
pub(super) struct Shared {
    feed: Mutex<Feed>,
    /// Signalled when the sink has taken a result (room in the window) or lanes must end.
    room: Condvar,
    /// Lanes started for an earlier model end at their next look.
    generation: AtomicU64,
    /// Rung by the cameras for every frame queued and when they end.
    rung: Receiver<()>,
    /// Set by a lane whose thread panics.
    panicked: AtomicBool,
}

impl Shared {
    pub(super) fn new(receivers: Vec<Option<FrameReceiver>>, rung: Receiver<()>) -> Self {
        Self {
            feed: Mutex::new(Feed {
                receivers,
                next: 0,
                ticket: 0,
                delivered: 0,
                paused: false,
            }),
            room: Condvar::new(),
            generation: AtomicU64::new(0),
            rung,
            panicked: AtomicBool::new(false),
        }
    }

    /// The feed, whatever a panicking lane left it as: its state is counters and queues, valid
    /// between any two statements.
    pub(super) fn feed(&self) -> MutexGuard<'_, Feed> {
        self.feed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Blocks until a camera queues a frame or ends (true; the frame may have been taken by
    /// another lane since), or a tick passes (false). Allocates nothing.
    pub(super) fn wait_ready(&self) -> bool {
        !matches!(self.rung.recv_timeout(TICK), Err(RecvTimeoutError::Timeout))
    }

    /// Ends every lane and drops the queues, which tells camera threads nobody listens.
    pub(super) fn close(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.feed().receivers.clear();
        self.room.notify_all();
    }
}

/// One frame a lane has detected.
struct Done {
    ticket: u64,
    camera: usize,
    frame: Frame,
    detections: Vec<Detection>,
    outcome: Result<(), DetectorError>,
    inference: Duration,
}

/// Serves with `detector.lanes()` lanes until the run ends or a swap arrives; the lanes have
/// ended (or will at their next look) when this returns.
#[allow(clippy::too_many_arguments)]
pub(super) fn serve<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    shared: &'scope Shared,
    detector: &Detector,
    inputs: &'scope [CameraInput],
    stop: &'scope AtomicBool,
    swaps: &Receiver<Swap>,
    frames: &mut u64,
    sink: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Served {
    let lanes = detector.lanes();
    let window = 2 * lanes as u64;
    // Every fork first, so a failure leaves no lane holding a frame.
    let forks = match (0..lanes)
        .map(|_| detector.fork())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(forks) => forks,
        Err(e) => return Served::CannotFork(e),
    };
    let generation = shared.generation.fetch_add(1, Ordering::Relaxed) + 1;
    {
        let mut feed = shared.feed();
        feed.paused = false;
        feed.delivered = feed.ticket;
    }
    let (results_tx, results) = crossbeam_channel::bounded::<Done>(window as usize);
    let (spare_tx, spare) = crossbeam_channel::bounded::<Vec<Detection>>(window as usize);
    for _ in 0..window {
        let _ = spare_tx.try_send(Vec::with_capacity(128));
    }
    for fork in forks {
        let lane = Lane {
            shared,
            generation,
            window,
            inputs,
            stop,
            results: results_tx.clone(),
            spare: spare.clone(),
        };
        scope.spawn(move || lane.run(fork));
    }
    drop(results_tx);
    let mut order = Order {
        pending: (0..window).map(|_| None).collect(),
        shared,
        spare: spare_tx,
    };
    let served = loop {
        if stop.load(Ordering::Relaxed) {
            break Served::Ended(Ok(()));
        }
        if shared.panicked.load(Ordering::Relaxed) {
            break Served::Ended(Err(PipelineError::LanePanicked));
        }
        if let Ok(swap) = swaps.try_recv() {
            // What was taken is detected by the model it was taken for, and handed on first.
            shared.feed().paused = true;
            break match order.drain(&results, frames, sink) {
                Ok(()) => Served::Swap(Box::new(swap)),
                Err(ended) => ended,
            };
        }
        match results.recv_timeout(TICK) {
            Ok(done) => {
                if let Err(ended) = order.hand_on(done, frames, sink) {
                    break ended;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if sink(Event::Idle).is_break() {
                    break Served::Ended(Ok(()));
                }
            }
            // Every lane has ended: so have the cameras.
            Err(RecvTimeoutError::Disconnected) => break Served::Ended(Ok(())),
        }
    };
    shared.generation.fetch_add(1, Ordering::Relaxed);
    shared.room.notify_all();
    served
}

/// Results waiting for the ones taken before them.
struct Order<'a> {
    /// Indexed by ticket modulo the window.
    pending: Vec<Option<Done>>,
    shared: &'a Shared,
    /// Detection buffers going back to the lanes.
    spare: Sender<Vec<Detection>>,
}

impl Order<'_> {
    /// Files a result and hands on every result that is now next in line. `Err` is how the run
    /// ends (the sink broke, or the detector failed and the sink ended the run).
    fn hand_on(
        &mut self,
        done: Done,
        frames: &mut u64,
        sink: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<(), Served> {
        let window = self.pending.len() as u64;
        let slot = (done.ticket % window) as usize;
        self.pending[slot] = Some(done);
        loop {
            let next = self.shared.feed().delivered;
            let Some(done) = self.pending[(next % window) as usize].take() else {
                return Ok(());
            };
            let processed = Processed {
                camera: done.camera,
                frame: &done.frame,
                detections: &done.detections,
                inference: done.inference,
            };
            let flow = deliver(sink, frames, done.outcome, processed);
            let _ = self.spare.try_send(done.detections);
            self.shared.feed().delivered += 1;
            self.shared.room.notify_all();
            match flow {
                Ok(ControlFlow::Continue(())) => {}
                Ok(ControlFlow::Break(())) => return Err(Served::Ended(Ok(()))),
                Err(e) => return Err(Served::Ended(Err(PipelineError::Detector(e)))),
            }
        }
    }

    /// Hands on everything taken so far, waiting for the lanes to finish it.
    fn drain(
        &mut self,
        results: &Receiver<Done>,
        frames: &mut u64,
        sink: &mut impl FnMut(Event<'_>) -> ControlFlow<()>,
    ) -> Result<(), Served> {
        loop {
            let in_flight = {
                let feed = self.shared.feed();
                feed.delivered < feed.ticket
            };
            if !in_flight {
                return Ok(());
            }
            if self.shared.panicked.load(Ordering::Relaxed) {
                return Err(Served::Ended(Err(PipelineError::LanePanicked)));
            }
            match results.recv_timeout(TICK) {
                Ok(done) => self.hand_on(done, frames, sink)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
        }
    }
}

/// One lane's thread.
struct Lane<'a> {
    shared: &'a Shared,
    generation: u64,
    window: u64,
    inputs: &'a [CameraInput],
    stop: &'a AtomicBool,
    results: Sender<Done>,
    spare: Receiver<Vec<Detection>>,
}

/// Tells the pipeline's thread when a lane's thread unwinds.
struct PanicFlag<'a>(&'a AtomicBool);

impl Drop for PanicFlag<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

impl Lane<'_> {
    fn run(self, mut detector: Detector) {
        let _flag = PanicFlag(&self.shared.panicked);
        while let Some(taken) = self.next_frame() {
            let Some((ticket, camera, frame)) = taken else {
                self.shared.wait_ready();
                continue;
            };
            let mut detections = self
                .spare
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(128));
            let t0 = Instant::now();
            let tiling = &self.inputs[camera].tiling;
            let outcome = detector.detect_tiled(frame.view(), tiling, &mut detections);
            let done = Done {
                ticket,
                camera,
                frame,
                detections,
                outcome,
                inference: t0.elapsed(),
            };
            if self.results.send(done).is_err() {
                return;
            }
        }
    }

    /// The next frame and its ticket; `Some(None)` when no queue has one now, `None` when the
    /// lane should end (stop, a newer generation, every camera ended).
    fn next_frame(&self) -> Option<Option<(u64, usize, Frame)>> {
        let mut feed = self.shared.feed();
        loop {
            if self.stop.load(Ordering::Relaxed)
                || self.shared.generation.load(Ordering::Relaxed) != self.generation
            {
                return None;
            }
            if !feed.paused && feed.ticket < feed.delivered + self.window {
                break;
            }
            feed = self
                .shared
                .room
                .wait_timeout(feed, TICK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        match feed.take() {
            Some((camera, frame)) => {
                let ticket = feed.ticket;
                feed.ticket += 1;
                Some(Some((ticket, camera, frame)))
            }
            None if feed.ended() => None,
            None => Some(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::doorbell;

    fn done(ticket: u64, outcome: Result<(), DetectorError>) -> Done {
        Done {
            ticket,
            camera: 0,
            frame: Frame::blank(ticket),
            detections: Vec::new(),
            outcome,
            inference: Duration::ZERO,
        }
    }

    fn order(shared: &Shared) -> Order<'_> {
        let (spare, _) = crossbeam_channel::bounded(4);
        Order {
            pending: (0..4).map(|_| None).collect(),
            shared,
            spare,
        }
    }

    #[test]
    fn results_reach_the_sink_in_ticket_order_whatever_order_they_finish_in() {
        let (_bell, rung) = doorbell();
        let shared = Shared::new(Vec::new(), rung);
        shared.feed().ticket = 6;
        let mut order = order(&shared);
        let (mut seen, mut frames) = (Vec::new(), 0);
        let mut sink = |e: Event<'_>| {
            if let Event::Frame(p) = e {
                seen.push(p.frame.index);
            }
            ControlFlow::Continue(())
        };
        for ticket in [2, 0, 3, 1, 5, 4] {
            assert!(
                order
                    .hand_on(done(ticket, Ok(())), &mut frames, &mut sink)
                    .is_ok()
            );
        }
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert_eq!(frames, 6);
        assert_eq!(shared.feed().delivered, 6);
    }

    #[test]
    fn a_failed_frame_goes_to_the_sink_which_ends_the_run_or_skips_it() {
        let (_bell, rung) = doorbell();
        let shared = Shared::new(Vec::new(), rung);
        let mut order = order(&shared);
        let failed = || Err(DetectorError::Inference("out of memory".into()));
        let mut frames = 0;
        let mut skip = |_: Event<'_>| ControlFlow::Continue(());
        assert!(
            order
                .hand_on(done(0, failed()), &mut frames, &mut skip)
                .is_ok()
        );
        assert_eq!(frames, 0, "a failed frame is not counted");
        let mut end = |e: Event<'_>| match e {
            Event::DetectorFailed(_) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        };
        let ended = order.hand_on(done(1, failed()), &mut frames, &mut end);
        assert!(matches!(
            ended,
            Err(Served::Ended(Err(PipelineError::Detector(_))))
        ));
    }
}
