//! Retention at fleet scale. `events` is partitioned by the UTC day of `ts_ms` (migration
//! `0008_events_by_day`): 2,000 gateways × 4 cameras at a summary a minute are 11.5 M rows a
//! day, which no `DELETE` keeps up with, while dropping a day's partition is one catalogue change.
//! One replica at a time (an advisory lock) runs a pass every `retention.check_every_s`:
//! partitions for yesterday to the day after tomorrow and for every day within the window that
//! has rows waiting in `events_default` (moved in as the partition is made); days that ended more
//! than `events_days` ago dropped; rows in `events_default` stored more than `events_days` ago
//! deleted; cleared alerts, their aliases and sent notifications older than `alerts_days` deleted.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio_postgres::Client;

use crate::config::RetentionConfig;
use crate::db::DbError;

pub const DAY_MS: i64 = 86_400_000;

/// Serialises passes between replicas (any fixed key would do).
const RETENTION_LOCK: i64 = 0x6169_736c_6572_6574;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub created: Vec<String>,
    pub moved: u64,
    pub dropped: Vec<String>,
    pub deleted_events: u64,
    pub deleted_alerts: u64,
}

/// The day (since the Unix epoch, UTC) `ts_ms` falls in.
pub fn day_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(DAY_MS)
}

/// The partition holding day `day`: `events_d20261207`.
pub fn partition_name(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("events_d{y:04}{m:02}{d:02}")
}

/// The day a partition name stands for, if it is one of ours.
pub fn partition_day(name: &str) -> Option<i64> {
    let digits = name.strip_prefix("events_d")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits[r].parse::<i64>().ok();
    let day = days_from_civil(num(0..4)?, num(4..6)?, num(6..8)?);
    (partition_name(day) == name).then_some(day)
}

/// Year, month, day of a day number (Howard Hinnant's `civil_from_days`).
fn civil(day: i64) -> (i64, i64, i64) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The day number of a date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The first day kept: days before it ended more than `events_days` ago.
pub fn first_kept_day(now_ms: i64, events_days: u32) -> i64 {
    day_of(now_ms) - i64::from(events_days)
}

/// Which days need a partition (those missing of yesterday to the day after tomorrow, and of the
/// kept days with rows waiting in the default partition) and which partitions to drop.
pub fn plan(
    now_ms: i64,
    events_days: u32,
    existing: &BTreeSet<i64>,
    waiting: &BTreeSet<i64>,
) -> (Vec<i64>, Vec<i64>) {
    let today = day_of(now_ms);
    let first = first_kept_day(now_ms, events_days);
    let create = (today - 1..=today + 2)
        .chain(
            waiting
                .iter()
                .copied()
                .filter(|d| (first..=today + 2).contains(d)),
        )
        .filter(|d| !existing.contains(d))
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let drop = existing.iter().copied().filter(|d| *d < first).collect();
    (create, drop)
}

/// One pass, if no other replica is running one; `None` when another holds the lock.
pub async fn pass(
    db: &mut Client,
    cfg: &RetentionConfig,
    now_ms: i64,
) -> Result<Option<Pass>, DbError> {
    let tx = db.transaction().await?;
    // A pass waits for running page queries to detach a day; it gives up rather than stall ingest.
    tx.batch_execute("SET LOCAL lock_timeout = '5s'").await?;
    let locked: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&RETENTION_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let existing: BTreeSet<i64> = tx
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'events'::regclass",
            &[],
        )
        .await?
        .iter()
        .filter_map(|r| partition_day(r.get(0)))
        .collect();
    let first_ms = first_kept_day(now_ms, cfg.events_days) * DAY_MS;
    let waiting: BTreeSet<i64> = tx
        .query(
            "SELECT DISTINCT ts_ms / $1::int8 FROM events_default WHERE ts_ms >= $2::int8",
            &[&DAY_MS, &first_ms],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (create, drop) = plan(now_ms, cfg.events_days, &existing, &waiting);
    let mut done = Pass::default();
    for day in create {
        let name = partition_name(day);
        let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
        tx.batch_execute(&format!(
            "CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        ))
        .await?;
        done.moved += tx
            .execute(
                &format!(
                    "WITH moved AS (DELETE FROM events_default WHERE ts_ms >= $1 AND ts_ms < $2 \
                     RETURNING *) INSERT INTO {name} SELECT * FROM moved"
                ),
                &[&from, &to],
            )
            .await?;
        tx.batch_execute(&format!(
            "ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to})"
        ))
        .await?;
        done.created.push(name);
    }
    for day in drop {
        let name = partition_name(day);
        tx.batch_execute(&format!(
            "ALTER TABLE events DETACH PARTITION {name}; DROP TABLE {name}"
        ))
        .await?;
        done.dropped.push(name);
    }
    let days = f64::from(cfg.events_days);
    done.deleted_events = tx
        .execute(
            "DELETE FROM events_default WHERE received_at < now() - make_interval(days => $1::int)",
            &[&(days as i32)],
        )
        .await?;
    let alert_cutoff = now_ms - i64::from(cfg.alerts_days) * DAY_MS;
    done.deleted_alerts = tx
        .execute(
            "DELETE FROM alerts WHERE cleared_ts_ms < $1",
            &[&alert_cutoff],
        )
        .await?;
    tx.execute(
        "DELETE FROM alert_aliases l WHERE NOT EXISTS (SELECT 1 FROM alerts a \
         WHERE a.site = l.site AND a.device_id = l.device_id AND a.alert_id = l.alert_id)",
        &[],
    )
    .await?;
    tx.execute(
        "DELETE FROM notifications WHERE state <> 'pending' \
         AND created_at < now() - make_interval(days => $1::int)",
        &[&i32::try_from(cfg.alerts_days).unwrap_or(i32::MAX)],
    )
    .await?;
    tx.commit().await?;
    Ok(Some(done))
}

/// Runs a pass at start and every `retention.check_every_s` until `shutdown` resolves.
pub async fn run(
    mut db: Client,
    cfg: RetentionConfig,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        match pass(&mut db, &cfg, crate::now_ms()).await {
            Ok(Some(p)) if p != Pass::default() => {
                tracing::info!(created = ?p.created, moved = p.moved, dropped = ?p.dropped, deleted_events = p.deleted_events, deleted_alerts = p.deleted_alerts, "retention pass");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "retention: database error; tried again next pass")
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(cfg.check_every_s)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_named_by_their_date_and_read_back() {
        let day = day_of(1_796_527_643_358);
        assert_eq!(partition_name(day), "events_d20261206");
        assert_eq!(partition_day("events_d20261206"), Some(day));
        assert_eq!(partition_name(0), "events_d19700101");
        assert_eq!(partition_name(day_of(951_782_400_000)), "events_d20000229");
        assert_eq!(partition_day("events_default"), None);
        assert_eq!(partition_day("events_d20261332"), None);
        for d in [-1000, 0, 11_016, 20_794, 30_000] {
            assert_eq!(partition_day(&partition_name(d)), Some(d));
        }
    }

    #[test]
    fn the_plan_makes_the_next_days_takes_in_waiting_rows_and_drops_the_old() {
        let now = 20_794 * DAY_MS + 5_000;
        let existing: BTreeSet<i64> = [20_700, 20_763, 20_764, 20_793, 20_794].into();
        let waiting: BTreeSet<i64> = [0, 20_780, 20_797].into();
        let (create, drop) = plan(now, 30, &existing, &waiting);
        // Day 0 is past the window (its rows wait to age out); 20,797 is further ahead than any
        // stamp the ingest accepts.
        assert_eq!(create, [20_780, 20_795, 20_796]);
        assert_eq!(drop, [20_700, 20_763]);
    }
}
