//! `aisle run`: cameras → detector → analytics on the calling thread, events into the durable
//! outbox (its own writer thread), the outbox to the broker (the publisher thread), health and
//! metrics once a second. Shutdown runs back to front: the pipeline stops, the writer flushes
//! what it holds, the publisher sends what it can within a grace period and says goodbye.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;

use crate::analytics::rules::Severity;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MqttSection};
use crate::detect::{Detector, DetectorOptions};
use crate::events::{
    AgentHealth, Alert, AlertState, CameraHealth as EventHealth, CameraStatus, MqttHealth,
    OutboxHealth, Payload, Status, UpdateEvent,
};
use crate::metrics;
use crate::mqtt::{self, Link, LinkSettings, MqttCounters, TlsError};
use crate::ota::canary::{RecentFrame, RecentFrames};
use crate::ota::gate::{Gate, GateSettings, OnError, Verdict};
use crate::ota::store::ModelStore;
use crate::ota::updater::{self, Channels};
use crate::ota::verify::Trust;
use crate::outbox::{
    Incoming, Limits, OpenOutcome, Outbox, OutboxCounters, OutboxError, SledOutbox, Writer,
    WriterHandle, spawn_writer,
};
use crate::pipeline::{
    self, CameraInput, Event as PipelineEvent, PipelineError, PipelineReport, Swap,
};
use crate::shelf::Shelves;
use crate::source::{CameraHealth, HealthRates, SpecError};
use crate::systemd::Notifier;

/// Events buffered between the vision loop and the outbox writer: hours of summaries.
const EVENT_QUEUE: usize = 4096;
/// How long a stopping agent keeps sending what the outbox holds.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

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

fn link_settings(cfg: &Config, m: &MqttSection) -> Result<LinkSettings, TlsError> {
    let client = m.client_cert.as_deref().zip(m.client_key.as_deref());
    Ok(LinkSettings {
        host: m.host.clone(),
        port: m.port,
        client_id: m
            .client_id
            .clone()
            .unwrap_or_else(|| cfg.agent.device_id.clone()),
        tls: mqtt::client_config(&m.ca_file, client)?,
        keep_alive: Duration::from_secs(m.keep_alive_s),
        backoff_min: Duration::from_secs_f64(m.reconnect_min_s),
        backoff_max: Duration::from_secs_f64(m.reconnect_max_s),
        prefix: format!(
            "{}/{}/{}",
            m.topic_prefix, cfg.agent.site, cfg.agent.device_id
        ),
        inflight: m.inflight,
    })
}

/// The parts of the agent that outlive one frame: where events go and how they are doing.
struct Delivery {
    store: Arc<SledOutbox>,
    outbox: Arc<OutboxCounters>,
    mqtt: Arc<MqttCounters>,
    events: WriterHandle,
    writer: std::thread::JoinHandle<()>,
    link: Option<Link>,
    status: Arc<Mutex<Status>>,
}

impl Delivery {
    fn start(
        cfg: &Config,
        detector: &Detector,
        cameras: &[CameraStatus],
        offers: Option<Sender<mqtt::Command>>,
    ) -> Result<Self, DaemonError> {
        let (store, opened) = SledOutbox::open(&cfg.outbox.path)?;
        let store = Arc::new(store);
        let outbox = Arc::new(OutboxCounters::default());
        let mqtt = Arc::new(MqttCounters::default());
        let status = Arc::new(Mutex::new(Status {
            state: "online".into(),
            device_id: cfg.agent.device_id.clone(),
            site: cfg.agent.site.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            model: detector.manifest().name.clone(),
            model_version: detector.manifest().version,
            cameras: cameras.to_vec(),
            ..Status::default()
        }));
        let link = match &cfg.mqtt {
            Some(m) => {
                let doc = status.clone();
                let status_fn: mqtt::StatusFn = Arc::new(move |online| {
                    let mut s = doc.lock().map(|d| d.clone()).unwrap_or_default();
                    s.state = if online { "online" } else { "offline" }.into();
                    s.ts_ms = SystemClock.now_ms();
                    serde_json::to_vec(&s).unwrap_or_default()
                });
                let every = Duration::from_secs_f64(cfg.pipeline.health_interval_s);
                let settings = link_settings(cfg, m)?;
                let parts = mqtt::PublisherParts {
                    settings,
                    store: store.clone(),
                    outbox: outbox.clone(),
                    mqtt: mqtt.clone(),
                    status: status_fn,
                    status_every: every,
                    commands: offers.map(crate::ota::offer::commands),
                };
                Some(mqtt::spawn_publisher(parts).map_err(DaemonError::Thread)?)
            }
            None => None,
        };
        let waker = link.as_ref().map(Link::waker);
        let limits = Limits {
            max_bytes: cfg.outbox.max_bytes,
            max_age_ms: (cfg.outbox.max_age_s * 1000.0) as u64,
        };
        let writer = Writer::new(
            store.clone(),
            &cfg.agent.device_id,
            &cfg.agent.site,
            limits,
            outbox.clone(),
        );
        let (events, writer) = spawn_writer(writer, EVENT_QUEUE, SystemClock, move |records| {
            for r in records {
                let event = String::from_utf8_lossy(&r.payload);
                tracing::info!(seq = r.seq, topic = %r.topic, event = %event, "event stored");
            }
            if let Some(w) = &waker {
                w.wake();
            }
        })
        .map_err(DaemonError::Thread)?;
        if let OpenOutcome::Reset { moved_to, reason } = opened {
            tracing::error!(path = %cfg.outbox.path.display(), moved_to = %moved_to.display(), reason = %reason, "outbox could not be opened; moved aside and started afresh");
            let now = SystemClock.now_ms();
            events.send(Incoming {
                camera: None,
                ts_ms: now,
                payload: Payload::Alert(Alert {
                    alert_id: format!("outbox_reset:{now}"),
                    rule: "outbox_reset".into(),
                    severity: Severity::Critical,
                    state: AlertState::Raised,
                    zone: None,
                    metric: None,
                    value: None,
                    threshold: None,
                }),
            });
        }
        Ok(Self {
            store,
            outbox,
            mqtt,
            events,
            writer,
            link,
            status,
        })
    }

    fn outbox_health(&self, now_ms: u64) -> OutboxHealth {
        let s = self.store.stats();
        OutboxHealth {
            pending: s.pending(),
            bytes: s.bytes,
            oldest_age_s: s
                .oldest_ts_ms
                .map(|t| now_ms.saturating_sub(t) as f64 / 1000.0),
            dropped_summaries: s.dropped_summaries,
            dropped_alerts: s.dropped_alerts,
            lost_unstored: self.outbox.lost_unstored.load(Ordering::Relaxed),
            error: self.outbox.error(),
        }
    }

    fn mqtt_health(&self) -> MqttHealth {
        MqttHealth {
            connected: self.mqtt.connected.load(Ordering::Relaxed),
            reconnects: self.mqtt.reconnects.load(Ordering::Relaxed),
            published: self.mqtt.published.load(Ordering::Relaxed),
            last_error: self.mqtt.last_error(),
        }
    }

    /// Flushes the writer, then lets the publisher send what it can.
    fn stop(self) {
        drop(self.events);
        if self.writer.join().is_err() {
            tracing::error!("outbox writer panicked");
        }
        if let Some(link) = self.link {
            link.shutdown(SHUTDOWN_GRACE);
        }
    }
}

/// Camera health as the health ticks see it.
struct Cameras<'a> {
    inputs: &'a [CameraInput],
    health: Vec<Arc<CameraHealth>>,
    rates: Vec<HealthRates>,
    fps: Vec<(f64, f64)>,
}

impl Cameras<'_> {
    fn statuses(&mut self, now: Instant) -> Vec<CameraStatus> {
        let mut out = Vec::with_capacity(self.inputs.len());
        for (i, input) in self.inputs.iter().enumerate() {
            let s = self.health[i].snapshot();
            self.fps[i] = self.rates[i].update(now, &s);
            out.push(CameraStatus {
                camera: input.settings.id.clone(),
                health: EventHealth {
                    connected: s.connected,
                    fps_in: self.fps[i].0,
                    fps_out: self.fps[i].1,
                    dropped: s.dropped,
                    reconnects: s.reconnects,
                },
            });
        }
        out
    }
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

/// The update thread and what the vision loop needs to talk to it.
struct Updates {
    thread: std::thread::JoinHandle<()>,
    quit: Arc<AtomicBool>,
}

/// Starts the update thread when the config takes updates over the network ([ota] and [mqtt]).
/// A problem here is logged and leaves the agent without updates: the store's analytics must
/// not stop over an update setting.
fn start_updates(
    cfg: &Config,
    model: &StartModel,
    recent: &RecentFrames,
    events: &crate::outbox::WriterHandle,
    offers: Receiver<mqtt::Command>,
    verdicts: Receiver<Verdict>,
    swaps: Sender<Swap>,
) -> Option<Updates> {
    let ota = cfg.ota.as_ref()?;
    let settings = (|| -> Result<updater::Settings, String> {
        Ok(updater::Settings {
            trust: Trust::new(
                &ota.trusted_keys,
                &ota.revoked_keys,
                ota.required_signatures,
            )
            .map_err(|e| crate::ota::verify::describe(&e))?,
            store: ModelStore::open(&ota.state_dir).map_err(|e| e.to_string())?,
            tls: crate::mqtt::client_config(&ota.ca_file, None).map_err(|e| e.to_string())?,
            device: cfg.agent.device_id.clone(),
            site: cfg.agent.site.clone(),
            detector: model.options.clone(),
            configured: model.configured.clone(),
            current: model.path.clone(),
            recent: recent.clone(),
        })
    })();
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "model updates are off");
            return None;
        }
    };
    let quit = Arc::new(AtomicBool::new(false));
    let channels = Channels {
        offers,
        verdicts,
        swaps,
        events: events.clone(),
        quit: quit.clone(),
    };
    match updater::spawn(settings, channels) {
        Ok(thread) => Some(Updates { thread, quit }),
        Err(e) => {
            tracing::error!(error = %e, "model updates are off: cannot start their thread");
            None
        }
    }
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
    let health_every = Duration::from_secs_f64(cfg.pipeline.health_interval_s);
    let mut cams = Cameras {
        inputs: &inputs,
        health: inputs.iter().map(|_| Arc::default()).collect(),
        rates: inputs.iter().map(|_| HealthRates::default()).collect(),
        fps: vec![(0.0, 0.0); inputs.len()],
    };
    let health = cams.health.clone();
    let started = Instant::now();
    let (mut last_tick, mut last_health) = (started, started);
    let mut statuses = cams.statuses(started);
    let networked = cfg.ota.is_some() && cfg.mqtt.is_some();
    let (offer_tx, offer_rx) = crossbeam_channel::bounded(4);
    let delivery = Delivery::start(
        cfg,
        &model.detector,
        &statuses,
        networked.then_some(offer_tx),
    )?;
    let now = SystemClock.now_ms();
    for e in &model.recovered {
        delivery.events.send(Incoming {
            camera: None,
            ts_ms: now,
            payload: Payload::Update(e.clone()),
        });
    }
    // The cameras' latest frames, copied about once a second while updates are on.
    let recent: RecentFrames = Arc::new(Mutex::new(vec![
        RecentFrame::default();
        if networked { inputs.len() } else { 0 }
    ]));
    let mut sampled = vec![started; inputs.len()];
    let (swap_tx, swaps) = crossbeam_channel::bounded(1);
    let (verdict_tx, verdict_rx) = crossbeam_channel::unbounded();
    let updates = networked
        .then(|| {
            start_updates(
                cfg,
                &model,
                &recent,
                &delivery.events,
                offer_rx,
                verdict_rx,
                swap_tx,
            )
        })
        .flatten();
    let trial_frames = cfg.ota.as_ref().map_or(100, |o| o.trial_frames);
    let mut gate = Gate::new(GateSettings::new(trial_frames));
    let mut detector = model.detector;
    let mut model_version = detector.manifest().version;
    tracing::info!(device = %cfg.agent.device_id, site = %cfg.agent.site, model = %detector.manifest().name, model_version = detector.manifest().version, cameras = inputs.len(), outbox = %cfg.outbox.path.display(), broker = cfg.mqtt.as_ref().map(|m| format!("{}:{}", m.host, m.port)), "agent started");
    let (mut inference_sum, mut inference_n) = (Duration::ZERO, 0u32);
    let mut inference_ms = 0.0;
    let clock = SystemClock;
    let mut analytics = cfg.camera_analytics();
    let mut payloads = Vec::new();
    let mut zone_error_logged = vec![false; inputs.len()];
    // Shelves that cannot be watched (no reference, no model) leave the people analytics on.
    let mut shelves = cfg.shelves().unwrap_or_else(|e| {
        tracing::error!(error = %e, "shelf watch off");
        Shelves::none()
    });
    let mut notifier = Notifier::from_env();
    let stall_after = crate::fault::stall_after();
    let send = |camera: &str, payloads: &mut Vec<Payload>, ts_ms: u64| {
        for payload in payloads.drain(..) {
            delivery.events.send(Incoming {
                camera: Some(camera.to_string()),
                ts_ms,
                payload,
            });
        }
    };
    let report = pipeline::run(
        &inputs,
        &mut detector,
        &swaps,
        cfg.pipeline.queue_capacity,
        stop,
        &health,
        |event| {
            if stall_after.is_some_and(|after| started.elapsed() >= after) {
                crate::fault::stall();
            }
            notifier.heartbeat();
            let now = clock.now_ms();
            match &event {
                PipelineEvent::Swapped { model, trial } => {
                    gate.swapped(*trial);
                    model_version = model.version;
                    tracing::info!(model = %model.name, model_version = model.version, trial, "model swapped");
                    if let Ok(mut s) = delivery.status.lock() {
                        s.model.clone_from(&model.name);
                        s.model_version = model.version;
                    }
                }
                PipelineEvent::DetectorFailed(e) => match gate.error(&e.to_string()) {
                    OnError::Fatal => return ControlFlow::Break(()),
                    OnError::Fail(v) => {
                        tracing::error!(error = %e, "the model on trial failed; rolling back");
                        let _ = verdict_tx.send(v);
                    }
                    OnError::Skip => {}
                },
                PipelineEvent::Frame(_) | PipelineEvent::Idle => {}
            }
            if let PipelineEvent::Frame(p) = &event {
                if networked && sampled[p.camera].elapsed() >= Duration::from_secs(1) {
                    sampled[p.camera] = Instant::now();
                    if let Ok(mut frames) = recent.lock() {
                        frames[p.camera].copy_from(&p.frame.view());
                    }
                }
                if let Some(v) = gate.frame(p.detections.len(), p.inference.as_secs_f64() * 1e3) {
                    tracing::info!(verdict = ?v, "health gate");
                    let _ = verdict_tx.send(v);
                }
                let camera = inputs[p.camera].settings.id.as_str();
                inference_sum += p.inference;
                inference_n += 1;
                tracing::debug!(
                    camera,
                    frame = p.frame.index,
                    people = p.detections.len(),
                    inference_ms = p.inference.as_secs_f64() * 1e3,
                    "frame"
                );
                let (w, h) = (p.frame.width, p.frame.height);
                // Shelf readings first, so this frame's rules already see them.
                if let Err(e) = shelves.on_frame(
                    p.camera,
                    now,
                    &p.frame.view(),
                    p.detections,
                    &mut analytics[p.camera],
                ) {
                    tracing::error!(camera, error = %e, "shelf watch off for this camera");
                    shelves.disable(p.camera);
                }
                if let Err(e) = analytics[p.camera].on_frame(now, w, h, p.detections, &mut payloads)
                    && !std::mem::replace(&mut zone_error_logged[p.camera], true)
                {
                    tracing::error!(camera, error = %e, "zones do not fit this camera's frames; its zones are off");
                }
                send(camera, &mut payloads, now);
            }
            let tick = Instant::now();
            if tick.duration_since(last_tick) >= Duration::from_secs(1) {
                last_tick = tick;
                statuses = cams.statuses(tick);
                if inference_n > 0 {
                    inference_ms = inference_sum.as_secs_f64() * 1e3 / f64::from(inference_n);
                    (inference_sum, inference_n) = (Duration::ZERO, 0);
                }
                let outbox = delivery.outbox_health(now);
                let mqtt = delivery.mqtt_health();
                metrics::record(&metrics::Snapshot {
                    cameras: &statuses,
                    inference_ms,
                    event_queue: delivery.events.backlog(),
                    outbox: &outbox,
                    mqtt: &mqtt,
                    model_version,
                    model_on_trial: gate.on_trial(),
                });
                if let Ok(mut s) = delivery.status.lock() {
                    s.cameras.clone_from(&statuses);
                    s.outbox_error.clone_from(&outbox.error);
                }
                if tick.duration_since(last_health) >= health_every {
                    last_health = tick;
                    crate::heap::give_back();
                    for c in &statuses {
                        tracing::info!(camera = %c.camera, connected = c.health.connected, fps_in = c.health.fps_in, fps_out = c.health.fps_out, dropped = c.health.dropped, reconnects = c.health.reconnects, "camera health");
                    }
                    delivery.events.send(Incoming {
                        camera: None,
                        ts_ms: now,
                        payload: Payload::Health(AgentHealth {
                            uptime_s: started.elapsed().as_secs(),
                            cameras: statuses.clone(),
                            inference_ms,
                            outbox,
                            mqtt,
                        }),
                    });
                }
            }
            for (i, a) in analytics.iter_mut().enumerate() {
                let s = health[i].snapshot();
                // Down means no frame for longer than the stall timeout (with the same grace at
                // start), not a momentary reconnect.
                let stall = inputs[i].settings.stall_timeout.as_secs_f64();
                let up = s
                    .last_frame_age_s
                    .map_or(started.elapsed().as_secs_f64() < stall, |age| age < stall);
                let camera_health = statuses.get(i).map(|c| c.health).unwrap_or_default();
                a.on_tick(now, up, &camera_health, &mut payloads);
                send(&inputs[i].settings.id, &mut payloads, now);
            }
            ControlFlow::Continue(())
        },
    );
    Notifier::stopping();
    // The last, partial window of each camera: a stop loses no counted minute.
    let now = clock.now_ms();
    for (i, a) in analytics.iter_mut().enumerate() {
        let camera_health = statuses.get(i).map(|c| c.health).unwrap_or_default();
        a.finish(now, &camera_health, &mut payloads);
        send(&inputs[i].settings.id, &mut payloads, now);
    }
    // The update thread holds a writer handle: it stops before the writer flushes.
    if let Some(u) = updates {
        u.quit.store(true, Ordering::Relaxed);
        if u.thread.join().is_err() {
            tracing::error!("update thread panicked");
        }
    }
    delivery.stop();
    Ok(report?)
}
