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

use crate::clock::{Clock, SystemClock, Timeline, wall_offset};
use crate::config::Config;
use crate::detect::{Detector, DetectorOptions};
use crate::events::{AlertState, Payload, UpdateEvent};
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
    resume_alerts(&delivery, &mut store);
    let mut supervisor = Supervisor::new(started);
    // The analytics run on the timeline, so windows and rule durations keep their pace when NTP
    // steps the wall clock; what is sent is stamped with the wall clock.
    let timeline = Timeline::start(&SystemClock);
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
            let (now, wall) = (timeline.now_ms(), SystemClock.now_ms());
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
                to_wall(&mut payloads, now, wall);
                delivery.send(Some(camera), &mut payloads, wall);
            }
            telemetry.tick(wall, &delivery, &slot, &store);
            for (i, input) in inputs.iter().enumerate() {
                let health = telemetry.camera_health(i);
                store.on_tick(i, now, telemetry.camera_up(i), &health, &mut payloads);
                to_wall(&mut payloads, now, wall);
                delivery.send(Some(&input.settings.id), &mut payloads, wall);
            }
            ControlFlow::Continue(())
        },
    );
    supervisor.stopping();
    // The last, partial window of each camera: a stop loses no counted minute.
    let (now, wall) = (timeline.now_ms(), SystemClock.now_ms());
    for (i, input) in inputs.iter().enumerate() {
        store.finish(i, now, &telemetry.camera_health(i), &mut payloads);
        to_wall(&mut payloads, now, wall);
        delivery.send(Some(&input.settings.id), &mut payloads, wall);
    }
    // The update thread holds a writer handle: it stops before the writer flushes.
    if let Some(u) = updates {
        u.stop();
    }
    delivery.stop();
    Ok(report?)
}

/// Gives the analytics back the camera alerts that were open when the agent stopped; those no
/// enabled camera's rule raises any more (a rule or camera removed from the config) are cleared
/// now, under their ids.
fn resume_alerts(delivery: &Delivery, store: &mut StoreAnalytics) {
    for event in delivery.open_alerts() {
        let (Some(camera), Payload::Alert(mut alert)) = (event.camera, event.payload) else {
            continue;
        };
        if store.resume(&camera, &alert) {
            tracing::info!(camera, alert_id = %alert.alert_id, rule = %alert.rule, "alert open before the restart taken back");
            continue;
        }
        tracing::info!(camera, alert_id = %alert.alert_id, rule = %alert.rule, "alert open before the restart has no rule any more; cleared");
        alert.state = AlertState::Cleared;
        alert.value = None;
        delivery.send(
            Some(&camera),
            &mut vec![Payload::Alert(alert)],
            SystemClock.now_ms(),
        );
    }
}

/// Payloads the analytics made at timeline time `now`, moved to the wall clock's `wall`.
fn to_wall(payloads: &mut [Payload], now: u64, wall: u64) {
    let offset = wall_offset(now, wall);
    for p in payloads {
        p.rebase(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::camera::{AnalyticsConfig, CameraAnalytics};
    use crate::events::CameraHealth;

    /// The daemon's clocks with the wall clock stepped by NTP: an hour back after 30 s, two
    /// hours forward after 60 s. Summaries keep one per window on the timeline, and each is
    /// stamped with the wall clock of the moment it is sent.
    #[test]
    fn summaries_keep_their_pace_and_take_the_wall_clock_across_steps() {
        let cfg = AnalyticsConfig {
            summary_interval_s: 10.0,
            ..AnalyticsConfig::default()
        };
        let mut cam = CameraAnalytics::new("door", Vec::new(), Vec::new(), &cfg);
        let start = 1_700_000_000_000u64;
        let mut sent = Vec::new();
        for s in 0..=90u64 {
            let now = start + s * 1000;
            let step: i64 = match s {
                0..30 => 0,
                30..60 => -3_600_000,
                _ => 3_600_000,
            };
            let wall = now.saturating_add_signed(step);
            let mut out = Vec::new();
            cam.on_frame(now, 100, 100, &[], &mut out).unwrap();
            cam.on_tick(now, true, &CameraHealth::default(), &mut out);
            to_wall(&mut out, now, wall);
            sent.extend(out.into_iter().filter_map(|p| match p {
                Payload::Summary(x) => Some((wall, x.window_start_ms, x.window_end_ms)),
                _ => None,
            }));
        }
        assert_eq!(sent.len(), 9, "one summary per 10 s window: {sent:?}");
        for (wall, from, to) in &sent {
            assert_eq!(to - from, 10_000);
            assert_eq!(to, wall, "stamped with the wall clock when sent");
        }
        assert!(sent[2].2 < sent[1].2, "the hour back shows in the stamps");
        assert!(sent[5].2 > sent[4].2 + 3_600_000, "and the step forward");
    }
}
