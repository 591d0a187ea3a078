//! What a gateway's message is, decided without IO: an event to store once, a device's status,
//! or something refused with the reason. The hub trusts nothing about a message: it is read
//! with the agent's own types (`aisle-proto`), so a message the agent could not have sent is
//! refused here, with its reason, instead of failing a database write or a page later. Nothing
//! image-like is stored even if a gateway (or anyone holding its certificate) sends it.

use std::fmt::Write;

use aisle_proto::event::{Event, Payload, SCHEMA_VERSION, Status};
use aisle_proto::topic::{self, Address, Kind, NAME_RULE};
use serde_json::Value;

/// Longest string accepted anywhere in a message. Zone names, reasons and ids are short; a
/// picture, even a thumbnail, encoded as text is not.
pub const MAX_STRING_CHARS: usize = 1024;

/// Largest magnitude of any number in a message: 2^53, the last integer a double (and a
/// browser) holds exactly. Counts, sequence numbers and milliseconds since 1970 stay far below
/// it, and sums of many such numbers on a page cannot overflow.
pub const MAX_NUMBER: f64 = 9_007_199_254_740_992.0;

/// How far ahead of the hub's clock a message's `ts_ms` may be. A gateway's clock drifts by
/// seconds; a stamp days ahead would pin the device's "last seen" and its newest summary for
/// ever, since only a newer stamp replaces them. Refused, not clamped: a clamped stamp would
/// still sort after every true one.
pub const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Event(EventRow),
    Status(StatusRow),
}

/// One event as it will be stored; `payload` is the event's JSON as the agent's types write it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub event_id: String,
    pub device_id: String,
    pub site: String,
    pub seq: i64,
    pub camera: Option<String>,
    pub ts_ms: i64,
    pub kind: String,
    pub payload: Value,
    /// A health event's list of the camera alerts open on the gateway (`None`: not reported).
    pub open_alerts: Option<Vec<String>>,
}

/// A device's retained status as it will be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub device_id: String,
    pub site: String,
    pub online: bool,
    pub version: String,
    pub model: String,
    pub model_version: i64,
    pub ts_ms: i64,
    pub cameras: Value,
    pub outbox_error: Option<String>,
}

/// Why a message was not stored; logged and counted, never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{topic}: {reason}")]
pub struct Refused {
    pub topic: String,
    pub reason: String,
}

/// What no field of a message may hold, with the path of the first such value.
fn unfit(v: &Value, path: &mut String) -> Option<String> {
    let at = |path: &String| {
        if path.is_empty() {
            ".".to_string()
        } else {
            path.clone()
        }
    };
    match v {
        // Bytes bound characters from above: only a long string is counted.
        Value::String(s) if s.len() > MAX_STRING_CHARS && s.chars().count() > MAX_STRING_CHARS => {
            Some(format!(
                "a string of {} characters at {}: nothing image-like is stored",
                s.chars().count(),
                at(path)
            ))
        }
        // PostgreSQL's text and jsonb cannot hold NUL.
        Value::String(s) if s.contains('\0') => Some(format!("a NUL character at {}", at(path))),
        Value::Number(n) if n.as_f64().is_none_or(|x| x.abs() > MAX_NUMBER) => {
            Some(format!("{n} at {} is beyond ±2^53", at(path)))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            let _ = write!(path, "[{i}]");
            let found = unfit(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            if k.contains('\0') || k.len() > MAX_STRING_CHARS {
                return Some(format!(
                    "a key with a NUL or over {MAX_STRING_CHARS} bytes in {}",
                    at(path)
                ));
            }
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let found = unfit(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Reads one message from `topic` under `prefix`, at `now_ms` on the hub's clock.
pub fn classify(
    prefix: &str,
    topic: &str,
    payload: &[u8],
    max_bytes: usize,
    now_ms: i64,
) -> Result<Inbound, Refused> {
    let refuse = |reason: String| Refused {
        topic: topic.into(),
        reason,
    };
    if payload.len() > max_bytes {
        return Err(refuse(format!(
            "{} bytes is over the {max_bytes}-byte limit: only summaries are accepted",
            payload.len()
        )));
    }
    let addr = topic::parse(prefix, topic)
        .ok_or_else(|| refuse(format!("not a topic gateways publish on under {prefix}/")))?;
    let text = std::str::from_utf8(payload)
        .map_err(|_| refuse("not UTF-8 text: binary payloads are never stored".into()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if let Some(why) = unfit(&value, &mut String::new()) {
        return Err(refuse(why));
    }
    if addr.kind == Kind::Status {
        let s: Status =
            serde_json::from_value(value).map_err(|e| refuse(format!("status: {e}")))?;
        same_device(&addr, &s.site, &s.device_id).map_err(refuse)?;
        let online = match s.state.as_str() {
            "online" => true,
            "offline" => false,
            other => {
                return Err(refuse(format!(
                    "status: state {other:?} is not online/offline"
                )));
            }
        };
        let ts_ms = stamp(s.ts_ms, now_ms).map_err(refuse)?;
        let cameras = serde_json::to_value(&s.cameras).map_err(|e| refuse(e.to_string()))?;
        return Ok(Inbound::Status(StatusRow {
            device_id: s.device_id,
            site: s.site,
            online,
            version: s.version,
            model: s.model,
            model_version: small(s.model_version),
            ts_ms,
            cameras,
            outbox_error: s.outbox_error,
        }));
    }
    let version = value.get("schema_version").and_then(Value::as_u64);
    if version.is_none_or(|v| v == 0 || v > u64::from(SCHEMA_VERSION)) {
        return Err(refuse(format!(
            "schema_version {} is not one this hub reads (1 to {SCHEMA_VERSION})",
            value.get("schema_version").unwrap_or(&Value::Null)
        )));
    }
    let e: Event = serde_json::from_value(value).map_err(|e| refuse(format!("event: {e}")))?;
    same_device(&addr, &e.site, &e.device_id).map_err(refuse)?;
    let kind = Kind::of(&e.payload);
    let kind_name = kind.payload_type().unwrap_or_default();
    if kind != addr.kind {
        return Err(refuse(format!(
            "payload.type {kind_name:?} does not belong on this topic (expected {:?})",
            addr.kind.payload_type().unwrap_or_default()
        )));
    }
    if addr.camera.is_some() && e.camera.as_deref() != addr.camera {
        return Err(refuse(format!(
            "camera {:?} in the event, {:?} in the topic",
            e.camera, addr.camera
        )));
    }
    if e.camera.as_deref().is_some_and(|c| !topic::is_name(c)) {
        return Err(refuse(format!("camera must be {NAME_RULE}")));
    }
    if e.event_id.is_empty() {
        return Err(refuse("event_id is empty".into()));
    }
    let ts_ms = stamp(e.ts_ms, now_ms).map_err(refuse)?;
    let payload = serde_json::to_value(&e.payload).map_err(|e| refuse(e.to_string()))?;
    let open_alerts = match &e.payload {
        Payload::Health(h) => h.open_alerts.clone(),
        _ => None,
    };
    Ok(Inbound::Event(EventRow {
        event_id: e.event_id,
        device_id: e.device_id,
        site: e.site,
        seq: small(e.seq),
        camera: e.camera,
        ts_ms,
        kind: kind_name.into(),
        payload,
        open_alerts,
    }))
}

/// A number [`unfit`] has already bounded by [`MAX_NUMBER`], as PostgreSQL's bigint.
fn small(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `ts_ms` no further ahead of `now_ms` than [`MAX_AHEAD_MS`].
fn stamp(ts_ms: u64, now_ms: i64) -> Result<i64, String> {
    let ts = small(ts_ms);
    if ts > now_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(format!(
            "ts_ms {ts} is {} s ahead of the hub's clock (at most {} s)",
            (ts - now_ms) / 1000,
            MAX_AHEAD_MS / 1000
        ));
    }
    Ok(ts)
}

/// A gateway speaks only for itself: the body's site and device must be the topic's, and be
/// names a gateway's config accepts.
fn same_device(addr: &Address, site: &str, device: &str) -> Result<(), String> {
    if addr.site != site || addr.device != device {
        return Err(format!(
            "the body names {site:?}/{device:?}, the topic {:?}/{:?}",
            addr.site, addr.device
        ));
    }
    if !topic::is_name(site) || !topic::is_name(device) {
        return Err(format!("site and device must each be {NAME_RULE}"));
    }
    Ok(())
}

/// `s` with its control characters escaped (`\n` as two characters): a topic or a refusal that
/// quotes a message goes into a log line, and must not be able to start lines of its own.
pub fn loggable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped = c.is_control().then(|| c.escape_default());
            escaped
                .into_iter()
                .flatten()
                .chain((!c.is_control()).then_some(c))
        })
        .collect()
}

/// The topic filters the hub subscribes to, each shared among the replicas in `group`.
pub fn subscriptions(prefix: &str, group: &str) -> Vec<String> {
    topic::INBOUND
        .iter()
        .map(|t| format!("$share/{group}/{prefix}/{t}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;
    const NOW: i64 = 1_800_000_000_000;

    fn classify(prefix: &str, topic: &str, payload: &[u8], max: usize) -> Result<Inbound, Refused> {
        super::classify(prefix, topic, payload, max, NOW)
    }

    fn summary() -> String {
        r#"{"schema_version":3,"event_id":"s1:7","device_id":"gw-1","site":"store-9","seq":7,"camera":"door","ts_ms":1000,"payload":{"type":"summary","window_start_ms":0,"window_end_ms":1000,"frames":5,"zones":[],"health":{"connected":true,"fps_in":5.0,"fps_out":5.0,"dropped":0,"reconnects":0}}}"#.into()
    }

    #[test]
    fn a_summary_becomes_a_row() {
        let got = classify(
            "aisle",
            "aisle/store-9/gw-1/summary/door",
            summary().as_bytes(),
            MAX,
        );
        let Ok(Inbound::Event(row)) = got else {
            panic!("{got:?}")
        };
        assert_eq!(
            (
                row.event_id.as_str(),
                row.kind.as_str(),
                row.seq,
                row.camera.as_deref()
            ),
            ("s1:7", "summary", 7, Some("door"))
        );
    }

    #[test]
    fn a_status_becomes_a_device() {
        let body = r#"{"state":"offline","device_id":"gw-1","site":"store-9","version":"0.1.0","model":"nanodet","model_version":2,"ts_ms":5,"cameras":[],"outbox_error":null}"#;
        let got = classify("aisle", "aisle/store-9/gw-1/status", body.as_bytes(), MAX);
        let Ok(Inbound::Status(s)) = got else {
            panic!("{got:?}")
        };
        assert!(!s.online);
        assert_eq!(s.model_version, 2);
    }

    fn refused(topic: &str, body: &[u8]) -> String {
        match classify("aisle", topic, body, MAX) {
            Err(r) => r.reason,
            Ok(x) => panic!("accepted {x:?}"),
        }
    }

    #[test]
    fn a_picture_is_refused_however_it_comes() {
        let jpeg = [0xFFu8, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
        assert!(refused("aisle/store-9/gw-1/summary/door", &jpeg).contains("binary"));
        let big = vec![b'x'; MAX + 1];
        assert!(refused("aisle/store-9/gw-1/alert", &big).contains("limit"));
        let b64 = summary().replace(
            r#""zones":[]"#,
            &format!(r#""zones":[],"thumbnail":"{}""#, "A".repeat(5000)),
        );
        let why = refused("aisle/store-9/gw-1/summary/door", b64.as_bytes());
        assert!(
            why.contains("payload.thumbnail") && why.contains("image-like"),
            "{why}"
        );
    }

    #[test]
    fn a_gateway_speaks_only_for_itself() {
        let why = refused("aisle/store-1/gw-1/summary/door", summary().as_bytes());
        assert!(why.contains(r#""store-9"/"gw-1""#), "{why}");
        let why = refused("aisle/store-9/gw-1/summary/till", summary().as_bytes());
        assert!(why.contains("camera"), "{why}");
        let why = refused("aisle/store-9/gw-1/alert", summary().as_bytes());
        assert!(why.contains("expected \"alert\""), "{why}");
    }

    #[test]
    fn unknown_schemas_and_topics_are_refused() {
        let newer = summary().replace("\"schema_version\":3", "\"schema_version\":4");
        assert!(refused("aisle/store-9/gw-1/summary/door", newer.as_bytes()).contains("1 to 3"));
        assert!(refused("aisle/store-9/gw-1/cmd/model", b"{}").contains("not a topic"));
        assert!(refused("aisle/store-9/gw-1/summary/door/x", b"{}").contains("not a topic"));
        assert!(refused("other/store-9/gw-1/alert", b"{}").contains("under aisle/"));
        assert!(refused("aisle/store-9/gw-1/summary/door", b"{").contains("not JSON"));
    }

    #[test]
    fn subscriptions_are_shared() {
        let s = subscriptions("aisle", "hubs");
        assert_eq!(s[0], "$share/hubs/aisle/+/+/summary/+");
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn what_postgresql_or_a_page_could_not_hold_is_refused_by_path() {
        let topic = "aisle/store-9/gw-1/summary/door";
        let zone = |z: &str| {
            summary().replace(
                r#""zones":[]"#,
                &format!(r#""zones":[{{"zone":"{z}","kind":"line","in":1,"out":2}}]"#),
            )
        };
        assert!(classify("aisle", topic, zone("door").as_bytes(), MAX).is_ok());
        let why = refused(topic, zone("a\\u0000b").as_bytes());
        assert!(
            why.contains("NUL") && why.contains("payload.zones[0].zone"),
            "{why}"
        );
        let huge = zone("door").replace(r#""in":1"#, r#""in":18446744073709551615"#);
        assert!(refused(topic, huge.as_bytes()).contains("2^53"));
        let float = summary().replace(r#""fps_in":5.0"#, r#""fps_in":1.7e308"#);
        assert!(refused(topic, float.as_bytes()).contains("payload.health.fps_in"));
        let word = summary().replace(r#""dropped":0"#, r#""dropped":"lots""#);
        assert!(refused(topic, word.as_bytes()).contains("invalid type"));
        let key = summary().replace(r#""frames":5"#, r#""frames":5,"x\u0000":1"#);
        assert!(refused(topic, key.as_bytes()).contains("NUL"));
        let status = r#"{"state":"online","device_id":"gw-1","site":"store-9","version":"v\u00001","model":"m","model_version":1,"ts_ms":5,"cameras":[],"outbox_error":null}"#;
        assert!(refused("aisle/store-9/gw-1/status", status.as_bytes()).contains(".version"));
    }

    #[test]
    fn what_is_logged_cannot_start_a_line() {
        assert_eq!(loggable("a\nb\u{1b}[31m \"q\""), "a\\nb\\u{1b}[31m \"q\"");
    }

    #[test]
    fn stamps_from_the_future_and_strange_names_are_refused() {
        let topic = "aisle/store-9/gw-1/summary/door";
        let ahead = summary().replace(
            r#""ts_ms":1000"#,
            &format!(r#""ts_ms":{}"#, NOW + MAX_AHEAD_MS + 1000),
        );
        assert!(refused(topic, ahead.as_bytes()).contains("ahead of the hub's clock"));
        let close = summary().replace(r#""ts_ms":1000"#, &format!(r#""ts_ms":{}"#, NOW + 5000));
        assert!(classify("aisle", topic, close.as_bytes(), MAX).is_ok());
        let empty = summary().replace(r#""device_id":"gw-1""#, r#""device_id":"""#);
        assert!(refused("aisle/store-9//summary/door", empty.as_bytes()).contains("1-64"));
        let spaced = summary().replace("store-9", "store 9");
        assert!(refused("aisle/store 9/gw-1/summary/door", spaced.as_bytes()).contains("1-64"));
    }
}
