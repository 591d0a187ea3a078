//! The durable outbox between the analytics and the broker. An event counts as produced once it
//! is stored here; it leaves only when the broker acknowledged it. The backend sits behind the
//! small [`Outbox`] trait; [`SledOutbox`] is the one the agent runs.

mod inspect;
mod open_alerts;
mod record;
mod sled_store;
mod thread;
mod writer;

pub use record::{Class, Record, RecordError};
pub use sled_store::{Dump, Inspected, OpenOutcome, SledOutbox};
pub use thread::{WriterHandle, spawn_writer};
pub use writer::{Incoming, Limits, OutboxCounters, Writer};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Storage { path: String, source: sled::Error },
    #[error(
        "outbox {path} is in use by another aisle process (stop it first, e.g. `systemctl stop aisle`, or read its live figures on the metrics endpoint)"
    )]
    Locked { path: String },
    #[error("outbox {path}: cannot move the unreadable store aside: {source}")]
    MoveAside {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "outbox {path} cannot be read ({reason}); it is left as it is (the agent moves an unreadable store aside when it starts)"
    )]
    Unreadable { path: String, reason: String },
    #[error("outbox record {seq}: {source}")]
    Record { seq: u64, source: RecordError },
}

/// What is in the store now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub pending_alerts: u64,
    pub pending_summaries: u64,
    /// Keys and values of pending records.
    pub bytes: u64,
    pub oldest_ts_ms: Option<u64>,
    pub dropped_summaries: u64,
    pub dropped_alerts: u64,
    /// Records that could not be decoded, kept aside for support.
    pub quarantined: u64,
}

impl Stats {
    pub fn pending(&self) -> u64 {
        self.pending_alerts + self.pending_summaries
    }
}

/// A durable, ordered store of records keyed by sequence number. Writes come from one writer;
/// reads and removals from the publisher, concurrently.
pub trait Outbox: Send + Sync {
    /// Identifies this store; part of every event id, so a reset store never repeats an id.
    fn store_id(&self) -> &str;
    /// The sequence number the next record gets: one past anything ever stored here.
    fn next_seq(&self) -> u64;
    /// Stores records (their seqs strictly increasing, starting at `next_seq`). They are durable
    /// only after [`Outbox::flush`].
    fn append(&self, records: &[Record]) -> Result<(), OutboxError>;
    /// Makes everything appended so far durable (fsync).
    fn flush(&self) -> Result<(), OutboxError>;
    /// The first record with a sequence number at or above `seq`, in either class.
    fn first_from(&self, seq: u64) -> Result<Option<Record>, OutboxError>;
    /// Removes a record once the broker has it; unknown seqs are ignored.
    fn remove(&self, seq: u64) -> Result<(), OutboxError>;
    /// Gives up the oldest record of a class to stay within limits, counting the drop.
    fn drop_oldest(&self, class: Class) -> Result<Option<Record>, OutboxError>;
    fn stats(&self) -> Stats;
    /// Closes and opens the store again, keeping what is durable: the way back from storage
    /// errors that outlive their cause (a disk that filled and was freed).
    fn reopen(&self) -> Result<(), OutboxError>;
    /// The camera alerts stored raised and not yet stored cleared, published or not: what a
    /// restarted agent must take back, so none stays open for ever or is raised twice.
    fn open_alerts(&self) -> Result<Vec<crate::events::Event>, OutboxError>;
}
