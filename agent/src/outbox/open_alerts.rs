//! The open-alert ledger beside the outbox's records: every camera alert stored raised and not yet
//! stored cleared, by `alert_id`, written in the same `append` as the records, so a restarted
//! agent takes its alerts back whether or not the broker had them.

use super::{Class, Record};
use crate::events::{AlertState, Event, Payload};

/// What `records` do to the open camera alerts: a raise is kept (the event as stored), a clear
/// removes it. Records that are not camera alerts, or do not parse, change nothing.
pub(super) fn open_alert_changes(records: &[Record]) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for r in records.iter().filter(|r| r.class == Class::Alert) {
        let Ok(event) = serde_json::from_slice::<Event>(&r.payload) else {
            continue;
        };
        if let (Some(_), Payload::Alert(a)) = (&event.camera, &event.payload) {
            match a.state {
                AlertState::Raised => batch.insert(a.alert_id.as_bytes(), r.payload.as_slice()),
                AlertState::Cleared => batch.remove(a.alert_id.as_bytes()),
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Outbox, SledOutbox};

    fn alert_rec(seq: u64, camera: Option<&str>, id: &str, state: AlertState) -> Record {
        let event = Event {
            schema_version: crate::events::SCHEMA_VERSION,
            event_id: format!("s:{seq}"),
            device_id: "gw".into(),
            site: "s".into(),
            seq,
            camera: camera.map(Into::into),
            ts_ms: seq,
            payload: Payload::Alert(crate::events::Alert {
                alert_id: id.into(),
                rule: "r".into(),
                severity: crate::events::Severity::Warning,
                state,
                zone: None,
                metric: None,
                value: None,
                threshold: None,
            }),
        };
        Record {
            seq,
            class: Class::Alert,
            ts_ms: seq,
            topic: "alert".into(),
            payload: serde_json::to_vec(&event).unwrap(),
        }
    }

    /// The open alerts outlive the records (the broker took them) and the store (a restart).
    #[test]
    fn open_camera_alerts_are_kept_until_their_clear_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        {
            let (s, _) = SledOutbox::open(&path).unwrap();
            s.append(&[
                alert_rec(1, Some("door"), "a", AlertState::Raised),
                alert_rec(2, Some("door"), "b", AlertState::Raised),
                alert_rec(3, None, "reset", AlertState::Raised),
                alert_rec(4, Some("door"), "a", AlertState::Cleared),
                Record {
                    seq: 5,
                    class: Class::Alert,
                    ts_ms: 5,
                    topic: "alert".into(),
                    payload: b"{\"seq\":5}".to_vec(),
                },
            ])
            .unwrap();
            s.flush().unwrap();
            for seq in 1..=5 {
                s.remove(seq).unwrap();
            }
            s.flush().unwrap();
        }
        let (s, _) = SledOutbox::open(&path).unwrap();
        let open: Vec<(Option<String>, u64)> = s
            .open_alerts()
            .unwrap()
            .into_iter()
            .map(|e| (e.camera, e.seq))
            .collect();
        assert_eq!(open, [(Some("door".to_string()), 2)]);
        s.append(&[alert_rec(6, Some("door"), "b", AlertState::Cleared)])
            .unwrap();
        assert!(s.open_alerts().unwrap().is_empty());
    }
}
