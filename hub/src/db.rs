//! PostgreSQL: the schema's migrations, and storing what the gateways send. Every write is
//! idempotent, so a message delivered twice, or stored by a replica that died before
//! acknowledging it, leaves the tables as one delivery would.

use rustls::ClientConfig;
use serde_json::Value;
use thiserror::Error;
use tokio_postgres::{Client, GenericClient, NoTls, Transaction};

use crate::config::WebhookConfig;
use crate::message::{EventRow, Inbound, StatusRow};
use crate::notify;

/// The schema, in order; the database's `schema_version` is how many of these it has.
const MIGRATIONS: [(&str, &str); 8] = [
    ("0001_events", include_str!("../migrations/0001_events.sql")),
    ("0002_people", include_str!("../migrations/0002_people.sql")),
    (
        "0003_notifications",
        include_str!("../migrations/0003_notifications.sql"),
    ),
    (
        "0004_rollouts",
        include_str!("../migrations/0004_rollouts.sql"),
    ),
    (
        "0005_sequences",
        include_str!("../migrations/0005_sequences.sql"),
    ),
    (
        "0006_site_scoped",
        include_str!("../migrations/0006_site_scoped.sql"),
    ),
    (
        "0007_alert_lifecycle",
        include_str!("../migrations/0007_alert_lifecycle.sql"),
    ),
    (
        "0008_events_by_day",
        include_str!("../migrations/0008_events_by_day.sql"),
    ),
];

/// Serialises migrations between replicas starting together (any fixed key would do).
const MIGRATION_LOCK: i64 = 0x6169_736c_6568_7562;

/// tokio-postgres says only "db error" in its Display; the server's message is in the source.
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

#[derive(Debug, Error)]
pub enum DbError {
    #[error("database: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error(
        "database schema_version is {found}, newer than this aisle-hub knows ({known}): run the newer hub"
    )]
    Newer { found: i64, known: i64 },
    #[error("database: migration {name}: {}", pg_message(.source))]
    Migration {
        name: &'static str,
        source: tokio_postgres::Error,
    },
    #[error("{0}")]
    Tls(String),
}

/// Connects as `cfg` says: over TLS verified against `ca_file` when it is set (the connection
/// string's `sslmode` then decides whether TLS is required or only preferred), else without.
/// The connection runs on its own task; losing it fails the client's next query.
pub async fn connect(cfg: &crate::config::DatabaseConfig) -> Result<Client, DbError> {
    let client = match &cfg.ca_file {
        Some(ca) => {
            let tls = crate::tls::client_config("database", ca, None).map_err(DbError::Tls)?;
            let (client, connection) = tokio_postgres::connect(
                &cfg.url,
                tokio_postgres_rustls::MakeRustlsConnect::new(ClientConfig::clone(&tls)),
            )
            .await?;
            tokio::spawn(watch(connection));
            client
        }
        None => {
            let (client, connection) = tokio_postgres::connect(&cfg.url, NoTls).await?;
            tokio::spawn(watch(connection));
            client
        }
    };
    Ok(client)
}

async fn watch(connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(e) = connection.await {
        tracing::error!(error = %pg_message(&e), "database connection lost");
    }
}

/// The version this binary's schema ends at.
pub fn known_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the schema up to this binary's version, or refuses a database a newer hub has moved on.
/// Returns the version the database was at.
pub async fn migrate(client: &mut Client) -> Result<i64, DbError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE schema_version (version bigint NOT NULL)")
            .await?;
    }
    let found: i64 = match tx
        .query_opt("SELECT version FROM schema_version", &[])
        .await?
    {
        Some(row) => row.get(0),
        None => {
            tx.execute("INSERT INTO schema_version VALUES (0)", &[])
                .await?;
            0
        }
    };
    if found > known_version() {
        return Err(DbError::Newer {
            found,
            known: known_version(),
        });
    }
    for (name, sql) in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(sql)
            .await
            .map_err(|source| DbError::Migration { name, source })?;
    }
    tx.execute(
        "UPDATE schema_version SET version = $1",
        &[&known_version()],
    )
    .await?;
    tx.commit().await?;
    Ok(found)
}

/// What one batch did to the tables.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub events: u64,
    pub duplicates: u64,
    pub statuses: u64,
}

impl Stored {
    pub fn add(&mut self, other: Stored) {
        self.events += other.events;
        self.duplicates += other.duplicates;
        self.statuses += other.statuses;
    }
}

/// Stores a batch in one transaction: all of it or, on error, none (the batch is then not
/// acknowledged and the broker delivers it again). Rows are written table by table, each in key
/// order, so two replicas' batches take their locks in the same order and cannot deadlock.
pub async fn store(
    client: &mut Client,
    batch: &[Inbound],
    hooks: &[WebhookConfig],
    regroup_s: u64,
) -> Result<Stored, DbError> {
    let mut events: Vec<&EventRow> = Vec::new();
    let mut statuses: Vec<&StatusRow> = Vec::new();
    for item in batch {
        match item {
            Inbound::Event(e) => events.push(e),
            Inbound::Status(s) => statuses.push(s),
        }
    }
    events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    events.dedup_by(|a, b| a.event_id == b.event_id);
    statuses
        .sort_by(|a, b| (&a.site, &a.device_id, a.ts_ms).cmp(&(&b.site, &b.device_id, b.ts_ms)));
    let tx = client.transaction().await?;
    let inserted = insert_events(&tx, &events).await?;
    let new: Vec<&EventRow> = events
        .into_iter()
        .filter(|e| inserted.contains(e.event_id.as_str()))
        .collect();
    // Copies within the batch and rows already in the table alike.
    let mut stored = Stored {
        events: new.len() as u64,
        duplicates: (batch.len() - statuses.len() - new.len()) as u64,
        statuses: 0,
    };
    record_sequences(&tx, &new).await?;
    record_seen(&tx, &new).await?;
    let mut alerts: Vec<&&EventRow> = new.iter().filter(|e| e.kind == "alert").collect();
    alerts.sort_by_key(|e| {
        (
            &e.site,
            &e.device_id,
            e.payload.get("alert_id").and_then(Value::as_str),
        )
    });
    for e in alerts {
        match record_alert(&tx, e, regroup_s).await? {
            Recorded::Raised => notify::enqueue(&tx, hooks, e, 0).await?,
            // Sent once the regroup window has passed without a re-raise.
            Recorded::Cleared => notify::enqueue(&tx, hooks, e, regroup_s).await?,
            Recorded::Regrouped | Recorded::Malformed => {}
        }
    }
    let mut reports: Vec<&&EventRow> = new.iter().filter(|e| e.open_alerts.is_some()).collect();
    reports.sort_by(|a, b| (&a.site, &a.device_id, a.ts_ms).cmp(&(&b.site, &b.device_id, b.ts_ms)));
    for e in reports {
        close_unlisted(&tx, e).await?;
    }
    // Only each camera's newest summary of the batch, in key order.
    let mut latest: Vec<&&EventRow> = new
        .iter()
        .filter(|e| e.kind == "summary" && e.camera.is_some())
        .collect();
    latest.sort_by(|a, b| {
        (&a.site, &a.device_id, &a.camera, b.ts_ms).cmp(&(
            &b.site,
            &b.device_id,
            &b.camera,
            a.ts_ms,
        ))
    });
    latest
        .dedup_by(|a, b| (&a.site, &a.device_id, &a.camera) == (&b.site, &b.device_id, &b.camera));
    record_latest(&tx, &latest).await?;
    for s in statuses {
        upsert_status(&tx, s).await?;
        stored.statuses += 1;
    }
    tx.commit().await?;
    Ok(stored)
}

/// Inserts the events in one statement (arrays unnested: one round trip for the batch, in the
/// batch's key order); returns the ids that were new.
async fn insert_events(
    tx: &Transaction<'_>,
    events: &[&EventRow],
) -> Result<std::collections::HashSet<String>, DbError> {
    let text = |f: fn(&EventRow) -> &str| events.iter().map(|e| f(e)).collect::<Vec<&str>>();
    let rows = tx
        .query(
            "INSERT INTO events (event_id, device_id, site, seq, camera, ts_ms, kind, payload) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], \
             $6::int8[], $7::text[], $8::jsonb[]) ON CONFLICT (event_id, ts_ms) DO NOTHING RETURNING event_id",
            &[
                &text(|e| &e.event_id),
                &text(|e| &e.device_id),
                &text(|e| &e.site),
                &events.iter().map(|e| e.seq).collect::<Vec<i64>>(),
                &events.iter().map(|e| e.camera.as_deref()).collect::<Vec<Option<&str>>>(),
                &events.iter().map(|e| e.ts_ms).collect::<Vec<i64>>(),
                &text(|e| &e.kind),
                &events.iter().map(|e| &e.payload).collect::<Vec<&Value>>(),
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The outbox an event came from: its `event_id` up to the last `:` (`{store_id}:{seq}`).
fn store_id(event_id: &str) -> &str {
    event_id
        .rsplit_once(':')
        .map_or(event_id, |(store, _)| store)
}

/// Widens each gateway outbox's `seq` range by the batch's new rows and counts them (one
/// statement, in key order like every other write of the batch).
async fn record_sequences(tx: &Transaction<'_>, new: &[&EventRow]) -> Result<(), DbError> {
    let mut ranges: std::collections::BTreeMap<(&str, &str, &str), (i64, i64, i64)> =
        std::collections::BTreeMap::new();
    for e in new {
        let r = ranges
            .entry((e.site.as_str(), e.device_id.as_str(), store_id(&e.event_id)))
            .or_insert((e.seq, e.seq, 0));
        r.0 = r.0.min(e.seq);
        r.1 = r.1.max(e.seq);
        r.2 += 1;
    }
    if ranges.is_empty() {
        return Ok(());
    }
    let keys: Vec<&(&str, &str, &str)> = ranges.keys().collect();
    let values: Vec<&(i64, i64, i64)> = ranges.values().collect();
    tx.execute(
        "INSERT INTO event_sequences (site, device_id, store_id, first_seq, last_seq, stored) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[]) \
         ON CONFLICT (site, device_id, store_id) DO UPDATE SET \
           first_seq = least(event_sequences.first_seq, EXCLUDED.first_seq), \
           last_seq = greatest(event_sequences.last_seq, EXCLUDED.last_seq), \
           stored = event_sequences.stored + EXCLUDED.stored",
        &[
            &keys.iter().map(|k| k.0).collect::<Vec<&str>>(),
            &keys.iter().map(|k| k.1).collect::<Vec<&str>>(),
            &keys.iter().map(|k| k.2).collect::<Vec<&str>>(),
            &values.iter().map(|v| v.0).collect::<Vec<i64>>(),
            &values.iter().map(|v| v.1).collect::<Vec<i64>>(),
            &values.iter().map(|v| v.2).collect::<Vec<i64>>(),
        ],
    )
    .await?;
    Ok(())
}

/// Every gateway with an event in the batch was heard now (by the hub's clock): what
/// `gateway_offline` is measured against. A gateway not yet in `devices` (no status stored) has
/// no row to update.
async fn record_seen(tx: &Transaction<'_>, new: &[&EventRow]) -> Result<(), DbError> {
    let gateways: std::collections::BTreeSet<(&str, &str)> = new
        .iter()
        .map(|e| (e.site.as_str(), e.device_id.as_str()))
        .collect();
    if gateways.is_empty() {
        return Ok(());
    }
    tx.execute(
        "UPDATE devices d SET seen_at = now() FROM unnest($1::text[], $2::text[]) AS g(site, device_id) \
         WHERE d.site = g.site AND d.device_id = g.device_id",
        &[
            &gateways.iter().map(|g| g.0).collect::<Vec<&str>>(),
            &gateways.iter().map(|g| g.1).collect::<Vec<&str>>(),
        ],
    )
    .await?;
    Ok(())
}

/// Whether retrying the same transaction may succeed: a deadlock or serialisation failure
/// between replicas, not a bad row or a lost connection.
pub fn is_transient(e: &DbError) -> bool {
    use tokio_postgres::error::SqlState;
    match e {
        DbError::Postgres(p) => matches!(
            p.code(),
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
        ),
        _ => false,
    }
}

/// Whether the database refused what a message holds (a value out of range, text it cannot
/// store, a constraint) rather than failing for every message (a lost connection, a full disk,
/// a shutdown): only then may the message be refused and acknowledged, since anything else
/// would drop good messages while the database is away.
pub fn is_poison(e: &DbError) -> bool {
    match e {
        // 22: data exception; 23: integrity constraint; 54: program limit (a row too big).
        DbError::Postgres(p) => p
            .code()
            .and_then(|c| c.code().get(..2))
            .is_some_and(|class| matches!(class, "22" | "23" | "54")),
        _ => false,
    }
}

/// What storing one alert event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Raised,
    Cleared,
    /// A re-raise within the regroup window: the cleared row reopened, nothing to notify.
    Regrouped,
    /// Without the fields an alert is shown by: kept in `events` only.
    Malformed,
}

async fn record_alert(
    tx: &impl GenericClient,
    e: &EventRow,
    regroup_s: u64,
) -> Result<Recorded, DbError> {
    let p = &e.payload;
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let num = |k: &str| p.get(k).and_then(Value::as_f64);
    let (Some(sent_id), Some(rule), Some(severity), Some(state)) = (
        text("alert_id"),
        text("rule"),
        text("severity"),
        text("state"),
    ) else {
        // Kept in `events` as sent; an alert without these cannot be shown as one.
        tracing::warn!(event_id = %e.event_id, "alert event without alert_id, rule, severity or state");
        return Ok(Recorded::Malformed);
    };
    let alias = tx
        .query_opt(
            "SELECT alert_id FROM alert_aliases WHERE site = $1 AND device_id = $2 AND alias_id = $3",
            &[&e.site, &e.device_id, &sent_id],
        )
        .await?;
    let alert_id: String = alias.map_or(sent_id.clone(), |r| r.get(0));
    let ts = e.ts_ms;
    let cleared = state == "cleared";
    if !cleared && regroup_s > 0 && alert_id == sent_id {
        let known = tx
            .query_opt(
                "SELECT 1 FROM alerts WHERE site = $1 AND device_id = $2 AND alert_id = $3",
                &[&e.site, &e.device_id, &alert_id],
            )
            .await?;
        let window = i64::try_from(regroup_s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let flapped = match known {
            Some(_) => None,
            None => tx
                .query_opt(
                    "SELECT alert_id FROM alerts WHERE site = $1 AND device_id = $2 AND rule = $3 \
                     AND zone IS NOT DISTINCT FROM $4 AND camera IS NOT DISTINCT FROM $5 \
                     AND cleared_ts_ms BETWEEN $6::int8 - $7::int8 AND $6::int8 AND resolved_at IS NULL \
                     ORDER BY cleared_ts_ms DESC LIMIT 1 FOR UPDATE",
                    &[
                        &e.site,
                        &e.device_id,
                        &rule,
                        &text("zone"),
                        &e.camera,
                        &ts,
                        &window,
                    ],
                )
                .await?
                .map(|r| r.get::<_, String>(0)),
        };
        if let Some(row) = flapped {
            reopen(tx, e, &sent_id, &row, num("value")).await?;
            return Ok(Recorded::Regrouped);
        }
    }
    let (raised, cleared_ts) = if cleared {
        (None, Some(ts))
    } else {
        (Some(ts), None)
    };
    tx.execute(
        "INSERT INTO alerts (device_id, alert_id, site, camera, rule, severity, zone, metric, value, \
         threshold, raised_ts_ms, cleared_ts_ms) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) \
         ON CONFLICT (site, device_id, alert_id) DO UPDATE SET \
           raised_ts_ms = COALESCE(alerts.raised_ts_ms, EXCLUDED.raised_ts_ms), \
           cleared_ts_ms = COALESCE(alerts.cleared_ts_ms, EXCLUDED.cleared_ts_ms), \
           value = CASE WHEN EXCLUDED.raised_ts_ms IS NOT NULL THEN EXCLUDED.value ELSE alerts.value END",
        &[
            &e.device_id,
            &alert_id,
            &e.site,
            &e.camera,
            &rule,
            &severity,
            &text("zone"),
            &text("metric"),
            &num("value"),
            &num("threshold"),
            &raised,
            &cleared_ts,
        ],
    )
    .await?;
    Ok(if cleared {
        Recorded::Cleared
    } else {
        Recorded::Raised
    })
}

/// Reopens `row`, cleared moments before alert `sent_id` of the same rule, zone and camera was
/// raised: `sent_id` becomes its alias (so its clear closes the row), and the row's clear
/// notification, still held back for the regroup window, is withdrawn.
async fn reopen(
    tx: &impl GenericClient,
    e: &EventRow,
    sent_id: &str,
    row: &str,
    value: Option<f64>,
) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO alert_aliases (site, device_id, alias_id, alert_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
        &[&e.site, &e.device_id, &sent_id, &row],
    )
    .await?;
    tx.execute(
        "UPDATE alerts SET cleared_ts_ms = NULL, cleared_by = NULL, flaps = flaps + 1, \
         value = coalesce($4, value) WHERE site = $1 AND device_id = $2 AND alert_id = $3",
        &[&e.site, &e.device_id, &row, &value],
    )
    .await?;
    let withdrawn = tx
        .execute(
            "DELETE FROM notifications WHERE state = 'pending' AND attempts = 0 AND site = $1 \
             AND body->>'device_id' = $2 AND body->'alert'->>'state' = 'cleared' \
             AND body->'alert'->>'alert_id' IN (SELECT $3::text UNION SELECT alias_id \
               FROM alert_aliases WHERE site = $1 AND device_id = $2 AND alert_id = $3)",
            &[&e.site, &e.device_id, &row],
        )
        .await?;
    tracing::info!(site = %e.site, device = %e.device_id, alert_id = %row, reraised_as = %sent_id, withdrawn, "alert flapped: reopened");
    Ok(())
}

/// Closes the gateway's open camera alerts that its health report `e` does not list and that were
/// raised before it: their clear was lost with the gateway's outbox (a damaged disk, a replaced
/// box), and nothing else would ever close them. Alerts the hub raises itself have no camera and
/// are left alone.
async fn close_unlisted(tx: &impl GenericClient, e: &EventRow) -> Result<(), DbError> {
    let open: &[String] = e.open_alerts.as_deref().unwrap_or_default();
    let closed = tx
        .execute(
            "UPDATE alerts SET cleared_ts_ms = $4, cleared_by = 'gateway report'              WHERE site = $1 AND device_id = $2 AND cleared_ts_ms IS NULL AND camera IS NOT NULL              AND raised_ts_ms <= $4 AND NOT (alert_id = ANY($3))",
            &[&e.site, &e.device_id, &open, &e.ts_ms],
        )
        .await?;
    if closed > 0 {
        tracing::info!(site = %e.site, device = %e.device_id, closed, "alerts the gateway no longer holds open closed");
    }
    Ok(())
}

/// Each camera's newest summary, whichever order summaries arrive in (one statement; `latest`
/// holds one summary per camera).
async fn record_latest(tx: &impl GenericClient, latest: &[&&EventRow]) -> Result<(), DbError> {
    if latest.is_empty() {
        return Ok(());
    }
    let text = |f: fn(&EventRow) -> &str| latest.iter().map(|e| f(e)).collect::<Vec<&str>>();
    tx.execute(
        "INSERT INTO latest_summaries (device_id, camera, site, ts_ms, zones) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::jsonb[]) \
         ON CONFLICT (site, device_id, camera) DO UPDATE SET ts_ms = EXCLUDED.ts_ms, \
         zones = EXCLUDED.zones WHERE latest_summaries.ts_ms <= EXCLUDED.ts_ms",
        &[
            &text(|e| &e.device_id),
            &text(|e| e.camera.as_deref().unwrap_or_default()),
            &text(|e| &e.site),
            &latest.iter().map(|e| e.ts_ms).collect::<Vec<i64>>(),
            &latest
                .iter()
                .map(|e| e.payload.get("zones").unwrap_or(&Value::Null))
                .collect::<Vec<&Value>>(),
        ],
    )
    .await?;
    Ok(())
}

/// The newer status wins, whichever replica stores it first.
async fn upsert_status(tx: &Transaction<'_>, s: &StatusRow) -> Result<(), DbError> {
    tx.execute(
        "INSERT INTO devices (device_id, site, online, version, model, model_version, status_ts_ms, \
         cameras, outbox_error, seen_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, \
         CASE WHEN $3 THEN now() END) \
         ON CONFLICT (site, device_id) DO UPDATE SET online = EXCLUDED.online, \
           seen_at = coalesce(EXCLUDED.seen_at, devices.seen_at), \
           version = EXCLUDED.version, model = EXCLUDED.model, model_version = EXCLUDED.model_version, \
           status_ts_ms = EXCLUDED.status_ts_ms, cameras = EXCLUDED.cameras, \
           outbox_error = EXCLUDED.outbox_error, updated_at = now() \
         WHERE devices.status_ts_ms <= EXCLUDED.status_ts_ms",
        &[
            &s.device_id,
            &s.site,
            &s.online,
            &s.version,
            &s.model,
            &s.model_version,
            &s.ts_ms,
            &s.cameras,
            &s.outbox_error,
        ],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_events_outbox_is_its_id_up_to_the_last_colon() {
        assert_eq!(super::store_id("9c0f-e1:41"), "9c0f-e1");
        assert_eq!(super::store_id("gw:1-store:7"), "gw:1-store");
        assert_eq!(super::store_id("no-seq"), "no-seq");
    }
}
