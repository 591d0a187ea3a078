//! The writer on its own thread, and the handle the vision loop sends events through: a full
//! channel costs an event (counted), never a stalled camera.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use super::writer::{Incoming, OutboxCounters, Writer};
use super::{Outbox, Record};
use crate::clock::Clock;

/// Events taken from the channel per store write.
const BATCH: usize = 512;

/// The pipeline's end of the writer: never blocks the vision loop.
#[derive(Clone)]
pub struct WriterHandle {
    tx: Sender<Incoming>,
    counters: Arc<OutboxCounters>,
}

impl WriterHandle {
    /// Events waiting for the writer.
    pub fn backlog(&self) -> usize {
        self.tx.len()
    }

    pub fn send(&self, event: Incoming) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(event)
        {
            self.counters.lost_unstored.fetch_add(1, Ordering::Relaxed);
            tracing::error!("outbox writer is not keeping up; event lost");
        }
    }
}

/// Runs the writer on its own thread until every [`WriterHandle`] is dropped, then flushes what
/// it holds. `durable` hears of each record once it is on disk (the publisher and the event log).
pub fn spawn_writer<O: Outbox + 'static>(
    mut writer: Writer<O>,
    capacity: usize,
    clock: impl Clock + Send + 'static,
    mut durable: impl FnMut(&[Record]) + Send + 'static,
) -> std::io::Result<(WriterHandle, std::thread::JoinHandle<()>)> {
    let (tx, rx): (Sender<Incoming>, Receiver<Incoming>) = crossbeam_channel::bounded(capacity);
    let handle = WriterHandle {
        tx,
        counters: writer.counters(),
    };
    let thread = std::thread::Builder::new()
        .name("outbox-writer".into())
        .spawn(move || {
            loop {
                let wait = writer.until_flush();
                let mut closed = false;
                match rx.recv_timeout(wait) {
                    Ok(first) => {
                        let rest = rx.try_iter().take(BATCH - 1);
                        writer.accept(std::iter::once(first).chain(rest));
                    }
                    Err(RecvTimeoutError::Timeout) => writer.store_unstored(),
                    Err(RecvTimeoutError::Disconnected) => closed = true,
                }
                if writer.flush_due() || closed {
                    let records = writer.flush(clock.now_ms());
                    if !records.is_empty() {
                        durable(&records);
                    }
                }
                if closed {
                    let held = writer.held();
                    if held > 0 {
                        writer
                            .counters()
                            .lost_unstored
                            .fetch_add(held as u64, Ordering::Relaxed);
                        tracing::error!(
                            lost = held,
                            "stopping with events the outbox could not store"
                        );
                    }
                    break;
                }
            }
        })?;
    Ok((handle, thread))
}
