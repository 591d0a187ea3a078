//! Where messages travel: every topic is `{prefix}/{site}/{device}/{suffix}`, and the suffix says
//! what the message is. The agent builds topics with these functions and the hub reads them back
//! with [`parse`], so the two cannot drift apart.

use crate::event::{Event, Payload};

/// The device's retained status document.
pub const STATUS: &str = "status";
/// Alert events.
pub const ALERT: &str = "alert";
/// The agent's health events.
pub const HEALTH: &str = "health";
/// Model update steps.
pub const MODEL: &str = "model";
/// Summaries, one level below per camera: `summary/{camera}`.
pub const SUMMARY: &str = "summary";
/// Update offers sent to the gateway.
pub const OFFER: &str = "cmd/model";

/// What a site, device or camera name may hold, as people are told it.
pub const NAME_RULE: &str = "1-64 of A-Z a-z 0-9 - _";

/// Whether `s` may name a site, device or camera: it is one level of every topic the gateway
/// publishes on, so nothing that MQTT or a log line would read differently is allowed.
pub fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a gateway publishes on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Status,
    Summary,
    Alert,
    Health,
    Update,
}

impl Kind {
    /// What an event with this payload is, as its topic says it.
    pub fn of(payload: &Payload) -> Self {
        match payload {
            Payload::Summary(_) => Kind::Summary,
            Payload::Alert(_) => Kind::Alert,
            Payload::Health(_) => Kind::Health,
            Payload::Update(_) => Kind::Update,
        }
    }

    /// The `payload.type` of the events this topic carries (`None` for the status).
    pub fn payload_type(self) -> Option<&'static str> {
        match self {
            Kind::Status => None,
            Kind::Summary => Some("summary"),
            Kind::Alert => Some("alert"),
            Kind::Health => Some("health"),
            Kind::Update => Some("update"),
        }
    }
}

/// A gateway topic read back into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address<'a> {
    pub site: &'a str,
    pub device: &'a str,
    pub kind: Kind,
    /// A summary's camera.
    pub camera: Option<&'a str>,
}

/// The topic suffix an event travels on, below its device's prefix.
pub fn of_event(event: &Event) -> String {
    match (&event.payload, &event.camera) {
        (Payload::Summary(_), Some(c)) => format!("{SUMMARY}/{c}"),
        (Payload::Summary(_), None) => SUMMARY.into(),
        (Payload::Alert(_), _) => ALERT.into(),
        (Payload::Health(_), _) => HEALTH.into(),
        (Payload::Update(_), _) => MODEL.into(),
    }
}

/// A device's prefix, below which [`of_event`]'s suffixes and [`STATUS`] go.
pub fn device(prefix: &str, site: &str, device: &str) -> String {
    [prefix, site, device].join("/")
}

/// The topic an update offer for one gateway is sent on.
pub fn offer(prefix: &str, site: &str, device_id: &str) -> String {
    [prefix, site, device_id, OFFER].join("/")
}

/// The filters, below the prefix, that see everything gateways publish.
pub const INBOUND: [&str; 5] = [
    "+/+/summary/+",
    "+/+/alert",
    "+/+/health",
    "+/+/model",
    "+/+/status",
];

/// A topic a gateway publishes on, or `None` for any other topic (commands included).
pub fn parse<'a>(prefix: &str, topic: &'a str) -> Option<Address<'a>> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (site, device, suffix) = (parts.next()?, parts.next()?, parts.next()?);
    let camera = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let kind = match (suffix, camera) {
        (STATUS, None) => Kind::Status,
        (SUMMARY, Some(_)) => Kind::Summary,
        (ALERT, None) => Kind::Alert,
        (HEALTH, None) => Kind::Health,
        (MODEL, None) => Kind::Update,
        _ => return None,
    };
    Some(Address {
        site,
        device,
        kind,
        camera,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_built_is_read_back() {
        let a = parse("aisle", "aisle/s1/gw-1/summary/door").unwrap();
        assert_eq!(
            (a.site, a.device, a.kind, a.camera),
            ("s1", "gw-1", Kind::Summary, Some("door"))
        );
        assert_eq!(
            parse("aisle", "aisle/s1/gw-1/status").unwrap().kind,
            Kind::Status
        );
        assert_eq!(
            parse("aisle", "aisle/s1/gw-1/model").unwrap().kind,
            Kind::Update
        );
        assert_eq!(offer("aisle", "s1", "gw-1"), "aisle/s1/gw-1/cmd/model");
        assert_eq!(parse("aisle", &offer("aisle", "s1", "gw-1")), None);
        assert_eq!(parse("aisle", "aisle/s1/gw-1/summary"), None);
        assert_eq!(parse("aisle", "aisle/s1/gw-1/alert/x"), None);
        assert_eq!(parse("aisle", "aisleX/s1/gw-1/alert"), None);
        assert_eq!(parse("aisle", "other/s1/gw-1/alert"), None);
    }
}
