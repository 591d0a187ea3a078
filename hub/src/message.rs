//! What a gateway's message is, decided without IO: an event to store once, a device's status,
//! or something refused with the reason. The hub trusts nothing about a message's shape, and
//! nothing image-like is stored even if a gateway (or anyone holding its certificate) sends it.

use std::fmt::Write;

use serde::Deserialize;
use serde_json::Value;

/// The newest event schema this hub understands (the agent's `SCHEMA_VERSION`).
pub const SCHEMA_VERSION: u32 = 3;

/// Longest string accepted anywhere in a message. Zone names, reasons and ids are short; a
/// picture, even a thumbnail, encoded as text is not.
pub const MAX_STRING_CHARS: usize = 1024;

/// The kinds of event the agent publishes (`payload.type`).
pub const KINDS: [&str; 4] = ["summary", "alert", "health", "update"];

#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Event(EventRow),
    Status(StatusRow),
}

/// One event as it will be stored; `payload` is the event's own JSON, kept whole.
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

#[derive(Deserialize)]
struct WireEvent {
    schema_version: u32,
    event_id: String,
    device_id: String,
    site: String,
    seq: u64,
    #[serde(default)]
    camera: Option<String>,
    ts_ms: u64,
    payload: Value,
}

#[derive(Deserialize)]
struct WireStatus {
    state: String,
    device_id: String,
    site: String,
    version: String,
    model: String,
    model_version: u64,
    ts_ms: u64,
    cameras: Value,
    outbox_error: Option<String>,
}

/// The topic's parts after the prefix: `{site}/{device}/{kind}[/{camera}]`.
struct Address<'a> {
    site: &'a str,
    device: &'a str,
    kind: &'a str,
    camera: Option<&'a str>,
}

fn address<'a>(prefix: &str, topic: &'a str) -> Option<Address<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [site, device, kind] => Some(Address {
            site,
            device,
            kind,
            camera: None,
        }),
        [site, device, kind, camera] => Some(Address {
            site,
            device,
            kind,
            camera: Some(camera),
        }),
        _ => None,
    }
}

/// The path of the first string longer than [`MAX_STRING_CHARS`], if any.
fn long_string(v: &Value, path: &mut String) -> Option<(String, usize)> {
    match v {
        // Bytes bound characters from above: only a long string is counted.
        Value::String(s) if s.len() > MAX_STRING_CHARS => {
            let n = s.chars().count();
            (n > MAX_STRING_CHARS).then(|| (path.clone(), n))
        }
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            let _ = write!(path, "[{i}]");
            let found = long_string(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, item)| {
            let len = path.len();
            path.push('.');
            path.push_str(k);
            let found = long_string(item, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Reads one message from `topic` under `prefix`.
pub fn classify(
    prefix: &str,
    topic: &str,
    payload: &[u8],
    max_bytes: usize,
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
    let addr = address(prefix, topic)
        .ok_or_else(|| refuse(format!("not a gateway topic under {prefix}/")))?;
    let text = std::str::from_utf8(payload)
        .map_err(|_| refuse("not UTF-8 text: binary payloads are never stored".into()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| refuse(format!("not JSON: {e}")))?;
    if let Some((path, n)) = long_string(&value, &mut String::new()) {
        return Err(refuse(format!(
            "a string of {n} characters at {}: nothing image-like is stored",
            if path.is_empty() { "." } else { &path }
        )));
    }
    if addr.kind == "status" && addr.camera.is_none() {
        let s: WireStatus =
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
        return Ok(Inbound::Status(StatusRow {
            device_id: s.device_id,
            site: s.site,
            online,
            version: s.version,
            model: s.model,
            model_version: column("model_version", s.model_version).map_err(refuse)?,
            ts_ms: column("ts_ms", s.ts_ms).map_err(refuse)?,
            cameras: s.cameras,
            outbox_error: s.outbox_error,
        }));
    }
    let expected = match (addr.kind, addr.camera) {
        ("summary", Some(_)) => "summary",
        ("alert", None) => "alert",
        ("health", None) => "health",
        ("model", None) => "update",
        _ => return Err(refuse("not a topic the agent publishes events on".into())),
    };
    let e: WireEvent = serde_json::from_value(value).map_err(|e| refuse(format!("event: {e}")))?;
    if e.schema_version > SCHEMA_VERSION || e.schema_version == 0 {
        return Err(refuse(format!(
            "schema_version {} is not one this hub reads (1 to {SCHEMA_VERSION})",
            e.schema_version
        )));
    }
    same_device(&addr, &e.site, &e.device_id).map_err(refuse)?;
    let kind = e
        .payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if kind != expected {
        return Err(refuse(format!(
            "payload.type {kind:?} does not belong on this topic (expected {expected:?})"
        )));
    }
    if addr.camera.is_some() && e.camera.as_deref() != addr.camera {
        return Err(refuse(format!(
            "camera {:?} in the event, {:?} in the topic",
            e.camera, addr.camera
        )));
    }
    if e.event_id.is_empty() {
        return Err(refuse("event_id is empty".into()));
    }
    Ok(Inbound::Event(EventRow {
        event_id: e.event_id,
        device_id: e.device_id,
        site: e.site,
        seq: column("seq", e.seq).map_err(refuse)?,
        camera: e.camera,
        ts_ms: column("ts_ms", e.ts_ms).map_err(refuse)?,
        kind,
        payload: e.payload,
    }))
}

/// PostgreSQL's bigint is signed: larger numbers are refused rather than wrapped.
fn column(field: &str, v: u64) -> Result<i64, String> {
    i64::try_from(v).map_err(|_| format!("{field} {v} is larger than 2^63 - 1"))
}

/// A gateway speaks only for itself: the body's site and device must be the topic's.
fn same_device(addr: &Address, site: &str, device: &str) -> Result<(), String> {
    if addr.site != site || addr.device != device {
        return Err(format!(
            "the body names {site}/{device}, the topic {}/{}",
            addr.site, addr.device
        ));
    }
    Ok(())
}

/// The topic filters the hub subscribes to, each shared among the replicas in `group`.
pub fn subscriptions(prefix: &str, group: &str) -> Vec<String> {
    [
        "+/+/summary/+",
        "+/+/alert",
        "+/+/health",
        "+/+/model",
        "+/+/status",
    ]
    .iter()
    .map(|t| format!("$share/{group}/{prefix}/{t}"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

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
        assert!(why.contains("store-9/gw-1"), "{why}");
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
        assert!(refused("other/store-9/gw-1/alert", b"{}").contains("under aisle/"));
        assert!(refused("aisle/store-9/gw-1/summary/door", b"{").contains("not JSON"));
    }

    #[test]
    fn subscriptions_are_shared() {
        let s = subscriptions("aisle", "hubs");
        assert_eq!(s[0], "$share/hubs/aisle/+/+/summary/+");
        assert_eq!(s.len(), 5);
    }
}
