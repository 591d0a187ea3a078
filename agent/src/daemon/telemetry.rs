//! What the agent says about itself: once a second the metrics endpoint and the retained status
//! (cameras, model, outbox error), every `health_interval_s` a health event into the outbox; and
//! whether each camera counts as up, for the camera-down alert.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::delivery::Delivery;
use super::model_slot::ModelSlot;
use crate::events::{AgentHealth, CameraHealth as EventHealth, CameraStatus, Payload};
use crate::metrics;
use crate::pipeline::CameraInput;
use crate::source::{CameraHealth, HealthRates};
use crate::store_analytics::StoreAnalytics;

pub(super) struct Telemetry<'a> {
    inputs: &'a [CameraInput],
    /// Written by the sources, read here.
    health: Vec<Arc<CameraHealth>>,
    rates: Vec<HealthRates>,
    statuses: Vec<CameraStatus>,
    started: Instant,
    last_tick: Instant,
    last_health: Instant,
    health_every: Duration,
    inference_sum: Duration,
    inference_n: u32,
    /// Mean inference time over the last second that had frames.
    inference_ms: f64,
}

impl<'a> Telemetry<'a> {
    pub fn new(inputs: &'a [CameraInput], health_every: Duration, started: Instant) -> Self {
        let mut t = Self {
            inputs,
            health: inputs.iter().map(|_| Arc::default()).collect(),
            rates: inputs.iter().map(|_| HealthRates::default()).collect(),
            statuses: Vec::new(),
            started,
            last_tick: started,
            last_health: started,
            health_every,
            inference_sum: Duration::ZERO,
            inference_n: 0,
            inference_ms: 0.0,
        };
        t.statuses = t.read_cameras(started);
        t
    }

    /// The records the sources write their health into, one per camera.
    pub fn camera_records(&self) -> &[Arc<CameraHealth>] {
        &self.health
    }

    pub fn statuses(&self) -> &[CameraStatus] {
        &self.statuses
    }

    /// One frame's inference time.
    pub fn inferred(&mut self, took: Duration) {
        self.inference_sum += took;
        self.inference_n += 1;
    }

    /// Publishes metrics and status once a second, and a health event when one is due.
    pub fn tick(
        &mut self,
        now_ms: u64,
        delivery: &Delivery,
        model: &ModelSlot,
        store: &StoreAnalytics,
    ) {
        let tick = Instant::now();
        if tick.duration_since(self.last_tick) < Duration::from_secs(1) {
            return;
        }
        self.last_tick = tick;
        self.statuses = self.read_cameras(tick);
        if self.inference_n > 0 {
            self.inference_ms =
                self.inference_sum.as_secs_f64() * 1e3 / f64::from(self.inference_n);
            (self.inference_sum, self.inference_n) = (Duration::ZERO, 0);
        }
        let outbox = delivery.outbox_health(now_ms);
        let mqtt = delivery.mqtt_health();
        metrics::record(&metrics::Snapshot {
            cameras: &self.statuses,
            inference_ms: self.inference_ms,
            event_queue: delivery.backlog(),
            outbox: &outbox,
            mqtt: &mqtt,
            model_version: model.version(),
            model_on_trial: model.on_trial(),
        });
        if let Ok(mut s) = delivery.status.lock() {
            s.cameras.clone_from(&self.statuses);
            s.outbox_error.clone_from(&outbox.error);
        }
        if tick.duration_since(self.last_health) >= self.health_every {
            self.last_health = tick;
            crate::heap::give_back();
            for c in &self.statuses {
                tracing::info!(camera = %c.camera, connected = c.health.connected, fps_in = c.health.fps_in, fps_out = c.health.fps_out, dropped = c.health.dropped, reconnects = c.health.reconnects, error = c.error.as_deref(), "camera health");
            }
            let health = Payload::Health(AgentHealth {
                uptime_s: self.started.elapsed().as_secs(),
                cameras: self.statuses.clone(),
                inference_ms: self.inference_ms,
                outbox,
                mqtt,
                open_alerts: Some(store.open_alerts()),
            });
            delivery.send(None, &mut vec![health], now_ms);
        }
    }

    /// Down means no frame for longer than the stall timeout (with the same grace at start),
    /// not a momentary reconnect.
    pub fn camera_up(&self, camera: usize) -> bool {
        let s = self.health[camera].snapshot();
        let stall = self.inputs[camera].settings.stall_timeout.as_secs_f64();
        s.last_frame_age_s
            .map_or(self.started.elapsed().as_secs_f64() < stall, |age| {
                age < stall
            })
    }

    /// Camera `camera`'s health as of the last tick, for its summaries.
    pub fn camera_health(&self, camera: usize) -> EventHealth {
        self.statuses
            .get(camera)
            .map(|c| c.health)
            .unwrap_or_default()
    }

    fn read_cameras(&mut self, now: Instant) -> Vec<CameraStatus> {
        let mut out = Vec::with_capacity(self.inputs.len());
        for (i, input) in self.inputs.iter().enumerate() {
            let s = self.health[i].snapshot();
            let (fps_in, fps_out) = self.rates[i].update(now, &s);
            out.push(CameraStatus {
                camera: input.settings.id.clone(),
                health: EventHealth {
                    connected: s.connected,
                    fps_in,
                    fps_out,
                    dropped: s.dropped,
                    reconnects: s.reconnects,
                },
                error: s.last_error.filter(|_| !s.connected),
            });
        }
        out
    }
}
