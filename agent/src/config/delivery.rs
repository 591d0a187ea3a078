//! The config sections for getting events off the box: the durable outbox, the MQTT link and the
//! local metrics endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::above_zero_at_most;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSection {
    /// The sled store's folder (relative paths from the config file's folder).
    #[serde(default = "default_outbox_path")]
    pub path: PathBuf,
    /// Size cap; when full, the oldest summaries go first, alerts last.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Events older than this are dropped (and counted) even when there is room.
    #[serde(default = "default_max_age")]
    pub max_age_s: f64,
}

impl Default for OutboxSection {
    fn default() -> Self {
        Self {
            path: default_outbox_path(),
            max_bytes: default_max_bytes(),
            max_age_s: default_max_age(),
        }
    }
}

fn default_outbox_path() -> PathBuf {
    "/var/lib/aisle/outbox".into()
}
fn default_max_bytes() -> u64 {
    64 << 20
}
fn default_max_age() -> f64 {
    7.0 * 86_400.0
}

/// The broker. TLS is not optional: there is no plain-text setting.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSection {
    /// Host name or IP address; the broker's certificate must be issued for it.
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Defaults to the device id.
    pub client_id: Option<String>,
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM client certificate (chain) and key for mutual TLS; both or neither.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_s: f64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_s: f64,
    /// Topics are `{topic_prefix}/{site}/{device_id}/...` (docs/mqtt.md).
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    /// Unacknowledged QoS 1 publishes at most.
    #[serde(default = "default_inflight")]
    pub inflight: usize,
}

fn default_port() -> u16 {
    8883
}
fn default_keep_alive() -> u64 {
    30
}
fn default_reconnect_min() -> f64 {
    1.0
}
fn default_reconnect_max() -> f64 {
    60.0
}
fn default_prefix() -> String {
    "aisle".into()
}
fn default_inflight() -> usize {
    32
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// Prometheus endpoint, e.g. "127.0.0.1:9899"; off when absent.
    pub listen: Option<SocketAddr>,
    /// The endpoint has no authentication: an address other than loopback is refused unless
    /// this says the network in front of the gateway is trusted.
    #[serde(default)]
    pub allow_remote: bool,
}

impl MetricsSection {
    /// Every problem of the section.
    pub fn validate(&self, bad: &mut impl FnMut(String, String)) {
        if let Some(addr) = self.listen
            && !addr.ip().is_loopback()
            && !self.allow_remote
        {
            bad(
                "metrics.listen".into(),
                format!(
                    "{addr} is reachable from the network and the endpoint has no authentication; listen on 127.0.0.1 (reach it over SSH) or set metrics.allow_remote = true"
                ),
            );
        }
    }
}

pub(super) fn resolve(
    outbox: &mut OutboxSection,
    mqtt: Option<&mut MqttSection>,
    resolve: impl Fn(&mut PathBuf),
) {
    resolve(&mut outbox.path);
    if let Some(m) = mqtt {
        resolve(&mut m.ca_file);
        if let Some(p) = m.client_cert.as_mut() {
            resolve(p);
        }
        if let Some(p) = m.client_key.as_mut() {
            resolve(p);
        }
    }
}

pub(super) fn validate(
    outbox: &OutboxSection,
    mqtt: Option<&MqttSection>,
    bad: &mut impl FnMut(String, String),
) {
    if outbox.max_bytes < 16 << 10 {
        bad(
            "outbox.max_bytes".into(),
            format!("{} is below 16384", outbox.max_bytes),
        );
    }
    if !above_zero_at_most(outbox.max_age_s, 365.0 * 86_400.0) {
        bad("outbox.max_age_s".into(), "must be in (0, 31536000]".into());
    }
    let Some(m) = mqtt else { return };
    if m.host.is_empty() || m.host.contains(char::is_whitespace) {
        bad(
            "mqtt.host".into(),
            format!("{:?} is not a host name", m.host),
        );
    }
    if m.port == 0 {
        bad("mqtt.port".into(), "must not be 0".into());
    }
    if let Some(id) = &m.client_id
        && !(1..=128).contains(&id.len())
    {
        bad("mqtt.client_id".into(), "must be 1-128 bytes".into());
    }
    let mut file = |field: &str, path: &Path| {
        if !path.is_file() {
            bad(
                format!("mqtt.{field}"),
                format!("{} does not exist", path.display()),
            );
        }
    };
    file("ca_file", &m.ca_file);
    match (&m.client_cert, &m.client_key) {
        (Some(c), Some(k)) => {
            file("client_cert", c);
            file("client_key", k);
        }
        (None, None) => {}
        (Some(_), None) => bad("mqtt.client_key".into(), "needed with client_cert".into()),
        (None, Some(_)) => bad("mqtt.client_cert".into(), "needed with client_key".into()),
    }
    if !(5..=3600).contains(&m.keep_alive_s) {
        bad(
            "mqtt.keep_alive_s".into(),
            format!("{} is outside 5..=3600", m.keep_alive_s),
        );
    }
    if !(m.reconnect_min_s > 0.0
        && m.reconnect_min_s <= m.reconnect_max_s
        && m.reconnect_max_s <= 3600.0)
    {
        bad(
            "mqtt.reconnect_min_s".into(),
            "need 0 < reconnect_min_s <= reconnect_max_s <= 3600".into(),
        );
    }
    let prefix_ok = !m.topic_prefix.is_empty()
        && m.topic_prefix.len() <= 64
        && !m.topic_prefix.contains(['#', '+', '\0'])
        && !m.topic_prefix.starts_with('/')
        && !m.topic_prefix.ends_with('/');
    if !prefix_ok {
        bad(
            "mqtt.topic_prefix".into(),
            format!(
                "{:?} must be 1-64 bytes without wildcards or a leading/trailing '/'",
                m.topic_prefix
            ),
        );
    }
    if !(1..=1000).contains(&m.inflight) {
        bad(
            "mqtt.inflight".into(),
            format!("{} is outside 1..=1000", m.inflight),
        );
    }
}
