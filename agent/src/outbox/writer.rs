//! The outbox's single writer: numbers events, stores them, flushes alerts at once and
//! summaries within [`FLUSH_AFTER`], keeps the store within its limits, and tells the publisher
//! how far the store is durable. Nothing is published before it is durable, so a crash can
//! never let the broker see an event that the restarted agent would number again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Class, Outbox, OutboxError, Record};
use crate::clock::wall_clock_set;
use crate::events::{Payload, Sequencer};

/// Summaries reach the disk at most this long after they were produced.
pub const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// Events held in memory while the store refuses writes (disk full, I/O errors).
const RETRY_CAPACITY: usize = 4096;
/// After a storage error, the writer waits this long before touching the disk again, so a full
/// disk costs one error line a second, not a busy loop.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// While storage errors last, the store is reopened this often: sled fails every write after
/// its first I/O error, even once the disk has room again.
const REOPEN_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_age_ms: u64,
}

/// Shared between the writer, the publisher and the health reporting.
#[derive(Debug, Default)]
pub struct OutboxCounters {
    /// Highest sequence number that is durable; the publisher sends nothing above it.
    pub durable_seq: AtomicU64,
    /// Events that never made it into the store (I/O errors beyond the retry buffer, or the
    /// channel from the pipeline full).
    pub lost_unstored: AtomicU64,
    pub write_errors: AtomicU64,
    /// The last storage error, until a write succeeds again.
    pub error: Mutex<Option<String>>,
}

impl OutboxCounters {
    fn set_error(&self, e: Option<&OutboxError>) {
        if let Ok(mut slot) = self.error.lock() {
            *slot = e.map(ToString::to_string);
        }
    }

    pub fn error(&self) -> Option<String> {
        self.error.lock().ok().and_then(|e| e.clone())
    }
}

/// An event as the analytics produce it, before it has a number.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub camera: Option<String>,
    pub ts_ms: u64,
    pub payload: Payload,
}

pub struct Writer<O: Outbox> {
    store: Arc<O>,
    sequencer: Sequencer,
    limits: Limits,
    counters: Arc<OutboxCounters>,
    /// Numbered, not yet stored (the store refused them); retried in order.
    unstored: VecDeque<Record>,
    /// Stored, not yet durable.
    unflushed: Vec<Record>,
    dirty_since: Option<Instant>,
    urgent: bool,
    /// Set after a storage error: no store access before then.
    retry_at: Option<Instant>,
    /// Since when storage errors have lasted, and when the store was last reopened for them.
    failing_since: Option<Instant>,
    reopened_at: Option<Instant>,
}

impl<O: Outbox> Writer<O> {
    pub fn new(
        store: Arc<O>,
        device_id: &str,
        site: &str,
        limits: Limits,
        counters: Arc<OutboxCounters>,
    ) -> Self {
        let sequencer = Sequencer::new(device_id, site, store.store_id(), store.next_seq());
        counters
            .durable_seq
            .store(store.next_seq() - 1, Ordering::Relaxed);
        Self {
            store,
            sequencer,
            limits,
            counters,
            unstored: VecDeque::new(),
            unflushed: Vec::new(),
            dirty_since: None,
            urgent: false,
            retry_at: None,
            failing_since: None,
            reopened_at: None,
        }
    }

    /// Numbers and stores events (not yet durable). Store errors keep them in memory for the
    /// next attempt, up to [`RETRY_CAPACITY`], beyond which the oldest summaries go first.
    pub fn accept(&mut self, events: impl IntoIterator<Item = Incoming>) {
        for e in events {
            let class = if e.payload.is_urgent() {
                Class::Alert
            } else {
                Class::Summary
            };
            let event = self
                .sequencer
                .stamp(e.camera.as_deref(), e.ts_ms, e.payload);
            let payload = serde_json::to_vec(&event).unwrap_or_default();
            self.unstored.push_back(Record {
                seq: event.seq,
                class,
                ts_ms: event.ts_ms,
                topic: aisle_proto::topic::of_event(&event),
                payload,
            });
        }
        self.shed_excess();
        self.store_unstored();
    }

    /// Keeps the events held in memory within [`RETRY_CAPACITY`], oldest summaries first.
    fn shed_excess(&mut self) {
        while self.unstored.len() > RETRY_CAPACITY {
            let victim = self
                .unstored
                .iter()
                .position(|r| r.class == Class::Summary)
                .unwrap_or(0);
            self.unstored.remove(victim);
            self.counters.lost_unstored.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn backing_off(&self) -> bool {
        self.retry_at.is_some_and(|t| Instant::now() < t)
    }

    /// Stores what is held in memory, unless backing off after a storage error.
    pub(super) fn store_unstored(&mut self) {
        if self.unstored.is_empty() || self.backing_off() {
            return;
        }
        self.reopen_if_failing();
        let batch = self.unstored.make_contiguous();
        match self.store.append(batch) {
            Ok(()) => {
                self.urgent |= batch.iter().any(|r| r.class == Class::Alert);
                self.unflushed.extend(self.unstored.drain(..));
                self.dirty_since.get_or_insert_with(Instant::now);
                self.retry_at = None;
                self.counters.set_error(None);
            }
            Err(e) => self.storage_error(&e, "cannot store events; keeping them in memory"),
        }
    }

    /// Reopens the store every [`REOPEN_EVERY`] while storage errors last. What the reopened
    /// store lost of the records stored but not yet flushed goes back to the front of the
    /// queue, so nothing the agent accepted is lost to the reopen.
    fn reopen_if_failing(&mut self) {
        let due = |t: Option<Instant>| t.is_some_and(|t| t.elapsed() >= REOPEN_EVERY);
        if !due(self.failing_since) || !(self.reopened_at.is_none() || due(self.reopened_at)) {
            return;
        }
        self.reopened_at = Some(Instant::now());
        if let Err(e) = self.store.reopen() {
            tracing::error!(error = %e, "cannot reopen the outbox; retrying");
            return;
        }
        let mut lost = Vec::new();
        for r in std::mem::take(&mut self.unflushed) {
            match self.store.first_from(r.seq) {
                Ok(Some(kept)) if kept.seq == r.seq => self.unflushed.push(r),
                _ => lost.push(r),
            }
        }
        for r in lost.into_iter().rev() {
            self.unstored.push_front(r);
        }
    }

    fn storage_error(&mut self, e: &OutboxError, what: &str) {
        self.failing_since.get_or_insert_with(Instant::now);
        self.retry_at = Some(Instant::now() + RETRY_AFTER);
        self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
        self.counters.set_error(Some(e));
        tracing::error!(error = %e, held = self.unstored.len(), "{what}");
    }

    pub fn counters(&self) -> Arc<OutboxCounters> {
        self.counters.clone()
    }

    /// Events accepted and not yet durable.
    pub fn held(&self) -> usize {
        self.unstored.len() + self.unflushed.len()
    }

    /// Whether a flush is due: an alert is waiting, or summaries have waited long enough.
    pub fn flush_due(&self) -> bool {
        !self.backing_off()
            && (self.urgent || self.dirty_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER))
    }

    /// How long the writer may sleep before [`Writer::flush_due`] turns true.
    pub fn until_flush(&self) -> Duration {
        if let Some(t) = self.retry_at.filter(|_| self.backing_off()) {
            return t.saturating_duration_since(Instant::now());
        }
        match self.dirty_since {
            Some(_) if self.urgent => Duration::ZERO,
            Some(t) => FLUSH_AFTER.saturating_sub(t.elapsed()),
            None => Duration::from_secs(1),
        }
    }

    /// Flushes, then advances the durable mark and applies the limits. Returns the records that
    /// became durable.
    pub fn flush(&mut self, now_ms: u64) -> Vec<Record> {
        self.store_unstored();
        if self.unflushed.is_empty() {
            return Vec::new();
        }
        if self.backing_off() {
            return Vec::new();
        }
        self.reopen_if_failing();
        self.store_unstored();
        if self.unflushed.is_empty() {
            return Vec::new();
        }
        if let Err(e) = self.store.flush() {
            self.storage_error(&e, "cannot flush the outbox; retrying");
            return Vec::new();
        }
        self.retry_at = None;
        self.failing_since = None;
        self.dirty_since = None;
        self.urgent = false;
        let durable = std::mem::take(&mut self.unflushed);
        if let Some(last) = durable.last() {
            self.counters.durable_seq.store(last.seq, Ordering::Release);
        }
        if let Err(e) = self.enforce_limits(now_ms) {
            self.storage_error(&e, "cannot apply the outbox limits");
        }
        durable
    }

    /// Age first (anything too old to matter), then size: the oldest summaries before any alert.
    /// An age needs two set clocks: while the wall clock is not set (a gateway without RTC
    /// before NTP), or for events stamped before it was, no age is known and only the size
    /// limit applies.
    fn enforce_limits(&self, now_ms: u64) -> Result<(), OutboxError> {
        let cutoff = now_ms.saturating_sub(self.limits.max_age_ms);
        while let Some(oldest) = self.store.first_from(0)? {
            if oldest.ts_ms >= cutoff || !wall_clock_set(now_ms) || !wall_clock_set(oldest.ts_ms) {
                break;
            }
            self.store.drop_oldest(oldest.class)?;
            tracing::warn!(
                seq = oldest.seq,
                class = oldest.class.name(),
                "outbox dropped an event older than max_age_s"
            );
        }
        while self.store.stats().bytes > self.limits.max_bytes {
            let dropped = match self.store.drop_oldest(Class::Summary)? {
                Some(r) => r,
                None => match self.store.drop_oldest(Class::Alert)? {
                    Some(r) => r,
                    None => break,
                },
            };
            tracing::warn!(
                seq = dropped.seq,
                class = dropped.class.name(),
                "outbox full (max_bytes); dropped its oldest event"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::rules::Severity;
    use crate::events::{Alert, AlertState, CameraHealth, Event, Summary};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;

    /// A store that can be told to fail, to test what the writer does when the disk does.
    #[derive(Default)]
    struct Flaky {
        records: Mutex<BTreeMap<u64, Record>>,
        failing: AtomicBool,
        dropped: Mutex<Vec<u64>>,
        /// Like sled: after one error every access fails until a reopen, which loses what was
        /// appended and not flushed.
        sticky: AtomicBool,
        stuck: AtomicBool,
        unflushed: Mutex<Vec<u64>>,
        reopens: AtomicU64,
    }

    impl Flaky {
        fn refuses(&self) -> bool {
            let refuses =
                self.failing.load(Ordering::Relaxed) || self.stuck.load(Ordering::Relaxed);
            if refuses && self.sticky.load(Ordering::Relaxed) {
                self.stuck.store(true, Ordering::Relaxed);
            }
            refuses
        }
    }

    impl Outbox for Flaky {
        fn store_id(&self) -> &str {
            "flaky"
        }
        fn next_seq(&self) -> u64 {
            self.records
                .lock()
                .unwrap()
                .keys()
                .last()
                .map_or(1, |s| s + 1)
        }
        fn append(&self, records: &[Record]) -> Result<(), OutboxError> {
            if self.refuses() {
                return Err(OutboxError::Storage {
                    path: "flaky".into(),
                    source: sled::Error::Io(std::io::Error::other("No space left on device")),
                });
            }
            let mut m = self.records.lock().unwrap();
            for r in records {
                m.insert(r.seq, r.clone());
                self.unflushed.lock().unwrap().push(r.seq);
            }
            Ok(())
        }
        fn flush(&self) -> Result<(), OutboxError> {
            if self.refuses() {
                return Err(OutboxError::Storage {
                    path: "flaky".into(),
                    source: sled::Error::Io(std::io::Error::other("File too large")),
                });
            }
            self.unflushed.lock().unwrap().clear();
            Ok(())
        }
        fn open_alerts(&self) -> Result<Vec<crate::events::Event>, OutboxError> {
            Ok(Vec::new())
        }

        fn reopen(&self) -> Result<(), OutboxError> {
            self.reopens.fetch_add(1, Ordering::Relaxed);
            if self.failing.load(Ordering::Relaxed) {
                return Err(OutboxError::Storage {
                    path: "flaky".into(),
                    source: sled::Error::Io(std::io::Error::other("No space left on device")),
                });
            }
            self.stuck.store(false, Ordering::Relaxed);
            let mut m = self.records.lock().unwrap();
            for seq in self.unflushed.lock().unwrap().drain(..) {
                m.remove(&seq);
            }
            Ok(())
        }
        fn first_from(&self, seq: u64) -> Result<Option<Record>, OutboxError> {
            Ok(self
                .records
                .lock()
                .unwrap()
                .range(seq..)
                .next()
                .map(|(_, r)| r.clone()))
        }
        fn remove(&self, seq: u64) -> Result<(), OutboxError> {
            self.records.lock().unwrap().remove(&seq);
            Ok(())
        }
        fn drop_oldest(&self, class: Class) -> Result<Option<Record>, OutboxError> {
            let mut m = self.records.lock().unwrap();
            let seq = m.values().find(|r| r.class == class).map(|r| r.seq);
            let r = seq.and_then(|s| m.remove(&s));
            if let Some(r) = &r {
                self.dropped.lock().unwrap().push(r.seq);
            }
            Ok(r)
        }
        fn stats(&self) -> super::super::Stats {
            let m = self.records.lock().unwrap();
            super::super::Stats {
                bytes: m.len() as u64 * 100,
                ..Default::default()
            }
        }
    }

    fn summary(ts_ms: u64) -> Incoming {
        Incoming {
            camera: Some("door".into()),
            ts_ms,
            payload: Payload::Summary(Summary {
                window_start_ms: 0,
                window_end_ms: ts_ms,
                frames: 1,
                zones: vec![],
                health: CameraHealth::default(),
            }),
        }
    }

    fn alert(ts_ms: u64) -> Incoming {
        Incoming {
            camera: Some("door".into()),
            ts_ms,
            payload: Payload::Alert(Alert {
                alert_id: "a".into(),
                rule: "r".into(),
                severity: Severity::Warning,
                state: AlertState::Raised,
                zone: None,
                metric: None,
                value: None,
                threshold: None,
            }),
        }
    }

    fn writer(store: &Arc<Flaky>, limits: Limits) -> Writer<Flaky> {
        Writer::new(store.clone(), "gw", "s", limits, Arc::default())
    }

    const ROOMY: Limits = Limits {
        max_bytes: u64::MAX,
        max_age_ms: u64::MAX,
    };

    #[test]
    fn numbers_events_and_flushes_alerts_at_once() {
        let store = Arc::new(Flaky::default());
        let mut w = writer(&store, ROOMY);
        w.accept([summary(1)]);
        assert!(w.dirty_since.is_some());
        // Pinned, so the check does not depend on how fast this test runs.
        w.dirty_since = Some(Instant::now() + Duration::from_secs(3600));
        assert!(!w.flush_due(), "a summary may wait for the timer");
        w.accept([alert(2)]);
        assert!(w.flush_due());
        let durable: Vec<u64> = w.flush(2).iter().map(|r| r.seq).collect();
        assert_eq!(durable, [1, 2]);
        assert_eq!(w.counters.durable_seq.load(Ordering::Relaxed), 2);
        let first = store.first_from(0).unwrap().unwrap();
        let event: Event = serde_json::from_slice(&first.payload).unwrap();
        assert_eq!((event.seq, event.event_id.as_str()), (1, "flaky:1"));
        assert_eq!(first.topic, "summary/door");
    }

    #[test]
    fn a_store_that_stays_broken_after_the_disk_frees_is_reopened_and_nothing_is_lost() {
        let store = Arc::new(Flaky::default());
        store.sticky.store(true, Ordering::Relaxed);
        let mut w = writer(&store, ROOMY);
        w.accept([summary(1)]);
        assert_eq!(w.flush(1).len(), 1);
        // Stored, not yet flushed, when the disk fills: the reopen will lose it from the store.
        w.accept([summary(2)]);
        store.failing.store(true, Ordering::Relaxed);
        assert!(w.flush(2).is_empty());
        w.accept([alert(3)]);
        // The disk is freed, but the store keeps failing until it is reopened.
        store.failing.store(false, Ordering::Relaxed);
        w.retry_at = Some(Instant::now());
        assert!(w.flush(3).is_empty(), "still stuck");
        assert_eq!(
            store.reopens.load(Ordering::Relaxed),
            0,
            "not before REOPEN_EVERY"
        );
        w.failing_since = Some(Instant::now() - REOPEN_EVERY);
        w.retry_at = Some(Instant::now());
        let durable: Vec<u64> = w.flush(4).iter().map(|r| r.seq).collect();
        assert_eq!(store.reopens.load(Ordering::Relaxed), 1);
        assert_eq!(durable, [2, 3], "the lost one stored again, in order");
        let kept: Vec<u64> = store.records.lock().unwrap().keys().copied().collect();
        assert_eq!(kept, [1, 2, 3]);
        assert_eq!(w.counters.error(), None);
        assert_eq!(w.counters.lost_unstored.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_failing_disk_loses_nothing_already_stored_and_recovers() {
        let store = Arc::new(Flaky::default());
        let mut w = writer(&store, ROOMY);
        w.accept([summary(1)]);
        w.flush(1);
        store.failing.store(true, Ordering::Relaxed);
        w.accept([alert(2), summary(3)]);
        assert!(w.flush(3).is_empty());
        assert!(w.counters.error().unwrap().contains("No space left"));
        assert_eq!(
            store.first_from(0).unwrap().unwrap().seq,
            1,
            "stored event kept"
        );
        store.failing.store(false, Ordering::Relaxed);
        w.retry_at = Some(Instant::now() + Duration::from_secs(3600));
        assert!(
            w.flush(4).is_empty(),
            "no store access before the retry time"
        );
        w.retry_at = Some(Instant::now());
        let durable: Vec<u64> = w.flush(4).iter().map(|r| r.seq).collect();
        assert_eq!(
            durable,
            [2, 3],
            "held events stored in order once the disk recovers"
        );
        assert_eq!(w.counters.error(), None);
        assert_eq!(w.counters.lost_unstored.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_failing_flush_backs_off_instead_of_spinning() {
        let store = Arc::new(Flaky::default());
        let mut w = writer(&store, ROOMY);
        w.accept([alert(1)]);
        store.failing.store(true, Ordering::Relaxed);
        assert!(w.flush_due());
        assert!(w.flush(1).is_empty());
        assert_eq!(w.counters.write_errors.load(Ordering::Relaxed), 1);
        let retry_at = w.retry_at.expect("a retry time after the error");
        assert!(retry_at <= Instant::now() + RETRY_AFTER);
        // Pinned, so the checks below do not depend on how fast this test runs.
        w.retry_at = Some(Instant::now() + Duration::from_secs(3600));
        assert!(
            !w.flush_due(),
            "an alert waits for the retry time after an error"
        );
        assert!(w.until_flush() > Duration::from_secs(3500));
        w.accept([alert(2)]);
        assert_eq!(
            w.counters.write_errors.load(Ordering::Relaxed),
            1,
            "no retry before then"
        );
    }

    #[test]
    fn the_retry_buffer_sheds_summaries_before_alerts() {
        let store = Arc::new(Flaky::default());
        store.failing.store(true, Ordering::Relaxed);
        let mut w = writer(&store, ROOMY);
        w.accept([alert(0)]);
        w.accept((1..=RETRY_CAPACITY as u64 + 10).map(summary));
        assert_eq!(w.counters.lost_unstored.load(Ordering::Relaxed), 11);
        assert_eq!(w.unstored.front().map(|r| r.class), Some(Class::Alert));
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_summaries_before_any_alert() {
        let store = Arc::new(Flaky::default());
        let mut w = writer(&store, ROOMY);
        w.accept([alert(1), summary(2), summary(3), alert(4), summary(5)]);
        w.flush(5);
        w.limits.max_bytes = 300;
        w.accept([summary(6)]);
        w.flush(6);
        assert_eq!(*store.dropped.lock().unwrap(), [2, 3, 5]);
        w.limits.max_bytes = 100;
        w.accept([summary(7)]);
        w.flush(7);
        assert_eq!(*store.dropped.lock().unwrap(), [2, 3, 5, 6, 7, 1]);
    }

    #[test]
    fn events_older_than_max_age_are_dropped() {
        let store = Arc::new(Flaky::default());
        let mut w = writer(
            &store,
            Limits {
                max_bytes: u64::MAX,
                max_age_ms: 1000,
            },
        );
        let t = 1_800_000_000_000;
        w.accept([summary(t), alert(t + 500), summary(t + 2000)]);
        w.flush(t + 2000);
        assert_eq!(*store.dropped.lock().unwrap(), [1, 2]);
    }

    #[test]
    fn events_stamped_before_the_clock_was_set_are_not_aged_out() {
        // A gateway without RTC stamps its first events in 1970; once NTP sets the clock they
        // would look 56 years old. Their age is unknown: only the size limit may drop them.
        let store = Arc::new(Flaky::default());
        let mut w = writer(
            &store,
            Limits {
                max_bytes: u64::MAX,
                max_age_ms: 1000,
            },
        );
        w.accept([summary(5_000), alert(6_000)]);
        w.flush(7_000);
        let t = 1_800_000_000_000;
        w.accept([summary(t)]);
        w.flush(t + 60_000);
        assert!(store.dropped.lock().unwrap().is_empty());
        assert_eq!(store.records.lock().unwrap().len(), 3);
    }
}
