//! Where events go: the durable outbox (its own writer thread) and the broker (the publisher
//! thread), with the retained status document the publisher sends on every connect.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::DaemonError;
use crate::analytics::rules::Severity;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MqttSection};
use crate::detect::Detector;
use crate::events::{
    Alert, AlertState, CameraStatus, Event, MqttHealth, OutboxHealth, Payload, Status,
};
use crate::mqtt::{self, Link, LinkSettings, MqttCounters, TlsError};
use crate::outbox::{
    Incoming, Limits, OpenOutcome, Outbox, OutboxCounters, SledOutbox, Writer, WriterHandle,
    spawn_writer,
};

/// Events buffered between the vision loop and the outbox writer: hours of summaries.
const EVENT_QUEUE: usize = 4096;
/// How long a stopping agent keeps sending what the outbox holds.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

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
        prefix: aisle_proto::topic::device(&m.topic_prefix, &cfg.agent.site, &cfg.agent.device_id),
        inflight: m.inflight,
    })
}

/// The parts of the agent that outlive one frame: where events go and how they are doing.
pub(super) struct Delivery {
    /// Shared with the publisher, which sends it retained on every connect.
    pub status: Arc<Mutex<Status>>,
    store: Arc<SledOutbox>,
    outbox: Arc<OutboxCounters>,
    mqtt: Arc<MqttCounters>,
    events: WriterHandle,
    writer: std::thread::JoinHandle<()>,
    link: Option<Link>,
}

impl Delivery {
    pub fn start(
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

    pub fn outbox_health(&self, now_ms: u64) -> OutboxHealth {
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

    pub fn mqtt_health(&self) -> MqttHealth {
        MqttHealth {
            connected: self.mqtt.connected.load(Ordering::Relaxed),
            reconnects: self.mqtt.reconnects.load(Ordering::Relaxed),
            published: self.mqtt.published.load(Ordering::Relaxed),
            last_error: self.mqtt.last_error(),
        }
    }

    /// Flushes the writer, then lets the publisher send what it can.
    /// Queues `payloads` (emptied) for the outbox, stamped `ts_ms`.
    pub fn send(&self, camera: Option<&str>, payloads: &mut Vec<Payload>, ts_ms: u64) {
        for payload in payloads.drain(..) {
            self.events.send(Incoming {
                camera: camera.map(str::to_string),
                ts_ms,
                payload,
            });
        }
    }

    /// The camera alerts the outbox holds open from before this start. A store that cannot be
    /// read gives none: the alerts then stay as the hub has them, closed by the health events'
    /// list of what is open.
    pub fn open_alerts(&self) -> Vec<Event> {
        self.store.open_alerts().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the open alerts; none taken back");
            Vec::new()
        })
    }

    /// Events queued and not yet stored.
    pub fn backlog(&self) -> usize {
        self.events.backlog()
    }

    pub fn events(&self) -> &WriterHandle {
        &self.events
    }

    pub fn stop(self) {
        drop(self.events);
        if self.writer.join().is_err() {
            tracing::error!("outbox writer panicked");
        }
        if let Some(link) = self.link {
            link.shutdown(SHUTDOWN_GRACE);
        }
    }
}
