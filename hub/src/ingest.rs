//! From the broker to PostgreSQL. Each replica holds one MQTT 5 session with shared
//! subscriptions, so the broker splits the fleet's messages among the replicas. A message is
//! acknowledged only once the transaction holding it has committed: a replica killed before that
//! gets it again when it reconnects with its session, and the table's keys drop the copies.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::config::HubConfig;
use crate::db::{self, DbError};
use crate::message;

/// Messages stored per transaction at most: large enough that a busy fleet costs a commit per
/// few hundred events, small enough that a batch is acknowledged well inside the broker's patience.
const MAX_BATCH: usize = 500;

#[derive(Debug, Error)]
pub enum IngestError {
    #[error("{0}")]
    Tls(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// The MQTT client's task has ended (only on shutdown).
    #[error("mqtt: {0}")]
    Client(String),
}

/// Running totals, logged as they change.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    pub events: u64,
    pub duplicates: u64,
    pub statuses: u64,
    pub refused: u64,
}

fn options(cfg: &HubConfig) -> Result<MqttOptions, IngestError> {
    let m = &cfg.mqtt;
    let client = m.client_cert.as_deref().zip(m.client_key.as_deref());
    let tls = crate::tls::client_config("mqtt", &m.ca_file, client).map_err(IngestError::Tls)?;
    let mut o = MqttOptions::new(&m.client_id, &m.host, m.port);
    o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(m.session_expiry_s));
    o.set_receive_maximum(Some(m.inflight));
    o.set_manual_acks(true);
    // The broker does not even send this hub a message larger than it would store.
    let max = u32::try_from(cfg.ingest.max_payload_bytes + 1024).unwrap_or(u32::MAX);
    o.set_max_packet_size(Some(max));
    Ok(o)
}

/// Ingests until `shutdown` resolves; returns the totals.
pub async fn run(
    cfg: &HubConfig,
    db: &mut Client,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Totals, IngestError> {
    let (client, mut eventloop) = AsyncClient::new(options(cfg)?, 1024);
    let filters = message::subscriptions(&cfg.mqtt.topic_prefix, &cfg.mqtt.share_group);
    // Unbounded, because the broker bounds it (receive maximum = `inflight` unacknowledged
    // messages), and the event loop must never wait on it: the acknowledgements this loop sends
    // go through that same event loop.
    let (tx, mut rx) = mpsc::unbounded_channel::<Publish>();
    let subscriber = client.clone();
    // The event loop must keep turning while a batch is being written, or keep-alives and acks
    // would stall: it runs on its own task and hands publishes over.
    let link = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff = Duration::from_millis(200);
                    tracing::info!(
                        session_present = ack.session_present,
                        "connected to the broker"
                    );
                    for f in &filters {
                        if let Err(e) = subscriber.subscribe(f.clone(), QoS::AtLeastOnce).await {
                            tracing::error!(error = %e, filter = %f, "subscribe failed");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "broker link down; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
    let mut totals = Totals::default();
    tokio::pin!(shutdown);
    let result = loop {
        let first = tokio::select! {
            _ = &mut shutdown => break Ok(totals),
            p = rx.recv() => p,
        };
        let Some(first) = first else {
            break Ok(totals);
        };
        let mut publishes = vec![first];
        while publishes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => publishes.push(p),
                Err(_) => break,
            }
        }
        if let Err(e) = ingest_batch(cfg, db, &client, &publishes, &mut totals).await {
            break Err(e);
        }
    };
    link.abort();
    result
}

async fn ingest_batch(
    cfg: &HubConfig,
    db: &mut Client,
    client: &AsyncClient,
    publishes: &[Publish],
    totals: &mut Totals,
) -> Result<(), IngestError> {
    let mut batch = Vec::with_capacity(publishes.len());
    let mut topics = Vec::with_capacity(publishes.len());
    let now_ms = crate::now_ms();
    for p in publishes {
        let topic = String::from_utf8_lossy(&p.topic);
        match message::classify(
            &cfg.mqtt.topic_prefix,
            &topic,
            &p.payload,
            cfg.ingest.max_payload_bytes,
            now_ms,
        ) {
            Ok(item) => {
                batch.push(item);
                topics.push(topic);
            }
            Err(refused) => {
                totals.refused += 1;
                // Escaped: a topic or a reason quoting a message could otherwise write lines of its own.
                tracing::warn!(topic = %message::loggable(&refused.topic), reason = %message::loggable(&refused.reason), "message refused");
            }
        }
    }
    let stored = match store(db, &batch, cfg).await {
        Err(e) if db::is_poison(&e) => {
            // One message the checks above let through, and the database would not take, must
            // not hold back the rest (nor come back for ever): each is stored on its own, and
            // the ones that still fail are refused.
            tracing::warn!(error = %e, messages = batch.len(), "batch refused by the database; storing its messages one by one");
            let mut sum = db::Stored::default();
            for (item, topic) in batch.iter().zip(&topics) {
                match store(db, std::slice::from_ref(item), cfg).await {
                    Ok(one) => sum.add(one),
                    Err(e) if db::is_poison(&e) => {
                        totals.refused += 1;
                        tracing::warn!(topic = %message::loggable(topic), reason = %message::loggable(&e.to_string()), "message refused by the database");
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            sum
        }
        other => other?,
    };
    for p in publishes {
        client
            .ack(p)
            .await
            .map_err(|e| IngestError::Client(e.to_string()))?;
    }
    totals.events += stored.events;
    totals.duplicates += stored.duplicates;
    totals.statuses += stored.statuses;
    tracing::debug!(
        events = stored.events,
        duplicates = stored.duplicates,
        statuses = stored.statuses,
        total_events = totals.events,
        "batch stored"
    );
    Ok(())
}

/// Stores `batch`, trying again when it lost a race with another replica.
async fn store(
    db: &mut Client,
    batch: &[message::Inbound],
    cfg: &HubConfig,
) -> Result<db::Stored, DbError> {
    let mut attempt = 0;
    loop {
        match db::store(db, batch, &cfg.webhooks, cfg.alerts.regroup_s).await {
            Err(e) if db::is_transient(&e) && attempt < 5 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "batch not stored; retrying");
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            other => return other,
        }
    }
}
