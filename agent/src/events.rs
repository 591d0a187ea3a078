//! The agent's side of the event contract: the types live in `aisle-proto` (shared with the
//! hub); numbering events is the agent's alone.

pub use aisle_proto::event::*;

/// Gives events their identity: the one place that numbers them.
#[derive(Debug, Clone)]
pub struct Sequencer {
    device_id: String,
    site: String,
    store_id: String,
    next_seq: u64,
}

impl Sequencer {
    pub fn new(device_id: &str, site: &str, store_id: &str, next_seq: u64) -> Self {
        Self {
            device_id: device_id.into(),
            site: site.into(),
            store_id: store_id.into(),
            next_seq,
        }
    }

    pub fn stamp(&mut self, camera: Option<&str>, ts_ms: u64, payload: Payload) -> Event {
        let seq = self.next_seq;
        self.next_seq += 1;
        Event {
            schema_version: SCHEMA_VERSION,
            event_id: format!("{}:{seq}", self.store_id),
            device_id: self.device_id.clone(),
            site: self.site.clone(),
            seq,
            camera: camera.map(str::to_string),
            ts_ms,
            payload,
        }
    }
}
