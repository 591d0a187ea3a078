//! Gateways that go silent. A gateway that stops sending (power, network, a crashed box) cannot
//! say so: the hub raises `gateway_offline` for it when it has heard nothing (no online status,
//! no event) for `alerts.gateway_offline_after_s`, and clears it when the gateway is heard again,
//! with the lifecycle, pages and webhooks of the agents' own alerts. Every replica runs the
//! pass; the alert's id derives from when the gateway was last heard, so two replicas raising it
//! at once make one row and one notification.

use std::time::Duration;

use aisle_proto::event::{Alert, AlertState, Severity};
use tokio_postgres::Client;

use crate::config::{AlertsConfig, WebhookConfig};
use crate::db::DbError;
use crate::message::EventRow;
use crate::notify;

/// The rule name of the hub's own alert for a silent gateway.
pub const GATEWAY_OFFLINE: &str = "gateway_offline";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub raised: u64,
    pub cleared: u64,
}

/// Raises the alert for gateways silent too long, clears it for those heard since, and queues
/// their notifications, in one transaction.
pub async fn pass(
    db: &mut Client,
    cfg: &AlertsConfig,
    hooks: &[WebhookConfig],
) -> Result<Pass, DbError> {
    let after = cfg.gateway_offline_after_s as f64;
    let tx = db.transaction().await?;
    let raised = tx
        .query(
            "INSERT INTO alerts (device_id, alert_id, site, rule, severity, value, threshold, \
             raised_ts_ms) \
             SELECT d.device_id, $2 || '/' || (extract(epoch FROM d.seen_at) * 1000)::bigint, \
               d.site, $2, 'critical', round(extract(epoch FROM now() - d.seen_at)), $1, \
               (extract(epoch FROM now()) * 1000)::bigint \
             FROM devices d WHERE d.seen_at < now() - make_interval(secs => $1) \
             AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.site = d.site \
               AND a.device_id = d.device_id AND a.rule = $2 AND a.cleared_ts_ms IS NULL) \
             ORDER BY d.site, d.device_id \
             ON CONFLICT (site, device_id, alert_id) DO NOTHING \
             RETURNING site, device_id, alert_id, raised_ts_ms, value",
            &[&after, &GATEWAY_OFFLINE],
        )
        .await?;
    let cleared = tx
        .query(
            "UPDATE alerts a SET cleared_ts_ms = (extract(epoch FROM d.seen_at) * 1000)::bigint, \
               cleared_by = 'hub' \
             FROM devices d WHERE a.site = d.site AND a.device_id = d.device_id \
             AND a.rule = $1 AND a.cleared_ts_ms IS NULL \
             AND d.seen_at > to_timestamp(a.raised_ts_ms / 1000.0) \
             RETURNING a.site, a.device_id, a.alert_id, a.cleared_ts_ms, a.value",
            &[&GATEWAY_OFFLINE],
        )
        .await?;
    for (rows, state) in [
        (&raised, AlertState::Raised),
        (&cleared, AlertState::Cleared),
    ] {
        for row in rows {
            let e = event(
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                state,
                after,
            );
            notify::enqueue(&tx, hooks, &e, 0).await?;
            tracing::warn!(site = %e.site, device = %e.device_id, alert_id = row.get::<_, &str>(2), state = ?state, "gateway silence");
        }
    }
    tx.commit().await?;
    Ok(Pass {
        raised: raised.len() as u64,
        cleared: cleared.len() as u64,
    })
}

/// The alert as the webhooks and the events of an agent's alert carry it.
fn event(
    site: String,
    device_id: String,
    alert_id: String,
    ts_ms: i64,
    silent_s: Option<f64>,
    state: AlertState,
    after_s: f64,
) -> EventRow {
    let alert = Alert {
        alert_id: alert_id.clone(),
        rule: GATEWAY_OFFLINE.into(),
        severity: Severity::Critical,
        state,
        zone: None,
        metric: Some("silent_s".into()),
        value: silent_s,
        threshold: Some(after_s),
    };
    let state_name = match state {
        AlertState::Raised => "raised",
        AlertState::Cleared => "cleared",
    };
    EventRow {
        event_id: format!("hub:{site}:{device_id}:{alert_id}:{state_name}"),
        device_id,
        site,
        seq: 0,
        camera: None,
        ts_ms,
        kind: "alert".into(),
        payload: serde_json::to_value(alert).unwrap_or_default(),
        open_alerts: None,
    }
}

/// Runs a pass every `alerts.check_every_s` until `shutdown` resolves. The first waits a whole
/// `gateway_offline_after_s`: a hub that was away has heard from no gateway yet, and the
/// messages the broker kept for it must arrive before anyone is judged silent.
pub async fn run(
    mut db: Client,
    cfg: AlertsConfig,
    hooks: Vec<WebhookConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => return,
        _ = tokio::time::sleep(Duration::from_secs(cfg.gateway_offline_after_s)) => {}
    }
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_secs(cfg.check_every_s)) => {}
        }
        if let Err(e) = pass(&mut db, &cfg, &hooks).await {
            tracing::error!(error = %e, "gateway silence: database error");
        }
    }
}
