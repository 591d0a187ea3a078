//! Alert notifications. Queued by the ingest in the transaction that stores the alert, then
//! POSTed in the webhook's format ([`message`]) by whichever replica locks the row first, retried
//! with exponential backoff, and dead-lettered (kept, shown on the alerts page) after the
//! webhook's `max_attempts`.

pub mod message;

use std::time::Duration;

use aisle_proto::event::Severity;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_postgres::{Client, GenericClient};

use crate::config::WebhookConfig;
use crate::db::DbError;
use crate::message::EventRow;

/// Rows one pass takes at most; each is held locked only while it is being sent.
const PASS: i64 = 20;

/// Longest wait between two attempts.
const MAX_BACKOFF_S: u64 = 300;

/// Whether an alert of `severity` at `site` goes to `hook`.
pub fn wants(hook: &WebhookConfig, site: &str, severity: Severity) -> bool {
    let site_ok = hook.sites.is_empty() || hook.sites.iter().any(|s| s == site);
    site_ok && severity >= hook.min_severity
}

/// Seconds before attempt `attempts + 1`: 1, 2, 4, … capped at five minutes.
pub fn backoff_s(attempts: u32) -> u64 {
    1u64.checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u64::MAX)
        .min(MAX_BACKOFF_S)
}

/// What is queued: the alert with where and when it happened, and for a clear when it was
/// raised (`raised_ts_ms`, when the hub has the raise), so a message can say how long it lasted.
pub fn body(e: &EventRow, raised_ts_ms: Option<i64>) -> Value {
    let mut body = json!({
        "event_id": e.event_id,
        "site": e.site,
        "device_id": e.device_id,
        "camera": e.camera,
        "ts_ms": e.ts_ms,
        "alert": e.payload,
    });
    if let Some(ts) = raised_ts_ms {
        body["raised_ts_ms"] = ts.into();
    }
    body
}

/// Queues a stored alert for every webhook that wants it (inside the storing transaction), due in
/// `delay_s` (a clear waits out the regroup window, in which a re-raise withdraws it).
pub async fn enqueue(
    tx: &impl GenericClient,
    hooks: &[WebhookConfig],
    e: &EventRow,
    delay_s: u64,
) -> Result<(), DbError> {
    // The payload was written by the agent's own types (message.rs): an alert has a severity.
    let Some(severity) = e
        .payload
        .get("severity")
        .and_then(|s| Severity::deserialize(s).ok())
    else {
        return Ok(());
    };
    let matching: Vec<&WebhookConfig> = hooks
        .iter()
        .filter(|h| wants(h, &e.site, severity))
        .collect();
    if matching.is_empty() {
        return Ok(());
    }
    let raised_ts_ms = match (
        e.payload.get("state").and_then(Value::as_str),
        e.payload.get("alert_id").and_then(Value::as_str),
    ) {
        (Some("cleared"), Some(id)) => tx
            .query_opt(
                "SELECT raised_ts_ms FROM alerts WHERE site = $1 AND device_id = $2 AND alert_id = \
                 coalesce((SELECT alert_id FROM alert_aliases WHERE site = $1 AND device_id = $2 \
                 AND alias_id = $3), $3)",
                &[&e.site, &e.device_id, &id],
            )
            .await?
            .and_then(|r| r.get::<_, Option<i64>>(0)),
        _ => None,
    };
    let body = body(e, raised_ts_ms);
    for hook in matching {
        tx.execute(
            "INSERT INTO notifications (webhook, event_id, site, body, next_at) \
             VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) \
             ON CONFLICT (webhook, event_id) DO NOTHING",
            &[&hook.name, &e.event_id, &e.site, &body, &(delay_s as f64)],
        )
        .await?;
    }
    Ok(())
}

/// One POST in the hook's format; the reason when it did not get a 2xx.
async fn post(hook: &WebhookConfig, body: &Value, page: Option<&str>) -> Result<(), String> {
    let (url, request, timeout) = (
        hook.url.clone(),
        message::request(hook.format, body, page),
        Duration::from_secs(hook.timeout_s),
    );
    tokio::task::spawn_blocking(move || {
        let mut call = ureq::AgentBuilder::new()
            .timeout(timeout)
            .build()
            .post(&url)
            .set("Content-Type", request.content_type);
        for (name, value) in &request.headers {
            call = call.set(name, value);
        }
        match call.send_string(&request.body) {
            Ok(_) => Ok(()),
            Err(ureq::Error::Status(code, _)) => Err(format!("HTTP {code}")),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Sends what is due; returns how many rows it handled. `page` is where the pages are served,
/// for the messages' links.
pub async fn pass(
    db: &mut Client,
    hooks: &[WebhookConfig],
    page: Option<&str>,
) -> Result<usize, DbError> {
    let tx = db.transaction().await?;
    let rows = tx
        .query(
            "SELECT id, webhook, body, attempts FROM notifications \
             WHERE state = 'pending' AND next_at <= now() ORDER BY id LIMIT $1 \
             FOR UPDATE SKIP LOCKED",
            &[&PASS],
        )
        .await?;
    for row in &rows {
        let (id, name, body, attempts): (i64, String, Value, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let attempts = attempts.max(0) as u32 + 1;
        let result = match hooks.iter().find(|h| h.name == name) {
            Some(hook) => post(hook, &body, page)
                .await
                .map_err(|e| (e, hook.max_attempts)),
            None => Err(("the webhook is no longer configured".into(), 0)),
        };
        match result {
            Ok(()) => {
                tracing::info!(webhook = %name, id, attempts, "notification sent");
                tx.execute(
                    "UPDATE notifications SET state = 'sent', sent_at = now(), attempts = $2, \
                     last_error = NULL WHERE id = $1",
                    &[&id, &(attempts as i32)],
                )
                .await?;
            }
            Err((error, max)) if attempts >= max => {
                tracing::error!(webhook = %name, id, attempts, %error, "notification dead-lettered");
                tx.execute(
                    "UPDATE notifications SET state = 'dead', attempts = $2, last_error = $3 \
                     WHERE id = $1",
                    &[&id, &(attempts as i32), &error],
                )
                .await?;
            }
            Err((error, _)) => {
                let wait = backoff_s(attempts) as f64;
                tracing::warn!(webhook = %name, id, attempts, %error, retry_in_s = wait, "notification failed");
                tx.execute(
                    "UPDATE notifications SET attempts = $2, last_error = $3, \
                     next_at = now() + make_interval(secs => $4) WHERE id = $1",
                    &[&id, &(attempts as i32), &error, &wait],
                )
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// Sends notifications until `shutdown` resolves, looking for due ones twice a second.
pub async fn run(
    mut db: Client,
    hooks: Vec<WebhookConfig>,
    page: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        loop {
            match pass(&mut db, &hooks, page.as_deref()).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "notifications: database error");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Severity::{Critical, Info, Warning};

    fn hook(sites: &[&str], min: Severity) -> WebhookConfig {
        WebhookConfig {
            name: "ops".into(),
            url: "http://127.0.0.1:1/".into(),
            sites: sites.iter().map(|s| s.to_string()).collect(),
            min_severity: min,
            max_attempts: 3,
            timeout_s: 5,
            format: crate::config::WebhookFormat::Json,
        }
    }

    #[test]
    fn a_webhook_gets_its_sites_at_its_severity_and_above() {
        assert!(wants(&hook(&[], Warning), "any", Critical));
        assert!(!wants(&hook(&[], Warning), "any", Info));
        assert!(wants(&hook(&["s9"], Info), "s9", Info));
        assert!(!wants(&hook(&["s9"], Info), "s1", Critical));
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let waits: Vec<u64> = (1..=11).map(backoff_s).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff_s(200), 300);
    }
}
