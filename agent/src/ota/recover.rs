//! What a starting agent does about an update it was in the middle of. Decided from
//! `state.json` alone ([`plan`] is pure), so any crash or power cut leaves a state with exactly
//! one safe way forward: a version caught in its canary is discarded and never tried again, and
//! a model caught on trial is rolled back, because neither proved itself.

use super::store::{ModelStore, StoreError, StoreState};
use crate::events::{UpdateEvent, UpdateStep};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    DiscardStaged { slot: String, version: u64 },
    RollBack { slot: String, version: u64 },
}

pub fn plan(state: &StoreState) -> Vec<Recovery> {
    let mut out = Vec::new();
    for (slot, s) in &state.slots {
        if let Some(version) = s.staging {
            out.push(Recovery::DiscardStaged {
                slot: slot.clone(),
                version,
            });
        }
        if let Some(active) = s.active.as_ref().filter(|_| s.trial) {
            out.push(Recovery::RollBack {
                slot: slot.clone(),
                version: active.version,
            });
        }
    }
    out
}

/// Applies [`plan`] and returns the events that tell the fleet about it.
pub fn recover(store: &ModelStore) -> Result<Vec<UpdateEvent>, StoreError> {
    let mut events = Vec::new();
    for r in plan(&store.state()?) {
        let (step, slot, version) = match &r {
            Recovery::DiscardStaged { slot, version } => {
                store.discard(slot, *version, true)?;
                (UpdateStep::Rejected, slot, *version)
            }
            Recovery::RollBack { slot, version } => {
                store.rollback(slot)?;
                (UpdateStep::RolledBack, slot, *version)
            }
        };
        tracing::warn!(slot = %slot, version, step = ?step, "an update was interrupted by a restart");
        events.push(UpdateEvent {
            step,
            slot: Some(slot.clone()),
            model: None,
            version: Some(version),
            reason: Some("interrupted".into()),
            detail: Some("the agent stopped before the model proved itself".into()),
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ota::store::{Installed, SlotState};

    fn installed(version: u64) -> Option<Installed> {
        Some(Installed {
            name: "m".into(),
            version,
            sha256: "00".into(),
        })
    }

    #[test]
    fn only_unproven_models_are_undone() {
        let mut state = StoreState::default();
        state.slots.insert(
            "settled".into(),
            SlotState {
                floor: 3,
                active: installed(3),
                previous: installed(2),
                ..SlotState::default()
            },
        );
        assert!(plan(&state).is_empty());
        state.slots.insert(
            "person".into(),
            SlotState {
                floor: 5,
                active: installed(5),
                previous: installed(4),
                trial: true,
                staging: Some(6),
            },
        );
        assert_eq!(
            plan(&state),
            [
                Recovery::DiscardStaged {
                    slot: "person".into(),
                    version: 6
                },
                Recovery::RollBack {
                    slot: "person".into(),
                    version: 5
                }
            ]
        );
    }
}
