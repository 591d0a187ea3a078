//! What a notification says, in the shape its receiver reads. The queued body is aisle's own JSON
//! (`super::body`); at sending time it becomes one short line a person reads on a phone — store,
//! what, where, the figure, since when, a link to the store's page — wrapped as the webhook's
//! `format` wants: Slack and Mattermost, Google Chat and Microsoft Teams show a message only
//! from their own field names, ntfy shows the request body and reads title and priority from
//! headers.

use aisle_proto::event::Severity;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::WebhookFormat as Format;
use crate::words::{age, clock, number};

/// One POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The queued body as `format` sends it; `page` is where the hub's pages are served, for the
/// link.
pub fn request(format: Format, queued: &Value, page: Option<&str>) -> Request {
    let json_request = |v: Value| Request {
        content_type: "application/json",
        headers: Vec::new(),
        body: v.to_string(),
    };
    let line = || line(queued, page);
    match format {
        Format::Json => json_request(queued.clone()),
        Format::Slack | Format::GoogleChat => json_request(json!({ "text": line() })),
        Format::Teams => json_request(json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "type": "AdaptiveCard",
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "version": "1.4",
                    "body": [{ "type": "TextBlock", "text": line(), "wrap": true }],
                },
            }],
        })),
        Format::Ntfy => {
            let alert = &queued["alert"];
            let raised = alert["state"] == "raised";
            let severity = Severity::deserialize(&alert["severity"]).unwrap_or_default();
            let priority = match (raised, severity) {
                (false, _) => "3",
                (true, Severity::Critical) => "5",
                (true, Severity::Warning) => "4",
                (true, Severity::Info) => "3",
            };
            let mut headers = vec![
                ("Title", title(queued)),
                ("Priority", priority.to_string()),
                (
                    "Tags",
                    if raised {
                        "warning"
                    } else {
                        "white_check_mark"
                    }
                    .to_string(),
                ),
            ];
            if let Some(url) = link(queued, page) {
                headers.push(("Click", url));
            }
            Request {
                content_type: "text/plain; charset=utf-8",
                headers,
                body: text(queued),
            }
        }
        Format::Text => Request {
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: line(),
        },
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `store-12: kiosk-queue` — which store and which alert, the title of the message.
fn title(queued: &Value) -> String {
    let alert = &queued["alert"];
    let state = if alert["state"] == "raised" {
        str_at(alert, "severity").unwrap_or("alert").to_uppercase()
    } else {
        "ENDED".into()
    };
    format!(
        "{state} {}: {}",
        str_at(queued, "site").unwrap_or("?"),
        str_at(alert, "rule").unwrap_or("?")
    )
}

/// Everything after the title: where, the figure, when.
fn text(queued: &Value) -> String {
    let alert = &queued["alert"];
    let device = str_at(queued, "device_id").unwrap_or("?");
    let place = match (str_at(alert, "zone"), str_at(queued, "camera")) {
        (Some(zone), Some(camera)) => format!("{zone} ({camera})"),
        (None, Some(camera)) => format!("camera {camera} on {device}"),
        (Some(zone), None) => zone.to_string(),
        (None, None) => format!("gateway {device}"),
    };
    let ts = queued["ts_ms"].as_i64().unwrap_or(0);
    if alert["state"] == "raised" {
        let value = alert["value"].as_f64();
        let figure = match (str_at(alert, "metric"), value) {
            (Some(metric), Some(_)) => format!(
                ", {metric} {} (limit {})",
                number(value),
                number(alert["threshold"].as_f64())
            ),
            _ => String::new(),
        };
        format!("{place}{figure}, since {}", clock(ts))
    } else {
        let lasted = queued["raised_ts_ms"]
            .as_i64()
            .map(|from| format!(" after {}", age((ts - from) / 1000)))
            .unwrap_or_default();
        format!("{place}: ended{lasted}, at {}", clock(ts))
    }
}

/// The store's alerts page, when the hub knows where it is served.
fn link(queued: &Value, page: Option<&str>) -> Option<String> {
    let site = str_at(queued, "site")?;
    Some(format!(
        "{}/alerts?site={site}",
        page?.trim_end_matches('/')
    ))
}

/// The whole message on one line.
pub fn line(queued: &Value, page: Option<&str>) -> String {
    let link = link(queued, page)
        .map(|l| format!(" — {l}"))
        .unwrap_or_default();
    format!("{} · {}{link}", title(queued), text(queued))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(state: &str) -> Value {
        json!({
            "event_id": "s:41", "site": "store-12", "device_id": "gw-01", "camera": "till",
            "ts_ms": 1_796_527_643_358i64, "raised_ts_ms": 1_796_527_463_358i64,
            "alert": {"type": "alert", "alert_id": "a", "rule": "kiosk-queue", "severity": "critical",
                      "state": state, "zone": "kiosk", "metric": "length", "value": 6.0, "threshold": 5.0}
        })
    }

    const PAGE: Option<&str> = Some("https://hub.example.com/");

    #[test]
    fn one_line_says_store_what_where_figure_when_and_links_the_page() {
        assert_eq!(
            line(&queued("raised"), PAGE),
            "CRITICAL store-12: kiosk-queue · kiosk (till), length 6 (limit 5), since 03:27 UTC — https://hub.example.com/alerts?site=store-12"
        );
        assert_eq!(
            line(&queued("cleared"), None),
            "ENDED store-12: kiosk-queue · kiosk (till): ended after 3 min, at 03:27 UTC"
        );
        let mut silent = queued("raised");
        silent["camera"] = Value::Null;
        silent["alert"]["zone"] = Value::Null;
        silent["alert"]["metric"] = Value::Null;
        assert!(line(&silent, None).contains("· gateway gw-01, since"));
    }

    #[test]
    fn each_format_has_the_shape_its_receiver_reads() {
        let q = queued("raised");
        let body = |f| serde_json::from_str::<Value>(&request(f, &q, PAGE).body).unwrap();
        assert_eq!(body(Format::Json), q);
        assert_eq!(body(Format::Slack)["text"], line(&q, PAGE));
        assert_eq!(body(Format::GoogleChat)["text"], line(&q, PAGE));
        let card = body(Format::Teams);
        assert_eq!(card["type"], "message");
        assert_eq!(
            card["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(
            card["attachments"][0]["content"]["body"][0]["text"],
            line(&q, PAGE)
        );
        let ntfy = request(Format::Ntfy, &q, PAGE);
        assert_eq!(ntfy.content_type, "text/plain; charset=utf-8");
        assert!(
            ntfy.body.starts_with("kiosk (till), length 6"),
            "{}",
            ntfy.body
        );
        assert!(ntfy.headers.contains(&("Priority", "5".into())));
        assert!(
            ntfy.headers
                .contains(&("Title", "CRITICAL store-12: kiosk-queue".into()))
        );
        assert!(ntfy.headers.contains(&(
            "Click",
            "https://hub.example.com/alerts?site=store-12".into()
        )));
        assert_eq!(request(Format::Text, &q, None).body, line(&q, None));
    }
}
