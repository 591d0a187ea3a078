//! A rollout's state in PostgreSQL: starting one (its targets split into waves), halting one,
//! and reading them for the page. The driver's own queries live in `driver`.

use std::path::Path;

use thiserror::Error;
use tokio_postgres::Client;

use super::bundle::{self, BundleError};
use super::{assign, parse_waves};
use crate::db::DbError;

#[derive(Debug, Error)]
pub enum RolloutError {
    #[error("--waves {text:?}: {reason}")]
    Waves { text: String, reason: String },
    #[error("--halt-above {0}: a share of a wave from 0 (any failure halts) to below 1")]
    Threshold(f64),
    #[error("--wave-timeout: at least one second")]
    Timeout,
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(
        "no gateway to offer {model} v{version}: none known to the hub is in the manifest's targets{sites} and not already on v{version} or newer"
    )]
    NoTargets {
        model: String,
        version: i64,
        sites: String,
    },
    #[error("a rollout of {model} is already running (#{id}): halt it first")]
    Running { model: String, id: i64 },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for RolloutError {
    fn from(e: tokio_postgres::Error) -> Self {
        RolloutError::Db(DbError::Postgres(e))
    }
}

/// What a fleet admin asks for, from the command line or the page.
pub struct Request<'a> {
    pub bundle: &'a Path,
    pub waves: &'a str,
    pub halt_above: f64,
    pub wave_timeout_s: i64,
    /// Only these sites' gateways; empty: every site the manifest admits.
    pub sites: &'a [String],
    pub by: &'a str,
}

/// A rollout as it was created: its id and each wave's size.
#[derive(Debug)]
pub struct Started {
    pub id: i64,
    pub model: String,
    pub version: i64,
    pub waves: Vec<usize>,
}

/// Creates a rollout: the gateways the hub knows, in the manifest's targets (and `sites`), not
/// already on this version or newer, sorted by id and split into waves. The driver offers wave 1
/// on its next round.
pub async fn start(client: &mut Client, r: &Request<'_>) -> Result<Started, RolloutError> {
    let waves = parse_waves(r.waves).map_err(|reason| RolloutError::Waves {
        text: r.waves.into(),
        reason,
    })?;
    if !(0.0..1.0).contains(&r.halt_above) {
        return Err(RolloutError::Threshold(r.halt_above));
    }
    if r.wave_timeout_s < 1 {
        return Err(RolloutError::Timeout);
    }
    let b = bundle::load(r.bundle)?;
    let tx = client.transaction().await?;
    let rows = tx
        .query(
            "SELECT device_id, site FROM devices WHERE NOT (model = $1 AND model_version >= $2) \
             AND (cardinality($3::text[]) = 0 OR site = ANY($3)) ORDER BY site, device_id",
            &[&b.model, &b.version, &r.sites],
        )
        .await?;
    let (devices, sites): (Vec<String>, Vec<String>) = rows
        .iter()
        .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1)))
        .filter(|(d, s)| b.targets.admits(d, s))
        .unzip();
    if devices.is_empty() {
        return Err(RolloutError::NoTargets {
            model: b.model,
            version: b.version,
            sites: if r.sites.is_empty() {
                String::new()
            } else {
                format!(" at {}", r.sites.join(", "))
            },
        });
    }
    let planned = assign(&devices, &waves);
    let inserted = tx
        .query_one(
            "INSERT INTO rollouts (bundle, model, version, offer, waves, halt_above, wave_timeout_s, \
             created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &b.name,
                &b.model,
                &b.version,
                &b.offer,
                &r.waves,
                &r.halt_above,
                &r.wave_timeout_s,
                &r.by,
            ],
        )
        .await;
    let id: i64 = match inserted {
        Ok(row) => row.get(0),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            drop(tx);
            let id = client
                .query_one(
                    "SELECT id FROM rollouts WHERE model = $1 AND state = 'running'",
                    &[&b.model],
                )
                .await
                .map(|row| row.get(0))
                .unwrap_or_default();
            return Err(RolloutError::Running { model: b.model, id });
        }
        Err(e) => return Err(e.into()),
    };
    let wave_of: Vec<i32> = planned
        .iter()
        .zip(1..)
        .flat_map(|(members, n)| std::iter::repeat_n(n, members.len()))
        .collect();
    tx.execute(
        "INSERT INTO rollout_targets (rollout_id, device_id, site, wave) \
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int4[])",
        &[&id, &devices, &sites, &wave_of],
    )
    .await?;
    tx.commit().await?;
    tracing::info!(id, model = %b.model, version = b.version, by = r.by, waves = ?planned.iter().map(Vec::len).collect::<Vec<_>>(), "rollout started");
    Ok(Started {
        id,
        model: b.model,
        version: b.version,
        waves: planned.iter().map(Vec::len).collect(),
    })
}

/// Stops a running rollout: no further wave is offered, and the driver withdraws the offers its
/// gateways have not answered. Returns whether it was running.
pub async fn halt(client: &Client, id: i64, by: &str) -> Result<bool, DbError> {
    let n = client
        .execute(
            "UPDATE rollouts SET state = 'halted', reason = $2, updated_at = now() \
             WHERE id = $1 AND state = 'running'",
            &[&id, &format!("halted by {by}")],
        )
        .await?;
    Ok(n == 1)
}

/// One wave as the page shows it.
#[derive(Debug)]
pub struct WaveView {
    pub wave: i32,
    pub gateways: i64,
    pub committed: i64,
    pub failed: i64,
    pub pending: i64,
    /// When its offers went out (UTC, minutes); `None`: not yet.
    pub offered: Option<String>,
    /// `device: step` of each failed gateway.
    pub failures: Vec<String>,
}

/// One rollout as the page shows it.
#[derive(Debug)]
pub struct RolloutView {
    pub id: i64,
    pub bundle: String,
    pub model: String,
    pub version: i64,
    pub waves_text: String,
    pub halt_above: f64,
    pub state: String,
    pub wave: i32,
    pub reason: Option<String>,
    pub created_by: String,
    pub created: String,
    pub waves: Vec<WaveView>,
}

/// The newest rollouts, each with its waves.
pub async fn list(client: &Client, limit: i64) -> Result<Vec<RolloutView>, DbError> {
    let rollouts = client
        .query(
            "SELECT id, bundle, model, version, waves, halt_above, state, wave, reason, created_by, \
             to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') \
             FROM rollouts ORDER BY id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    let ids: Vec<i64> = rollouts.iter().map(|r| r.get(0)).collect();
    let waves = client
        .query(
            "SELECT rollout_id, wave, count(*), count(*) FILTER (WHERE outcome = 'committed'), \
             count(*) FILTER (WHERE outcome = 'failed'), count(*) FILTER (WHERE outcome = 'pending'), \
             to_char(min(offered_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
             coalesce(array_agg(site || '/' || device_id || ': ' || step ORDER BY site, device_id) \
                      FILTER (WHERE outcome = 'failed'), '{}') \
             FROM rollout_targets WHERE rollout_id = ANY($1) GROUP BY rollout_id, wave \
             ORDER BY rollout_id, wave",
            &[&ids],
        )
        .await?;
    Ok(rollouts
        .iter()
        .map(|r| {
            let id: i64 = r.get(0);
            RolloutView {
                id,
                bundle: r.get(1),
                model: r.get(2),
                version: r.get(3),
                waves_text: r.get(4),
                halt_above: r.get(5),
                state: r.get(6),
                wave: r.get(7),
                reason: r.get(8),
                created_by: r.get(9),
                created: r.get(10),
                waves: waves
                    .iter()
                    .filter(|w| w.get::<_, i64>(0) == id)
                    .map(|w| WaveView {
                        wave: w.get(1),
                        gateways: w.get(2),
                        committed: w.get(3),
                        failed: w.get(4),
                        pending: w.get(5),
                        offered: w.get(6),
                        failures: w.get(7),
                    })
                    .collect(),
            }
        })
        .collect())
}
