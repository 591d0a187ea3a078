//! Installed models on disk, and which one each slot runs. Every change is made so that a power
//! cut at any instant leaves either the old state or the new one: a model's files are written to
//! a fresh version folder and synced before `state.json` (the one thing that says what is active)
//! is replaced by write, fsync, rename, fsync of the folder. The anti-rollback floor lives in the
//! same file, so it survives restarts and can only go up.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::manifest::UpdateManifest;
use crate::detect::manifest::Manifest;

pub const STATE_FILE: &str = "state.json";
const MODEL_FILE: &str = "model.onnx";
const MANIFEST_FILE: &str = "manifest.toml";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt ({message}); installed models are left as they are")]
    Corrupt { path: PathBuf, message: String },
    #[error("slot {0:?} has no previous model to roll back to")]
    NoPrevious(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.into(),
        source,
    }
}

/// One installed model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    pub name: String,
    pub version: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotState {
    /// The highest version ever activated: updates must be above it.
    pub floor: u64,
    pub active: Option<Installed>,
    /// Kept on disk for rollback.
    pub previous: Option<Installed>,
    /// The active model was installed over the network and has not passed its health gate yet.
    /// An agent that starts and finds this set was interrupted during the trial, and rolls back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trial: bool,
    /// A version being staged and tried by the canary. An agent that starts and finds this set
    /// crashed or lost power there; the version is discarded and never tried again, so a model
    /// that crashes ONNX Runtime cannot put the agent in a crash loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreState {
    pub slots: BTreeMap<String, SlotState>,
}

impl StoreState {
    pub fn floors(&self) -> BTreeMap<String, u64> {
        self.slots
            .iter()
            .map(|(slot, s)| (slot.clone(), s.floor))
            .collect()
    }
}

pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Self { dir: dir.into() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state as last committed; a store never written to is empty.
    pub fn state(&self) -> Result<StoreState, StoreError> {
        let path = self.dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreState::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn version_dir(&self, slot: &str, version: u64) -> PathBuf {
        self.dir.join(slot).join(version.to_string())
    }

    /// The model manifest the detector loads for a slot's active model, if one is installed.
    pub fn active_manifest(&self, slot: &str) -> Result<Option<PathBuf>, StoreError> {
        Ok(self.state()?.slots.get(slot).and_then(|s| {
            s.active
                .as_ref()
                .map(|a| self.version_dir(slot, a.version).join(MANIFEST_FILE))
        }))
    }

    /// Writes a verified model into its own version folder, synced, without making it active;
    /// returns the manifest the detector (and the canary) loads it from. The version is recorded
    /// as staging first, so a crash from here to activation is noticed at the next start.
    pub fn stage(&self, m: &UpdateManifest, model: &[u8]) -> Result<PathBuf, StoreError> {
        let mut state = self.state()?;
        state.slots.entry(m.slot.clone()).or_default().staging = Some(m.version);
        self.commit(&state)?;
        let dir = self.version_dir(&m.slot, m.version);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let manifest = Manifest {
            name: m.name.clone(),
            version: m.version,
            onnx: MODEL_FILE.into(),
            sha256: m.sha256.clone(),
            input: m.input.clone(),
            output: m.output.clone(),
        };
        let path = dir.join(MANIFEST_FILE);
        let text = toml::to_string(&manifest).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_synced(&dir.join(MODEL_FILE), model)?;
        write_synced(&path, text.as_bytes())?;
        sync_dir(&dir)?;
        Ok(path)
    }

    /// Removes a staged version that failed (or was interrupted in) its canary. With `refuse`,
    /// the floor rises to it, so it is never tried again.
    pub fn discard(&self, slot: &str, version: u64, refuse: bool) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let s = state.slots.entry(slot.to_string()).or_default();
        s.staging = None;
        if refuse {
            s.floor = s.floor.max(version);
        }
        self.commit(&state)?;
        let dir = self.version_dir(slot, version);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&dir)(e)),
            _ => Ok(()),
        }
    }

    /// Makes a staged model the slot's active one (one atomic rename); the one it replaces
    /// becomes `previous`, older ones are removed. `trial`: the model still has to pass the
    /// health gate ([`Self::commit_trial`]). Returns the new state.
    pub fn activate(&self, m: &UpdateManifest, trial: bool) -> Result<StoreState, StoreError> {
        let mut state = self.state()?;
        let slot = state.slots.entry(m.slot.clone()).or_default();
        slot.previous = slot.active.take();
        slot.active = Some(Installed {
            name: m.name.clone(),
            version: m.version,
            sha256: m.sha256.clone(),
        });
        slot.floor = slot.floor.max(m.version);
        slot.staging = None;
        slot.trial = trial;
        self.commit(&state)?;
        self.prune(&m.slot, &state)?;
        Ok(state)
    }

    /// The model on trial passed its health gate.
    pub fn commit_trial(&self, slot: &str) -> Result<StoreState, StoreError> {
        let mut state = self.state()?;
        state.slots.entry(slot.to_string()).or_default().trial = false;
        self.commit(&state)?;
        Ok(state)
    }

    /// Makes the previous model active again (the new one failed its health gate); with no
    /// previous update, the slot goes back to the configured model. The floor stays where it
    /// is: the failed version can never be installed again, only a newer one.
    pub fn rollback(&self, slot: &str) -> Result<StoreState, StoreError> {
        let mut state = self.state()?;
        let s = state.slots.entry(slot.to_string()).or_default();
        if s.active.is_none() {
            return Err(StoreError::NoPrevious(slot.into()));
        }
        s.active = s.previous.take();
        s.trial = false;
        self.commit(&state)?;
        Ok(state)
    }

    fn commit(&self, state: &StoreState) -> Result<(), StoreError> {
        let path = self.dir.join(STATE_FILE);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StoreError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_synced(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&self.dir)
    }

    /// Removes version folders of the slot that are neither active nor previous.
    fn prune(&self, slot: &str, state: &StoreState) -> Result<(), StoreError> {
        let keep: Vec<u64> = state
            .slots
            .get(slot)
            .map(|s| {
                s.active
                    .iter()
                    .chain(&s.previous)
                    .map(|i| i.version)
                    .collect()
            })
            .unwrap_or_default();
        let slot_dir = self.dir.join(slot);
        for entry in std::fs::read_dir(&slot_dir).map_err(io(&slot_dir))? {
            let path = entry.map_err(io(&slot_dir))?.path();
            let stale = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|v| !keep.contains(&v));
            if stale {
                std::fs::remove_dir_all(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ota::bundle::{self, Release};
    use crate::ota::manifest::Targets;
    use crate::ota::onnx::tests::model;

    fn update(version: u64) -> (UpdateManifest, Vec<u8>) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/nanodet-m-416/manifest.toml");
        let base: Manifest = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let onnx = model("input_1:0", &[1, 3, 416, version as i64], None);
        let release = Release {
            slot: "person".into(),
            version,
            expires_unix_s: u64::MAX,
            targets: Targets {
                devices: vec!["*".into()],
                sites: vec!["*".into()],
            },
            url: None,
            min_agent_version: "0.1.0".into(),
        };
        (bundle::manifest_for(&onnx, &base, release), onnx)
    }

    #[test]
    fn install_keeps_one_previous_raises_the_floor_and_rollback_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        assert_eq!(store.state().unwrap(), StoreState::default());
        for v in [2, 3, 4] {
            let (m, onnx) = update(v);
            store.stage(&m, &onnx).unwrap();
            store.activate(&m, false).unwrap();
        }
        let s = store.state().unwrap();
        let slot = &s.slots["person"];
        assert_eq!(
            (
                slot.floor,
                slot.active.as_ref().unwrap().version,
                slot.previous.as_ref().unwrap().version
            ),
            (4, 4, 3)
        );
        assert!(!dir.path().join("person/2").exists(), "version 2 pruned");
        let manifest = store.active_manifest("person").unwrap().unwrap();
        assert!(manifest.ends_with("person/4/manifest.toml"));
        assert!(Manifest::load(&manifest).is_ok());

        let s = store.rollback("person").unwrap();
        let slot = &s.slots["person"];
        assert_eq!((slot.floor, slot.active.as_ref().unwrap().version), (4, 3));
        assert!(slot.previous.is_none());
        // Reopened (a restart): the same state.
        let again = ModelStore::open(dir.path()).unwrap().state().unwrap();
        assert_eq!(again, s);
        // Back to the configured model, then nothing is left to roll back from.
        let s = store.rollback("person").unwrap();
        assert!(s.slots["person"].active.is_none());
        assert!(store.active_manifest("person").unwrap().is_none());
        assert!(matches!(
            store.rollback("person"),
            Err(StoreError::NoPrevious(_))
        ));
    }

    #[test]
    fn staging_and_trial_are_recorded_until_settled() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::open(dir.path()).unwrap();
        let (m, onnx) = update(2);
        store.stage(&m, &onnx).unwrap();
        assert_eq!(store.state().unwrap().slots["person"].staging, Some(2));
        store.discard("person", 2, true).unwrap();
        let s = store.state().unwrap();
        assert_eq!(
            (s.slots["person"].staging, s.slots["person"].floor),
            (None, 2)
        );
        assert!(!dir.path().join("person/2").exists());

        let (m, onnx) = update(3);
        store.stage(&m, &onnx).unwrap();
        let s = store.activate(&m, true).unwrap();
        assert!(s.slots["person"].trial && s.slots["person"].staging.is_none());
        let s = store.commit_trial("person").unwrap();
        assert!(!s.slots["person"].trial);
        let text = std::fs::read_to_string(dir.path().join(STATE_FILE)).unwrap();
        assert!(
            !text.contains("trial") && !text.contains("staging"),
            "{text}"
        );
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STATE_FILE), b"{ half").unwrap();
        let err = ModelStore::open(dir.path()).unwrap().state().unwrap_err();
        assert!(err.to_string().contains("state.json is corrupt"), "{err}");
    }
}
