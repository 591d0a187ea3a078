//! The outbox on sled: one tree per [`Class`] keyed by big-endian sequence number (so the oldest
//! summary is the first key of its tree), a `meta` tree for the store id, the sequence
//! high-water mark and the drop counters, a `quarantine` tree for records that no longer
//! decode, and an `open_alerts` tree: every camera alert stored raised and not yet stored
//! cleared, kept whether or not the broker has it, so a restarted agent takes its alerts back. A store that cannot be opened is moved aside for inspection and a fresh one started:
//! a damaged disk must not turn into a crash loop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::inspect::copy_dir;
pub use super::inspect::{Dump, Inspected};
use super::open_alerts::open_alert_changes;
use super::{Class, Outbox, OutboxError, Record, Stats};
use crate::events::Event;

const STORE_ID: &[u8] = b"store_id";
const NEXT_SEQ: &[u8] = b"next_seq";
const DROPPED_SUMMARIES: &[u8] = b"dropped_summaries";
const DROPPED_ALERTS: &[u8] = b"dropped_alerts";
/// sled keeps hot pages in memory; an edge box has better uses for its RAM than 1 GiB of cache.
const CACHE_BYTES: u64 = 8 << 20;

/// How [`SledOutbox::open`] found the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Opened,
    /// The old store could not be opened; it was renamed to `moved_to` and a fresh one created.
    Reset {
        moved_to: PathBuf,
        reason: String,
    },
}

/// The open sled database and its trees; replaced whole when the store is reopened.
struct Trees {
    db: sled::Db,
    alerts: sled::Tree,
    summaries: sled::Tree,
    meta: sled::Tree,
    quarantine: sled::Tree,
    open_alerts: sled::Tree,
}

impl Trees {
    fn new(
        db: sled::Db,
        [alerts, summaries, meta, quarantine, open_alerts]: [sled::Tree; 5],
    ) -> Self {
        Self {
            db,
            alerts,
            summaries,
            meta,
            quarantine,
            open_alerts,
        }
    }

    fn tree(&self, class: Class) -> &sled::Tree {
        match class {
            Class::Alert => &self.alerts,
            Class::Summary => &self.summaries,
        }
    }

    /// Bytes and pending records per class, and the highest sequence number seen.
    fn scan(&self) -> sled::Result<(u64, [u64; 2], u64)> {
        let mut next_seq = u64_at(&self.meta, NEXT_SEQ)?.max(1);
        let mut bytes = 0u64;
        let mut pending = [0u64; 2];
        for (i, tree) in [&self.alerts, &self.summaries].into_iter().enumerate() {
            for kv in tree.iter() {
                let (k, v) = kv?;
                bytes += (k.len() + v.len()) as u64;
                pending[i] += 1;
                if let Some(seq) = Record::seq_of(&k) {
                    next_seq = next_seq.max(seq + 1);
                }
            }
        }
        Ok((bytes, pending, next_seq))
    }
}

pub struct SledOutbox {
    path: PathBuf,
    /// `None` only while a reopen failed: every access is then a storage error until the next.
    trees: RwLock<Option<Trees>>,
    store_id: String,
    next_seq: AtomicU64,
    bytes: AtomicU64,
    pending: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    /// Held for the store's lifetime: a second agent on the same store gets a clear error
    /// instead of a "corrupt" store that would be moved aside under the first one.
    _lock: File,
}

fn slot(class: Class) -> usize {
    match class {
        Class::Alert => 0,
        Class::Summary => 1,
    }
}

/// How sled 0.34 says its `db` file is locked (`Error::Io` of kind `Other`; it has no variant
/// of its own).
const SLED_LOCK_ERROR: &str = "could not acquire lock";
const LOCK_WAIT: Duration = Duration::from_secs(2);

fn is_sled_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains(SLED_LOCK_ERROR))
}

fn u64_at(tree: &sled::Tree, key: &[u8]) -> sled::Result<u64> {
    Ok(tree
        .get(key)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

impl SledOutbox {
    /// Opens the store at `path`, creating it when absent. A store sled cannot open is moved to
    /// `<path>.broken-<unix seconds>` and replaced by an empty one (reported in the outcome).
    pub fn open(path: &Path) -> Result<(Self, OpenOutcome), OutboxError> {
        let lock = Self::lock(path)?;
        match Self::open_locked(path, lock) {
            Ok(store) => Ok((store, OpenOutcome::Opened)),
            Err((reason, _)) if reason.contains(SLED_LOCK_ERROR) => Err(OutboxError::Locked {
                path: path.display().to_string(),
            }),
            Err((reason, lock)) => {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let mut moved_to = PathBuf::from(format!("{}.broken-{stamp}", path.display()));
                let mut n = 1;
                while moved_to.exists() {
                    moved_to = PathBuf::from(format!("{}.broken-{stamp}-{n}", path.display()));
                    n += 1;
                }
                std::fs::rename(path, &moved_to).map_err(|source| OutboxError::MoveAside {
                    path: path.display().to_string(),
                    source,
                })?;
                let store =
                    Self::open_locked(path, lock).map_err(|(reason, _)| OutboxError::Storage {
                        path: path.display().to_string(),
                        source: sled::Error::Unsupported(reason),
                    })?;
                Ok((store, OpenOutcome::Reset { moved_to, reason }))
            }
        }
    }

    /// A copy of the stopped agent's store at `path`, opened for reading: inspecting a store
    /// must not change it (sled writes on open) nor move a damaged one aside, which only the agent
    /// does when it starts. Taking the store's lock first keeps a running agent's store out.
    pub fn inspect(path: &Path) -> Result<Inspected, OutboxError> {
        let unreadable = |reason: String| OutboxError::Unreadable {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_dir() {
            return Err(unreadable("no store there".into()));
        }
        // Held while copying, so the copy is of a store no agent is writing.
        let _lock = Self::lock(path)?;
        let copy = std::env::temp_dir().join(format!(
            "aisle-outbox-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut inspected = Inspected {
            store: None,
            copy: copy.clone(),
        };
        copy_dir(path, &copy)
            .map_err(|e| unreadable(format!("cannot copy it to {}: {e}", copy.display())))?;
        let lock = Self::lock(&copy)?;
        let store = Self::open_locked(&copy, lock).map_err(|(reason, _)| unreadable(reason))?;
        inspected.store = Some(store);
        Ok(inspected)
    }

    fn lock(path: &Path) -> Result<File, OutboxError> {
        let lock_path = PathBuf::from(format!("{}.lock", path.display()));
        let storage = |source: std::io::Error| OutboxError::Storage {
            path: path.display().to_string(),
            source: sled::Error::Io(source),
        };
        if let Some(parent) = lock_path.parent() {
            std::fs::create_dir_all(parent).map_err(storage)?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(storage)?;
        file.try_lock().map_err(|_| OutboxError::Locked {
            path: path.display().to_string(),
        })?;
        Ok(file)
    }

    /// Opens under the held lock; on failure gives the lock back with the reason.
    fn open_locked(path: &Path, lock: File) -> Result<Self, (String, File)> {
        let opened = std::panic::catch_unwind(|| {
            // sled's own file lock outlives a closed store for a moment (its background flusher
            // lets go last); a lock is never a reason to move a store aside.
            let mut waited = Duration::ZERO;
            loop {
                match Self::open_trees(path) {
                    Err(e) if is_sled_lock_error(&e) && waited < LOCK_WAIT => {
                        std::thread::sleep(Duration::from_millis(20));
                        waited += Duration::from_millis(20);
                    }
                    other => return other,
                }
            }
        });
        match opened {
            Ok(Ok((db, trees))) => Self::from_trees(path, db, trees, lock),
            Ok(Err(e)) => Err((e.to_string(), lock)),
            Err(_) => Err(("sled panicked while opening the store".into(), lock)),
        }
    }

    fn open_trees(path: &Path) -> sled::Result<(sled::Db, [sled::Tree; 5])> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(Some(500))
            .open()?;
        let trees = [
            db.open_tree("alerts")?,
            db.open_tree("summaries")?,
            db.open_tree("meta")?,
            db.open_tree("quarantine")?,
            db.open_tree("open_alerts")?,
        ];
        Ok((db, trees))
    }

    fn from_trees(
        path: &Path,
        db: sled::Db,
        trees: [sled::Tree; 5],
        lock: File,
    ) -> Result<Self, (String, File)> {
        let t = Trees::new(db, trees);
        let scanned = (|| -> sled::Result<_> {
            let store_id = match t.meta.get(STORE_ID)? {
                Some(v) => String::from_utf8_lossy(&v).into_owned(),
                None => {
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    t.meta.insert(STORE_ID, id.as_bytes())?;
                    t.db.flush()?;
                    id
                }
            };
            let (bytes, pending, next_seq) = t.scan()?;
            let dropped = [
                u64_at(&t.meta, DROPPED_ALERTS)?,
                u64_at(&t.meta, DROPPED_SUMMARIES)?,
            ];
            Ok((store_id, next_seq, bytes, pending, dropped))
        })();
        match scanned {
            Ok((store_id, next_seq, bytes, pending, dropped)) => Ok(Self {
                path: path.into(),
                trees: RwLock::new(Some(t)),
                store_id,
                next_seq: AtomicU64::new(next_seq),
                bytes: AtomicU64::new(bytes),
                pending: pending.map(AtomicU64::new),
                dropped: dropped.map(AtomicU64::new),
                _lock: lock,
            }),
            Err(e) => Err((e.to_string(), lock)),
        }
    }

    /// Closes and opens the store again, keeping what it holds. sled fails every write after its
    /// first I/O error (a full disk) until it is reopened: the writer calls this while storage
    /// errors last, so a disk that fills and frees again needs no restart.
    pub fn reopen(&self) -> Result<(), OutboxError> {
        let mut slot = self.trees.write().map_err(|_| self.poisoned())?;
        drop(slot.take());
        let mut waited = Duration::ZERO;
        let opened = loop {
            match Self::open_trees(&self.path) {
                Err(e) if is_sled_lock_error(&e) && waited < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                    waited += Duration::from_millis(20);
                }
                other => break other,
            }
        };
        let t = opened
            .map(|(db, trees)| Trees::new(db, trees))
            .map_err(|e| self.err(e))?;
        let (bytes, pending, next_seq) = t.scan().map_err(|e| self.err(e))?;
        self.bytes.store(bytes, Ordering::Relaxed);
        for (p, n) in self.pending.iter().zip(pending) {
            p.store(n, Ordering::Relaxed);
        }
        self.next_seq.fetch_max(next_seq, Ordering::Relaxed);
        *slot = Some(t);
        tracing::warn!(path = %self.path.display(), pending = pending[0] + pending[1], "outbox reopened after storage errors");
        Ok(())
    }

    fn err(&self, source: sled::Error) -> OutboxError {
        OutboxError::Storage {
            path: self.path.display().to_string(),
            source,
        }
    }

    fn poisoned(&self) -> OutboxError {
        self.err(sled::Error::Unsupported(
            "a thread panicked while holding the store".into(),
        ))
    }

    /// Runs `f` on the open trees; a storage error while the store is closed after a failed
    /// reopen.
    fn with<T>(&self, f: impl FnOnce(&Trees) -> sled::Result<T>) -> Result<T, OutboxError> {
        let guard = self.trees.read().map_err(|_| self.poisoned())?;
        let t = guard.as_ref().ok_or_else(|| {
            self.err(sled::Error::Unsupported(
                "closed after a failed reopen; retried".into(),
            ))
        })?;
        f(t).map_err(|e| self.err(e))
    }

    /// The first record of `tree` at or after `seq` that decodes; records that do not are moved
    /// to the quarantine tree (kept for `outbox dump`) rather than blocking the queue forever.
    fn first_decodable(&self, class: Class, seq: u64) -> Result<Option<Record>, OutboxError> {
        loop {
            let Some((k, v)) =
                self.with(|t| t.tree(class).range(Record::key(seq)..).next().transpose())?
            else {
                return Ok(None);
            };
            let key_seq = Record::seq_of(&k).unwrap_or(0);
            match Record::decode(key_seq, &v) {
                Ok(r) => return Ok(Some(r)),
                Err(e) => {
                    tracing::error!(seq = key_seq, error = %e, "outbox record does not decode; moved to quarantine");
                    self.with(|t| t.quarantine.insert(&k, v.clone()))?;
                    self.take(class, &k)?;
                }
            }
        }
    }

    /// Removes `key` from the class's tree, keeping the counters right when two threads race.
    fn take(&self, class: Class, key: &[u8]) -> Result<Option<sled::IVec>, OutboxError> {
        let old = self.with(|t| t.tree(class).remove(key))?;
        if let Some(v) = &old {
            self.bytes
                .fetch_sub((key.len() + v.len()) as u64, Ordering::Relaxed);
            self.pending[slot(class)].fetch_sub(1, Ordering::Relaxed);
        }
        Ok(old)
    }

    /// Every pending record in sequence order, and the quarantined raw values, for support.
    pub fn dump(&self) -> Result<Dump, OutboxError> {
        let mut records = Vec::new();
        let mut seq = 0;
        while let Some(r) = self.first_from(seq)? {
            seq = r.seq + 1;
            records.push(r);
        }
        let quarantined = self.with(|t| {
            t.quarantine
                .iter()
                .map(|kv| kv.map(|(k, v)| (Record::seq_of(&k).unwrap_or(0), v.to_vec())))
                .collect::<sled::Result<_>>()
        })?;
        Ok(Dump {
            records,
            quarantined,
        })
    }
}

impl Outbox for SledOutbox {
    fn store_id(&self) -> &str {
        &self.store_id
    }

    fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed)
    }

    fn append(&self, records: &[Record]) -> Result<(), OutboxError> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let mut batches = [sled::Batch::default(), sled::Batch::default()];
        let mut added = [0u64; 2];
        let mut bytes = 0u64;
        for r in records {
            let value = r.encode();
            bytes += (8 + value.len()) as u64;
            added[slot(r.class)] += 1;
            batches[slot(r.class)].insert(&Record::key(r.seq), value);
        }
        let [alerts, summaries] = batches;
        let open = open_alert_changes(records);
        // Never back: after a reopen the writer stores again what the disk lost, older seqs.
        let next = (last.seq + 1).max(self.next_seq());
        self.with(|t| {
            t.alerts.apply_batch(alerts)?;
            t.summaries.apply_batch(summaries)?;
            t.open_alerts.apply_batch(open)?;
            t.meta.insert(NEXT_SEQ, &next.to_be_bytes()).map(drop)
        })?;
        self.next_seq.store(next, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        for (p, a) in self.pending.iter().zip(added) {
            p.fetch_add(a, Ordering::Relaxed);
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), OutboxError> {
        self.with(|t| t.db.flush().map(drop))
    }

    fn first_from(&self, seq: u64) -> Result<Option<Record>, OutboxError> {
        let a = self.first_decodable(Class::Alert, seq)?;
        let s = self.first_decodable(Class::Summary, seq)?;
        Ok(match (a, s) {
            (Some(a), Some(s)) => Some(if a.seq < s.seq { a } else { s }),
            (a, s) => a.or(s),
        })
    }

    fn remove(&self, seq: u64) -> Result<(), OutboxError> {
        let key = Record::key(seq);
        if self.take(Class::Alert, &key)?.is_none() {
            self.take(Class::Summary, &key)?;
        }
        Ok(())
    }

    fn drop_oldest(&self, class: Class) -> Result<Option<Record>, OutboxError> {
        let Some(r) = self.first_decodable(class, 0)? else {
            return Ok(None);
        };
        if self.take(class, &Record::key(r.seq))?.is_none() {
            return Ok(None);
        }
        let n = self.dropped[slot(class)].fetch_add(1, Ordering::Relaxed) + 1;
        let key = match class {
            Class::Alert => DROPPED_ALERTS,
            Class::Summary => DROPPED_SUMMARIES,
        };
        self.with(|t| t.meta.insert(key, &n.to_be_bytes()))?;
        Ok(Some(r))
    }

    fn reopen(&self) -> Result<(), OutboxError> {
        SledOutbox::reopen(self)
    }

    fn open_alerts(&self) -> Result<Vec<Event>, OutboxError> {
        let raw = self.with(|t| {
            t.open_alerts
                .iter()
                .values()
                .collect::<sled::Result<Vec<_>>>()
        })?;
        Ok(raw
            .iter()
            .filter_map(|v| serde_json::from_slice(v).ok())
            .collect())
    }

    fn stats(&self) -> Stats {
        let oldest = |t: &sled::Tree| {
            t.first()
                .ok()
                .flatten()
                .and_then(|(k, v)| Record::decode(Record::seq_of(&k)?, &v).ok())
                .map(|r| r.ts_ms)
        };
        let (oldest_ts_ms, quarantined) = self
            .with(|t| {
                let oldest = match (oldest(&t.alerts), oldest(&t.summaries)) {
                    (Some(a), Some(s)) => Some(a.min(s)),
                    (a, s) => a.or(s),
                };
                Ok((oldest, t.quarantine.len() as u64))
            })
            .unwrap_or((None, 0));
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            pending_alerts: load(&self.pending[0]),
            pending_summaries: load(&self.pending[1]),
            bytes: load(&self.bytes),
            oldest_ts_ms,
            dropped_alerts: load(&self.dropped[0]),
            dropped_summaries: load(&self.dropped[1]),
            quarantined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u64, class: Class) -> Record {
        Record {
            seq,
            class,
            ts_ms: seq * 1000,
            topic: "summary/door".into(),
            payload: format!("{{\"seq\":{seq}}}").into_bytes(),
        }
    }

    /// Every file under `dir` with its bytes.
    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
        out.sort();
        out
    }

    #[test]
    fn inspecting_reads_a_copy_and_changes_nothing_not_even_a_damaged_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        {
            let (s, _) = SledOutbox::open(&path).unwrap();
            s.append(&[rec(1, Class::Summary), rec(2, Class::Alert)])
                .unwrap();
            s.flush().unwrap();
        }
        let before = files(dir.path());
        {
            let seen = SledOutbox::inspect(&path).unwrap();
            assert_eq!(seen.store().stats().pending(), 2);
        }
        assert_eq!(files(dir.path()), before, "the store is untouched");
        // A damaged store is reported and left where it is, for the agent to move aside.
        // A botched restore: the data file is a folder.
        std::fs::remove_file(path.join("db")).unwrap();
        std::fs::create_dir_all(path.join("db")).unwrap();
        std::fs::write(path.join("db/snap.0"), b"not sled").unwrap();
        let before = files(dir.path());
        let e = SledOutbox::inspect(&path).err().unwrap().to_string();
        assert!(
            e.contains("cannot be read") && e.contains("left as it is"),
            "{e}"
        );
        assert_eq!(files(dir.path()), before);
        let e = SledOutbox::inspect(&dir.path().join("absent"))
            .err()
            .unwrap();
        assert!(e.to_string().contains("no store there"), "{e}");
        assert!(!dir.path().join("absent").exists());
    }

    #[test]
    fn keeps_order_across_classes_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let id = {
            let (s, outcome) = SledOutbox::open(&path).unwrap();
            assert_eq!(outcome, OpenOutcome::Opened);
            assert_eq!(s.next_seq(), 1);
            s.append(&[
                rec(1, Class::Summary),
                rec(2, Class::Alert),
                rec(3, Class::Summary),
            ])
            .unwrap();
            s.flush().unwrap();
            s.remove(1).unwrap();
            s.flush().unwrap();
            s.store_id().to_string()
        };
        let (s, _) = SledOutbox::open(&path).unwrap();
        assert_eq!(s.store_id(), id);
        assert_eq!(s.next_seq(), 4);
        let order: Vec<u64> = s.dump().unwrap().records.iter().map(|r| r.seq).collect();
        assert_eq!(order, [2, 3]);
        let st = s.stats();
        assert_eq!((st.pending_alerts, st.pending_summaries), (1, 1));
        assert_eq!(st.oldest_ts_ms, Some(2000));
        s.remove(2).unwrap();
        s.remove(3).unwrap();
        assert_eq!(s.stats().bytes, 0);
        drop(s);
        let (s, _) = SledOutbox::open(&path).unwrap();
        assert_eq!(s.next_seq(), 4, "the high-water mark outlives the records");
    }

    #[test]
    fn drops_count_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        {
            let (s, _) = SledOutbox::open(&path).unwrap();
            s.append(&[rec(1, Class::Alert), rec(2, Class::Summary)])
                .unwrap();
            assert_eq!(s.drop_oldest(Class::Summary).unwrap().unwrap().seq, 2);
            assert_eq!(s.drop_oldest(Class::Summary).unwrap(), None);
            s.flush().unwrap();
        }
        let (s, _) = SledOutbox::open(&path).unwrap();
        let st = s.stats();
        assert_eq!(
            (st.dropped_summaries, st.dropped_alerts, st.pending()),
            (1, 0, 1)
        );
    }

    #[test]
    fn a_second_opener_gets_a_clear_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let _first = SledOutbox::open(&path).unwrap();
        let err = SledOutbox::open(&path).err().unwrap();
        assert!(matches!(err, OutboxError::Locked { .. }), "{err}");
    }

    #[test]
    fn an_unreadable_store_is_moved_aside_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("conf"), b"this is not a sled config").unwrap();
        std::fs::write(path.join("db"), vec![0xAB; 4096]).unwrap();
        let (s, outcome) = SledOutbox::open(&path).unwrap();
        let OpenOutcome::Reset { moved_to, reason } = outcome else {
            panic!("expected a reset, got {outcome:?}");
        };
        assert!(
            moved_to.join("db").is_file(),
            "old store kept for inspection"
        );
        assert!(!reason.is_empty());
        s.append(&[rec(1, Class::Alert)]).unwrap();
        s.flush().unwrap();
    }

    #[test]
    fn a_record_that_does_not_decode_is_quarantined_not_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = SledOutbox::open(&dir.path().join("outbox")).unwrap();
        s.append(&[rec(1, Class::Summary), rec(2, Class::Summary)])
            .unwrap();
        s.with(|t| t.summaries.insert(Record::key(1), &[9u8, 9, 9][..]))
            .unwrap();
        assert_eq!(s.first_from(0).unwrap().unwrap().seq, 2);
        assert_eq!(s.stats().quarantined, 1);
        assert_eq!(s.dump().unwrap().quarantined[0].0, 1);
    }
}
