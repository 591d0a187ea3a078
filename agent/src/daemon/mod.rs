//! `aisle run`: cameras → detector → analytics on the calling thread, events into the durable
//! outbox (its own writer thread), the outbox to the broker (the publisher thread), health and
//! metrics once a second. Shutdown runs back to front: the pipeline stops, the writer flushes
//! what it holds, the publisher sends what it can within a grace period and says goodbye.
//!
//! The vision loop's sink is a row of named stages, each in its own file: the [`Supervisor`]
//! (watchdog), the [`ModelSlot`] (swaps, the health gate, canary frames), the store's analytics
//! ([`StoreAnalytics`], shared with `replay` and `snapshot`), [`Delivery`] and [`Telemetry`].

mod delivery;
mod model_slot;
mod supervisor;
mod telemetry;
mod updates;

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::detect::{Detector, DetectorOptions};
use crate::events::{Payload, UpdateEvent};
use crate::metrics;
use crate::mqtt::TlsError;
use crate::outbox::OutboxError;
use crate::pipeline::{self, Event, PipelineError, PipelineReport};
use crate::shelf::Shelves;
use crate::source::SpecError;
use crate::store_analytics::{Seen, StageError, StoreAnalytics};
use delivery::Delivery;
use model_slot::ModelSlot;
use supervisor::Supervisor;
use telemetry::Telemetry;
use updates::Updates;

#[derive(Debug, Error)]
pub enum DaemonError {
    #[error(transparent)]
    Source(#[from] SpecError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
}

/// The model the agent starts on.
pub struct StartModel {
    pub detector: Detector,
    /// Its manifest: the canary times updates against it.
    pub path: std::path::PathBuf,
    /// The config's own model, which serves again when the first update is rolled back.
    pub configured: std::path::PathBuf,
    pub options: DetectorOptions,
    /// Updates that a restart interrupted, undone before this start (`ota::recover`).
    pub recovered: Vec<UpdateEvent>,
}

/// Runs the agent until `stop` is set or every camera (recordings) has ended.
pub fn run(
    cfg: &Config,
    model: StartModel,
    stop: &Arc<AtomicBool>,
) -> Result<PipelineReport, DaemonError> {
    let inputs = cfg.camera_inputs()?;
    // Metrics are for people looking in; a taken port must not stop the store's analytics.
    if let Some(addr) = cfg.metrics.listen {
        match metrics::install(addr) {
            Ok(()) => tracing::info!(%addr, "metrics endpoint up"),
            Err(e) => tracing::error!(error = %e, "metrics endpoint off"),
        }
    }
    let started = Instant::now();
    let health_every = Duration::from_secs_f64(cfg.pipeline.health_interval_s);
    let mut telemetry = Telemetry::new(&inputs, health_every, started);
    let networked = cfg.ota.is_some() && cfg.mqtt.is_some();
    let (offer_tx, offer_rx) = crossbeam_channel::bounded(4);
    let delivery = Delivery::start(
        cfg,
        &model.detector,
        telemetry.statuses(),
        networked.then_some(offer_tx),
    )?;
    let mut recovered: Vec<Payload> = model
        .recovered
        .iter()
        .cloned()
        .map(Payload::Update)
        .collect();
    delivery.send(None, &mut recovered, SystemClock.now_ms());
    let (swap_tx, swaps) = crossbeam_channel::bounded(1);
    let (verdict_tx, verdict_rx) = crossbeam_channel::unbounded();
    let trial_frames = cfg.ota.as_ref().map_or(100, |o| o.trial_frames);
    let mut slot = ModelSlot::new(
        model.detector.manifest().version,
        trial_frames,
        inputs.len(),
        networked,
        verdict_tx,
    );
    let updates = networked
        .then(|| {
            Updates::start(
                cfg,
                &model,
                slot.recent(),
                delivery.events(),
                offer_rx,
                verdict_rx,
                swap_tx,
            )
        })
        .flatten();
    let mut detector = model.detector;
    tracing::info!(device = %cfg.agent.device_id, site = %cfg.agent.site, model = %detector.manifest().name, model_version = detector.manifest().version, cameras = inputs.len(), outbox = %cfg.outbox.path.display(), broker = cfg.mqtt.as_ref().map(|m| format!("{}:{}", m.host, m.port)), "agent started");
    // Shelves that cannot be watched (no reference, no model) leave the people analytics on.
    let shelves = cfg.shelves().unwrap_or_else(|e| {
        tracing::error!(error = %e, "shelf watch off");
        Shelves::none()
    });
    let mut store = StoreAnalytics::new(cfg.camera_analytics(), shelves);
    let mut supervisor = Supervisor::new(started);
    let clock = SystemClock;
    let mut payloads = Vec::new();
    let records = telemetry.camera_records().to_vec();
    let report = pipeline::run(
        &inputs,
        &mut detector,
        &swaps,
        cfg.pipeline.queue_capacity,
        stop,
        &records,
        |event| {
            supervisor.beat();
            let now = clock.now_ms();
            slot.on_event(&event, &delivery.status)?;
            if let Event::Frame(p) = &event {
                let camera = inputs[p.camera].settings.id.as_str();
                telemetry.inferred(p.inference);
                tracing::debug!(
                    camera,
                    frame = p.frame.index,
                    people = p.detections.len(),
                    inference_ms = p.inference.as_secs_f64() * 1e3,
                    "frame"
                );
                let view = p.frame.view();
                let seen = Seen::Frame(&view, p.detections);
                match store.on_frame(p.camera, now, seen, &mut payloads) {
                    Ok(()) => {}
                    Err(e @ StageError::Shelves(_)) => {
                        tracing::error!(camera, error = %e, "shelf watch off for this camera");
                    }
                    Err(e @ StageError::Zones(_)) => {
                        tracing::error!(camera, error = %e, "zones do not fit this camera's frames; its zones are off");
                    }
                }
                delivery.send(Some(camera), &mut payloads, now);
            }
            telemetry.tick(now, &delivery, &slot);
            for (i, input) in inputs.iter().enumerate() {
                let health = telemetry.camera_health(i);
                store.on_tick(i, now, telemetry.camera_up(i), &health, &mut payloads);
                delivery.send(Some(&input.settings.id), &mut payloads, now);
            }
            ControlFlow::Continue(())
        },
    );
    supervisor.stopping();
    // The last, partial window of each camera: a stop loses no counted minute.
    let now = clock.now_ms();
    for (i, input) in inputs.iter().enumerate() {
        store.finish(i, now, &telemetry.camera_health(i), &mut payloads);
        delivery.send(Some(&input.settings.id), &mut payloads, now);
    }
    // The update thread holds a writer handle: it stops before the writer flushes.
    if let Some(u) = updates {
        u.stop();
    }
    delivery.stop();
    Ok(report?)
}
