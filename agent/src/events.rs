//! The events the agent produces for store ops: periodic summaries and alerts. These types are
//! the contract with consumers; `docs/events.schema.json` is generated from them (`aisle
//! events-schema`) and a test keeps the two equal. Bump `SCHEMA_VERSION` on any breaking change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analytics::rules::Severity;
use crate::analytics::zones::ZoneMetrics;

pub const SCHEMA_VERSION: u32 = 1;

/// One event as it leaves the analytics, addressed to a device, site and camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub schema_version: u32,
    pub device_id: String,
    pub site: String,
    pub camera: String,
    /// Milliseconds: since the Unix epoch live, since the start of the video in replay.
    pub ts_ms: u64,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Summary(Summary),
    Alert(Alert),
}

/// What a camera saw over one summary window. Counts and durations only: no boxes, no track ids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub window_start_ms: u64,
    pub window_end_ms: u64,
    /// Frames analysed in the window.
    pub frames: u64,
    pub zones: Vec<ZoneSummary>,
    pub health: CameraHealth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneSummary {
    pub zone: String,
    #[serde(flatten)]
    pub metrics: ZoneMetrics,
}

/// The camera's state at the end of the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraHealth {
    pub connected: bool,
    pub fps_in: f64,
    pub fps_out: f64,
    pub dropped: u64,
    pub reconnects: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Raised,
    Cleared,
}

/// An alert raised or cleared by a rule, or by the agent itself (`camera_down`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Same id on the raise and the clear of one occurrence.
    pub alert_id: String,
    pub rule: String,
    pub severity: Severity,
    pub state: AlertState,
    pub zone: Option<String>,
    pub metric: Option<String>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
}

/// The JSON Schema of [`Event`], pretty-printed.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Event);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
