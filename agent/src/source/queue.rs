//! The bounded hand-off from a camera thread to the detector. Live cameras drop the oldest
//! frame when the detector is behind (a stale frame is worth nothing); replays block instead, so
//! a recording is processed frame for frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError, bounded};

use super::Frame;

pub struct FrameSender {
    tx: Sender<Frame>,
    /// A handle on the queue's far end, used only to discard the oldest frame.
    oldest: Receiver<Frame>,
    drop_oldest: bool,
    dropped: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
    /// Rung after every frame queued and when the camera ends, so the detector can wait for
    /// any of several queues without building a select over them each time.
    bell: Option<Sender<()>>,
}

/// The detector's end. Dropping it tells the camera to stop (the sender's own handle on the
/// queue would otherwise keep it open forever).
pub struct FrameReceiver {
    rx: Receiver<Frame>,
    closed: Arc<AtomicBool>,
}

impl FrameReceiver {
    pub fn receiver(&self) -> &Receiver<Frame> {
        &self.rx
    }
}

impl Drop for FrameReceiver {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Relaxed);
    }
}

/// A queue of `capacity` frames; `drop_oldest` selects live behaviour.
pub fn frame_queue(capacity: usize, drop_oldest: bool) -> (FrameSender, FrameReceiver) {
    let (tx, rx) = bounded(capacity.max(1));
    let closed = Arc::new(AtomicBool::new(false));
    let sender = FrameSender {
        tx,
        oldest: rx.clone(),
        drop_oldest,
        dropped: Arc::default(),
        closed: closed.clone(),
        bell: None,
    };
    (sender, FrameReceiver { rx, closed })
}

/// A doorbell several queues ring: one pending ring is kept, further rings are merged into it.
pub fn doorbell() -> (Sender<()>, Receiver<()>) {
    bounded(1)
}

/// Why a frame was not delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Undelivered {
    /// The consumer is gone: stop producing.
    Closed,
    /// Shutdown was requested while waiting for room.
    Stopping,
}

impl FrameSender {
    /// Rings `bell` after each frame queued and when this sender is dropped.
    pub fn with_bell(mut self, bell: Sender<()>) -> Self {
        self.bell = Some(bell);
        self
    }

    fn ring(&self) {
        if let Some(bell) = &self.bell {
            let _ = bell.try_send(());
        }
    }

    /// Queues a frame; returns how many older frames were dropped to make room.
    pub fn send(&self, frame: Frame, stop: &AtomicBool) -> Result<u64, Undelivered> {
        let sent = self.queue(frame, stop);
        if sent.is_ok() {
            self.ring();
        }
        sent
    }

    fn queue(&self, mut frame: Frame, stop: &AtomicBool) -> Result<u64, Undelivered> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Undelivered::Closed);
        }
        if self.drop_oldest {
            let mut dropped = 0;
            loop {
                match self.tx.try_send(frame) {
                    Ok(()) => {
                        self.dropped.fetch_add(dropped, Ordering::Relaxed);
                        return Ok(dropped);
                    }
                    Err(TrySendError::Full(f)) => {
                        frame = f;
                        if self.oldest.try_recv().is_ok() {
                            dropped += 1;
                        }
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(Undelivered::Closed),
                }
            }
        }
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Undelivered::Stopping);
            }
            if self.closed.load(Ordering::Relaxed) {
                return Err(Undelivered::Closed);
            }
            match self.tx.send_timeout(frame, Duration::from_millis(100)) {
                Ok(()) => return Ok(0),
                Err(SendTimeoutError::Timeout(f)) => frame = f,
                Err(SendTimeoutError::Disconnected(_)) => return Err(Undelivered::Closed),
            }
        }
    }

    /// Frames dropped so far to keep the queue fresh.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.tx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        self.ring();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_queue_keeps_the_newest_frames_and_counts_drops() {
        let (tx, rx) = frame_queue(2, true);
        let stop = AtomicBool::new(false);
        for i in 0..5 {
            tx.send(Frame::blank(i), &stop).unwrap();
        }
        assert_eq!(tx.dropped(), 3);
        let got: Vec<u64> = rx.receiver().try_iter().map(|f| f.index).collect();
        assert_eq!(got, vec![3, 4]);
    }

    #[test]
    fn replay_queue_blocks_until_stop_and_reports_a_closed_consumer() {
        let (tx, rx) = frame_queue(1, false);
        let stop = AtomicBool::new(false);
        tx.send(Frame::blank(0), &stop).unwrap();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(tx.send(Frame::blank(1), &stop), Err(Undelivered::Stopping));
        drop(rx);
        stop.store(false, Ordering::Relaxed);
        assert_eq!(tx.send(Frame::blank(2), &stop), Err(Undelivered::Closed));
    }

    #[test]
    fn the_bell_rings_for_frames_queued_and_for_a_camera_that_ends() {
        let (bell, rung) = doorbell();
        let (a, _ra) = frame_queue(4, false);
        let (b, _rb) = frame_queue(4, true);
        let (a, b) = (a.with_bell(bell.clone()), b.with_bell(bell));
        let stop = AtomicBool::new(false);
        assert!(rung.try_recv().is_err(), "nothing queued yet");
        a.send(Frame::blank(0), &stop).unwrap();
        b.send(Frame::blank(1), &stop).unwrap();
        assert!(rung.try_recv().is_ok(), "rung");
        assert!(rung.try_recv().is_err(), "two rings in a row are one");
        drop(a);
        assert!(rung.try_recv().is_ok(), "a camera that ends rings");
        drop(b);
        assert!(rung.try_recv().is_ok(), "so does the last one");
        assert_eq!(
            rung.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        );
    }
}
