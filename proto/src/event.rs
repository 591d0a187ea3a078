//! The events a gateway publishes: periodic summaries, alerts, health and update steps, and its
//! retained status. The agent writes them and the hub reads them with these same types, so a
//! renamed field fails to compile on both sides instead of blanking a page;
//! `docs/events.schema.json` is generated from them (`aisle events-schema`) and a test keeps the
//! two equal. Bump `SCHEMA_VERSION` on any breaking change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 3;

/// Ordered from the least to the most urgent, so a receiver can ask for "warning and above".
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
}

impl Level {
    pub fn value(self) -> f64 {
        self as u8 as f64
    }
}

/// A zone's metrics for one summary window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ZoneMetrics {
    Area {
        occupancy_mean: f64,
        occupancy_max: u32,
        occupancy_last: u32,
        congestion: Level,
    },
    Line {
        r#in: u64,
        out: u64,
    },
    Queue {
        length_mean: f64,
        length_max: u32,
        length_last: u32,
        /// Measured waits (queue entry to service) of people served in the window.
        wait_p50_s: Option<f64>,
        wait_p90_s: Option<f64>,
        served: u64,
        abandoned: u64,
        service_rate_per_min: f64,
        /// Little's law: current length over the recent service rate.
        estimated_wait_s: Option<f64>,
    },
    Shelf {
        /// Share of the shelf stocked at the last sample: stocked cells count 1, low ones 0.5,
        /// over the cells read so far. `None` until a cell has been read.
        fill: Option<f64>,
        /// Lowest fill sampled in the window.
        fill_min: Option<f64>,
        /// Cells read empty at the last sample, as `r{level}b{bay}` from the top left.
        empty_cells: Vec<String>,
        low_cells: Vec<String>,
        /// Samples taken in the window, and cell readings skipped because a person was in front.
        samples: u64,
        occluded: u64,
    },
}

/// One event as it leaves the agent, addressed to a device, site and (for camera events) camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub schema_version: u32,
    /// Unique across devices and outbox resets (`{store_id}:{seq}`): consumers drop duplicates by
    /// it, because delivery is at least once.
    pub event_id: String,
    pub device_id: String,
    pub site: String,
    /// Numbers the device's events one by one in the order they were stored; a gap means events
    /// the outbox had to drop, and the drop counters in `health` say how many.
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// Milliseconds: since the Unix epoch live, since the start of the video in replay.
    pub ts_ms: u64,
    pub payload: Payload,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    Summary(Summary),
    Alert(Alert),
    Health(AgentHealth),
    Update(UpdateEvent),
}

impl Payload {
    /// Alerts are what store ops act on and update steps what fleet admins act on: both are
    /// flushed to disk at once and are the last thing a full outbox gives up.
    pub fn is_urgent(&self) -> bool {
        matches!(self, Payload::Alert(_) | Payload::Update(_))
    }
}

impl Payload {
    /// Moves the times a payload carries (a summary's window) by `offset_ms`: from the timeline
    /// the analytics run on to the wall clock the event is stamped with.
    pub fn rebase(&mut self, offset_ms: i64) {
        if let Payload::Summary(s) = self {
            let shift = |t: u64| t.saturating_add_signed(offset_ms);
            s.window_start_ms = shift(s.window_start_ms);
            s.window_end_ms = shift(s.window_end_ms);
        }
    }
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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

/// One step of a model update (docs/ota.md), so a fleet admin sees every gateway's progress and
/// every refusal with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEvent {
    pub step: UpdateStep,
    /// Absent when the update was refused before its manifest could be trusted.
    pub slot: Option<String>,
    pub model: Option<String>,
    pub version: Option<u64>,
    /// Why a step failed, as a short code (`bad_signature`, `downgrade`, `canary`, …).
    pub reason: Option<String>,
    /// The failure in words, for people.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStep {
    /// The manifest verified; the artifact is being fetched.
    Downloading,
    /// The artifact matched the manifest and the ONNX checks passed.
    Verified,
    /// Refused; the active model is unchanged.
    Rejected,
    /// Passed its canary and serves frames, on trial until the health gate passes.
    Active,
    /// Passed the health gate: the update is complete.
    Committed,
    /// Failed the health gate (or was interrupted on trial): the previous model serves again.
    RolledBack,
}

/// The agent's own health, published every health interval: what support looks at first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentHealth {
    pub uptime_s: u64,
    pub cameras: Vec<CameraStatus>,
    /// Mean inference time per frame since the last health event.
    pub inference_ms: f64,
    pub outbox: OutboxHealth,
    pub mqtt: MqttHealth,
    /// The ids of the camera alerts open on the gateway as this event was made. A receiver
    /// closes any other camera alert of the gateway raised before it, whose clear it never got
    /// (an outbox lost to a damaged disk). Absent from agents that do not report it: then
    /// nothing is known, not "none open".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_alerts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraStatus {
    pub camera: String,
    #[serde(flatten)]
    pub health: CameraHealth,
    /// Why the camera is not streaming, while it is not: the last error of its (re)connection
    /// attempts, e.g. a device that does not exist or a refused connection. A camera down with
    /// the same error for hours will not come back by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The durable buffer between the analytics and the broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxHealth {
    /// Events stored and not yet acknowledged by the broker.
    pub pending: u64,
    pub bytes: u64,
    pub oldest_age_s: Option<f64>,
    /// Summaries and health events given up to stay within the size and age limits (since the
    /// store was created).
    pub dropped_summaries: u64,
    /// Alerts given up: only when the store is full of alerts alone, or they outlived the age
    /// limit.
    pub dropped_alerts: u64,
    /// Events that could not be stored at all (I/O error, disk full) since start.
    pub lost_unstored: u64,
    /// The last storage error, until a write succeeds again.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttHealth {
    pub connected: bool,
    pub reconnects: u64,
    pub published: u64,
    pub last_error: Option<String>,
}

/// The retained document on `{prefix}/status`: the device as it is now. The broker publishes the
/// `offline` form as the last will when the agent vanishes; the agent sends it itself on a clean
/// shutdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Status {
    /// `online` or `offline`.
    pub state: String,
    pub device_id: String,
    pub site: String,
    /// The agent's version.
    pub version: String,
    pub model: String,
    pub model_version: u64,
    pub ts_ms: u64,
    pub cameras: Vec<CameraStatus>,
    /// Set while the outbox cannot write (disk full, I/O errors).
    pub outbox_error: Option<String>,
}

/// The JSON Schema of [`Event`], pretty-printed.
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(Event);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
