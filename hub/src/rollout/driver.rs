//! Moves running rollouts on, one round every `rollouts.check_every_s`: settles each offered
//! gateway's outcome from the `update` events the ingest stored, judges the wave, and then waits,
//! offers the next wave (a retained QoS 1 offer per gateway on its `cmd/model` topic), halts, or
//! ends. When a rollout ends its retained offers are cleared (an empty retained message): a
//! halted rollout's unanswered offers are withdrawn, so a gateway that was offline does not take
//! a model the fleet has stopped, and a finished one leaves nothing on the broker for gateways to
//! read again at every connect.
//!
//! A round is one transaction under an advisory lock: one replica acts at a time, and a replica
//! killed mid-round leaves the tables as they were before it. Offers are published before the
//! transaction that records them commits; a round that fails after publishing publishes the same
//! retained offers again next time, which gateways take as one (they ignore the model they run).

use std::collections::HashMap;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use thiserror::Error;
use tokio::sync::mpsc;
use tokio_postgres::{Client, Transaction};

use super::{Outcome, Verdict, judge, settle};
use crate::config::HubConfig;
use crate::db::DbError;

/// Serialises rounds between replicas (any fixed key other than the migrations' would do).
const ROUND_LOCK: i64 = 0x726f_6c6c_6f75_7473;

/// How long the broker has to acknowledge a wave's offers.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum DriverError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("mqtt: {0}")]
    Mqtt(String),
    #[error("{0}")]
    Tls(String),
}

impl From<tokio_postgres::Error> for DriverError {
    fn from(e: tokio_postgres::Error) -> Self {
        DriverError::Db(DbError::Postgres(e))
    }
}

/// The driver's own MQTT session (clean, `{client_id}-rollouts`): it only publishes, and counts
/// the broker's acknowledgements.
struct Publisher {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<()>,
    link: tokio::task::JoinHandle<()>,
}

impl Publisher {
    fn connect(cfg: &HubConfig) -> Result<Self, DriverError> {
        let m = &cfg.mqtt;
        let client_cert = m.client_cert.as_deref().zip(m.client_key.as_deref());
        let tls =
            crate::tls::client_config("mqtt", &m.ca_file, client_cert).map_err(DriverError::Tls)?;
        let mut o = MqttOptions::new(format!("{}-rollouts", m.client_id), &m.host, m.port);
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls)));
        o.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(o, 1024);
        let (tx, acks) = mpsc::unbounded_channel();
        let link = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "rollout publisher: broker link down; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self { client, acks, link })
    }

    /// Publishes retained messages and returns once the broker has acknowledged every one.
    async fn retain(&mut self, messages: Vec<(String, Vec<u8>)>) -> Result<(), DriverError> {
        while self.acks.try_recv().is_ok() {}
        let n = messages.len();
        for (topic, body) in messages {
            self.client
                .publish(topic, QoS::AtLeastOnce, true, body)
                .await
                .map_err(|e| DriverError::Mqtt(e.to_string()))?;
        }
        let acked = async {
            for _ in 0..n {
                self.acks.recv().await;
            }
        };
        tokio::time::timeout(ACK_TIMEOUT, acked)
            .await
            .map_err(|_| DriverError::Mqtt(format!("{n} offers not acknowledged in time")))
    }
}

/// Runs rounds until `shutdown` resolves. A failed round is logged and tried again next time.
pub async fn run(cfg: HubConfig, mut db: Client, shutdown: impl std::future::Future<Output = ()>) {
    let mut publisher = match Publisher::connect(&cfg) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "rollouts are not driven by this replica");
            return;
        }
    };
    let mut every = tokio::time::interval(Duration::from_secs(cfg.rollouts.check_every_s));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = every.tick() => {}
        }
        if let Err(e) = round(&cfg.mqtt.topic_prefix, &mut db, &mut publisher).await {
            tracing::warn!(error = %e, "rollout round failed; trying again next round");
        }
    }
    publisher.link.abort();
}

/// One round over every running rollout and every halted one whose offers are not withdrawn yet.
async fn round(
    prefix: &str,
    db: &mut Client,
    publisher: &mut Publisher,
) -> Result<(), DriverError> {
    let tx = db.transaction().await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&ROUND_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(());
    }
    let running = tx
        .query(
            "SELECT id, model, version, offer, halt_above, wave_timeout_s, wave, \
             (SELECT max(wave) FROM rollout_targets t WHERE t.rollout_id = r.id) \
             FROM rollouts r WHERE state = 'running' ORDER BY id FOR UPDATE",
            &[],
        )
        .await?;
    for r in &running {
        let id: i64 = r.get(0);
        let model: String = r.get(1);
        let version: i64 = r.get(2);
        let offer: serde_json::Value = r.get(3);
        let halt_above: f64 = r.get(4);
        let timeout_s: i64 = r.get(5);
        let wave: i32 = r.get(6);
        let last: i32 = r.get::<_, Option<i32>>(7).unwrap_or(0);
        let verdict = if wave == 0 {
            Verdict::Advance
        } else {
            let outcomes = settle_wave(&tx, id, wave, &model, version, timeout_s).await?;
            judge(&outcomes, halt_above, wave >= last)
        };
        match verdict {
            Verdict::Wait => {}
            Verdict::Advance => {
                let next = wave + 1;
                let targets = tx
                    .query(
                        "SELECT site, device_id FROM rollout_targets WHERE rollout_id = $1 \
                         AND wave = $2 ORDER BY device_id",
                        &[&id, &next],
                    )
                    .await?;
                let body = serde_json::to_vec(&offer).unwrap_or_default();
                let messages = targets
                    .iter()
                    .map(|t| {
                        (
                            aisle_proto::topic::offer(prefix, t.get(0), t.get(1)),
                            body.clone(),
                        )
                    })
                    .collect();
                publisher.retain(messages).await?;
                tx.execute(
                    "UPDATE rollout_targets SET offered_at = now() WHERE rollout_id = $1 AND wave = $2",
                    &[&id, &next],
                )
                .await?;
                tx.execute(
                    "UPDATE rollouts SET wave = $2, updated_at = now() WHERE id = $1",
                    &[&id, &next],
                )
                .await?;
                tracing::info!(id, %model, version, wave = next, gateways = targets.len(), "rollout wave offered");
            }
            Verdict::Halt { failed_share } => {
                let reason = format!(
                    "wave {wave}: {:.0}% of its gateways failed (halts above {:.0}%)",
                    failed_share * 100.0,
                    halt_above * 100.0
                );
                tx.execute(
                    "UPDATE rollouts SET state = 'halted', reason = $2, updated_at = now() WHERE id = $1",
                    &[&id, &reason],
                )
                .await?;
                tracing::warn!(id, %model, version, %reason, "rollout halted");
            }
            Verdict::Done => {
                tx.execute(
                    "UPDATE rollouts SET state = 'done', updated_at = now() WHERE id = $1",
                    &[&id],
                )
                .await?;
                tracing::info!(id, %model, version, "rollout done");
            }
        }
    }
    clear_offers(prefix, &tx, publisher).await?;
    tx.commit().await?;
    Ok(())
}

/// Records the outcome of each of the wave's gateways that has one now; returns every outcome
/// of the wave. Only steps stored after the gateway's offer count, and only of this model and
/// version (or of no model: an offer refused before its signature was checked names none).
async fn settle_wave(
    tx: &Transaction<'_>,
    id: i64,
    wave: i32,
    model: &str,
    version: i64,
    timeout_s: i64,
) -> Result<Vec<Outcome>, DriverError> {
    let version_text = version.to_string();
    let pending = tx
        .query(
            "SELECT site, device_id, (extract(epoch FROM now() - offered_at) * 1000)::bigint \
             FROM rollout_targets WHERE rollout_id = $1 AND wave = $2 AND outcome = 'pending' \
             AND offered_at IS NOT NULL",
            &[&id, &wave],
        )
        .await?;
    if !pending.is_empty() {
        let steps = tx
            .query(
                "SELECT e.site, e.device_id, e.payload ->> 'step' FROM events e JOIN rollout_targets t \
                 ON t.site = e.site AND t.device_id = e.device_id AND t.rollout_id = $1 AND t.wave = $2 \
                 AND t.outcome = 'pending' \
                 WHERE e.kind = 'update' AND e.received_at >= t.offered_at \
                 AND (e.payload ->> 'model' IS NULL \
                      OR (e.payload ->> 'model' = $3 AND e.payload ->> 'version' = $4)) \
                 ORDER BY e.site, e.device_id, e.received_at, e.seq",
                &[&id, &wave, &model, &version_text],
            )
            .await?;
        let mut by_device: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for s in &steps {
            if let Some(step) = s.get::<_, Option<&str>>(2) {
                by_device
                    .entry((s.get(0), s.get(1)))
                    .or_default()
                    .push(step);
            }
        }
        for p in &pending {
            let (site, device): (&str, &str) = (p.get(0), p.get(1));
            let since: i64 = p.get(2);
            let reported = by_device
                .get(&(site, device))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let (outcome, step) = settle(reported.iter().copied(), since, timeout_s * 1000);
            let word = match outcome {
                Outcome::Pending => continue,
                Outcome::Committed => "committed",
                Outcome::Failed => "failed",
            };
            tx.execute(
                "UPDATE rollout_targets SET outcome = $3, step = $4, outcome_at = now() \
                 WHERE rollout_id = $1 AND device_id = $2 AND site = $5",
                &[&id, &device, &word, &step, &site],
            )
            .await?;
        }
    }
    let rows = tx
        .query(
            "SELECT outcome FROM rollout_targets WHERE rollout_id = $1 AND wave = $2",
            &[&id, &wave],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| match r.get::<_, &str>(0) {
            "committed" => Outcome::Committed,
            "failed" => Outcome::Failed,
            _ => Outcome::Pending,
        })
        .collect())
}

/// Clears the retained offers of rollouts that ended (halted or done) and are not cleared yet:
/// every gateway that was offered one, unless a running rollout has offered it another since
/// (one retained offer per gateway topic). A halted rollout's unanswered gateways are marked
/// `withdrawn`.
async fn clear_offers(
    prefix: &str,
    tx: &Transaction<'_>,
    publisher: &mut Publisher,
) -> Result<(), DriverError> {
    let ended = tx
        .query(
            "SELECT id, state FROM rollouts WHERE state IN ('halted', 'done') AND NOT offers_cleared \
             FOR UPDATE",
            &[],
        )
        .await?;
    for r in &ended {
        let (id, state): (i64, &str) = (r.get(0), r.get(1));
        let targets = tx
            .query(
                "SELECT site, device_id FROM rollout_targets t WHERE rollout_id = $1 \
                 AND offered_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rollout_targets o \
                   JOIN rollouts x ON x.id = o.rollout_id WHERE x.state = 'running' \
                   AND o.rollout_id <> $1 AND o.site = t.site AND o.device_id = t.device_id \
                   AND o.offered_at IS NOT NULL)",
                &[&id],
            )
            .await?;
        let messages = targets
            .iter()
            .map(|t| {
                (
                    aisle_proto::topic::offer(prefix, t.get(0), t.get(1)),
                    Vec::new(),
                )
            })
            .collect();
        publisher.retain(messages).await?;
        let withdrawn = if state == "halted" {
            tx.execute(
                "UPDATE rollout_targets SET step = 'withdrawn' WHERE rollout_id = $1 \
                 AND outcome = 'pending' AND offered_at IS NOT NULL",
                &[&id],
            )
            .await?
        } else {
            0
        };
        tx.execute(
            "UPDATE rollouts SET offers_cleared = true WHERE id = $1",
            &[&id],
        )
        .await?;
        tracing::info!(
            id,
            state,
            cleared = targets.len(),
            withdrawn,
            "ended rollout's retained offers cleared"
        );
    }
    Ok(())
}
