//! The local Prometheus endpoint for store ops and support (`metrics` facade, exported by
//! `metrics-exporter-prometheus`). Figures only: the same counts that go into health events.

use std::net::SocketAddr;

use metrics::{counter, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use thiserror::Error;

use crate::events::{CameraStatus, MqttHealth, OutboxHealth};

#[derive(Debug, Error)]
#[error("metrics endpoint {addr}: {reason}")]
pub struct MetricsError {
    addr: SocketAddr,
    reason: String,
}

/// Serves `/metrics` on `addr` from a background thread.
pub fn install(addr: SocketAddr) -> Result<(), MetricsError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| MetricsError {
            addr,
            reason: e.to_string(),
        })
}

/// The latest figures, set once a second; without an installed exporter these are no-ops.
pub struct Snapshot<'a> {
    pub cameras: &'a [CameraStatus],
    pub inference_ms: f64,
    pub event_queue: usize,
    pub outbox: &'a OutboxHealth,
    pub mqtt: &'a MqttHealth,
    /// The serving model's version, and whether it is on trial after an update.
    pub model_version: u64,
    pub model_on_trial: bool,
}

pub fn record(s: &Snapshot<'_>) {
    for c in s.cameras {
        let cam = c.camera.clone();
        gauge!("aisle_camera_connected", "camera" => cam.clone())
            .set(f64::from(u8::from(c.health.connected)));
        gauge!("aisle_camera_fps_in", "camera" => cam.clone()).set(c.health.fps_in);
        gauge!("aisle_camera_fps_out", "camera" => cam.clone()).set(c.health.fps_out);
        counter!("aisle_camera_frames_dropped_total", "camera" => cam.clone())
            .absolute(c.health.dropped);
        counter!("aisle_camera_reconnects_total", "camera" => cam).absolute(c.health.reconnects);
    }
    gauge!("aisle_inference_ms").set(s.inference_ms);
    gauge!("aisle_model_version").set(s.model_version as f64);
    gauge!("aisle_model_on_trial").set(f64::from(u8::from(s.model_on_trial)));
    gauge!("aisle_event_queue_depth").set(s.event_queue as f64);
    let o = s.outbox;
    gauge!("aisle_outbox_pending").set(o.pending as f64);
    gauge!("aisle_outbox_bytes").set(o.bytes as f64);
    gauge!("aisle_outbox_oldest_age_seconds").set(o.oldest_age_s.unwrap_or(0.0));
    counter!("aisle_outbox_dropped_total", "class" => "summary").absolute(o.dropped_summaries);
    counter!("aisle_outbox_dropped_total", "class" => "alert").absolute(o.dropped_alerts);
    counter!("aisle_outbox_lost_unstored_total").absolute(o.lost_unstored);
    gauge!("aisle_outbox_error").set(f64::from(u8::from(o.error.is_some())));
    gauge!("aisle_mqtt_connected").set(f64::from(u8::from(s.mqtt.connected)));
    counter!("aisle_mqtt_reconnects_total").absolute(s.mqtt.reconnects);
    counter!("aisle_mqtt_published_total").absolute(s.mqtt.published);
}
