//! What `aisle outbox stats|dump` read: a copy of a stopped agent's store, removed when done, so
//! inspecting never changes the store itself.

use std::path::{Path, PathBuf};

use super::{Record, SledOutbox};

/// What `aisle outbox dump` shows.
pub struct Dump {
    pub records: Vec<Record>,
    /// Raw values that no longer decode, by sequence number.
    pub quarantined: Vec<(u64, Vec<u8>)>,
}

/// A store opened by [`SledOutbox::inspect`]; the copy is removed when it is dropped.
pub struct Inspected {
    pub(super) store: Option<SledOutbox>,
    pub(super) copy: PathBuf,
}

impl Inspected {
    pub fn store(&self) -> &SledOutbox {
        // Set for the whole life of a returned `Inspected`; taken only in `drop`.
        self.store
            .as_ref()
            .expect("an inspected store is open until dropped")
    }
}

impl Drop for Inspected {
    fn drop(&mut self) {
        drop(self.store.take());
        let _ = std::fs::remove_dir_all(&self.copy);
        let _ = std::fs::remove_file(format!("{}.lock", self.copy.display()));
    }
}

pub(super) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
