//! The hub's configuration: one TOML file, every problem reported at once, as the agent does.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: {}", .problems.iter().map(|(f, r)| format!("{f}: {r}")).collect::<Vec<_>>().join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    pub mqtt: MqttConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    /// The pages; a replica without this section only ingests.
    pub web: Option<WebConfig>,
    /// Where alert raises and clears are POSTed.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub rollouts: RolloutsConfig,
}

/// Staged rollouts. Every replica runs the driver; an advisory lock lets one act per round.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutsConfig {
    /// Seconds between the driver's rounds (judge the running waves, offer the next).
    #[serde(default = "default_check_every")]
    pub check_every_s: u64,
    /// Signed bundles (one directory each, as `aisle model pack` writes them) the fleet page
    /// offers to roll out; without it, rollouts start from the command line only.
    pub bundles_dir: Option<PathBuf>,
}

impl Default for RolloutsConfig {
    fn default() -> Self {
        Self {
            check_every_s: default_check_every(),
            bundles_dir: None,
        }
    }
}

/// One receiver of alert notifications (a chat bridge, a paging service, a ticketing system).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the webhook in the notifications table and on the pages.
    pub name: String,
    pub url: String,
    /// Sites whose alerts go here; empty means every site.
    #[serde(default)]
    pub sites: Vec<String>,
    /// `info`, `warning` or `critical`: alerts below are not sent here.
    #[serde(default = "default_severity")]
    pub min_severity: String,
    /// Failed attempts before a notification is dead-lettered (kept, shown on the alerts page).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_s: u64,
}

/// The pages are served over HTTPS only: they carry logins and session cookies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    pub listen: std::net::SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default = "default_session_hours")]
    pub session_hours: u32,
}

/// The broker link. Replicas share `share_group`, so each message goes to one of them; each has
/// its own `client_id`, whose session the broker keeps while the replica is away, so messages it
/// had not yet stored come back to it when it returns.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub ca_file: PathBuf,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub client_id: String,
    #[serde(default = "default_prefix")]
    pub topic_prefix: String,
    #[serde(default = "default_group")]
    pub share_group: String,
    /// How long the broker keeps this replica's session (and the messages queued for it) after
    /// it disconnects.
    #[serde(default = "default_session_expiry")]
    pub session_expiry_s: u32,
    /// Messages the broker may send before the first is acknowledged (stored).
    #[serde(default = "default_inflight")]
    pub inflight: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A libpq-style connection string, e.g. `host=/run/postgresql dbname=aisle user=aisle_hub`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Larger messages are refused unread: a gateway's summaries are a few kB, a picture is not.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: default_max_payload(),
        }
    }
}

fn default_prefix() -> String {
    "aisle".into()
}
fn default_group() -> String {
    "aisle-hub".into()
}
fn default_session_expiry() -> u32 {
    86_400
}
fn default_inflight() -> u16 {
    100
}
fn default_severity() -> String {
    "warning".into()
}
fn default_attempts() -> u32 {
    8
}
fn default_webhook_timeout() -> u64 {
    10
}
fn default_session_hours() -> u32 {
    12
}
fn default_check_every() -> u64 {
    5
}
fn default_max_payload() -> usize {
    64 * 1024
}

/// Characters MQTT gives a meaning to in topic filters and share names.
fn has_wildcard(s: &str) -> bool {
    s.contains(['+', '#', '/'])
}

impl HubConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let config: HubConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            reason: e.to_string(),
        })?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }

    /// Every problem as `(field, reason)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut bad = |field: &str, reason: &str| p.push((field.to_string(), reason.to_string()));
        let m = &self.mqtt;
        if m.host.trim().is_empty() {
            bad("mqtt.host", "is empty");
        }
        if m.port == 0 {
            bad("mqtt.port", "0 is not a port");
        }
        if m.client_id.is_empty() || m.client_id.len() > 64 {
            bad("mqtt.client_id", "must be 1 to 64 characters");
        }
        if m.client_cert.is_some() != m.client_key.is_some() {
            bad(
                "mqtt.client_cert",
                "client_cert and client_key go together (mutual TLS needs both)",
            );
        }
        if m.topic_prefix.is_empty() || m.topic_prefix.contains(['+', '#']) {
            bad(
                "mqtt.topic_prefix",
                "must be non-empty and have no wildcard",
            );
        }
        if m.share_group.is_empty() || has_wildcard(&m.share_group) {
            bad(
                "mqtt.share_group",
                "must be non-empty, without '+', '#' or '/'",
            );
        }
        if m.inflight == 0 {
            bad("mqtt.inflight", "must be at least 1");
        }
        if self.database.url.trim().is_empty() {
            bad("database.url", "is empty");
        }
        if !(1024..=16 << 20).contains(&self.ingest.max_payload_bytes) {
            bad(
                "ingest.max_payload_bytes",
                "must be between 1024 and 16777216",
            );
        }
        if !(1..=3600).contains(&self.rollouts.check_every_s) {
            bad("rollouts.check_every_s", "must be 1 to 3600 seconds");
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HubConfig {
        toml::from_str(text).expect("parses")
    }

    const GOOD: &str = r#"
[mqtt]
host = "localhost"
port = 8883
ca_file = "ca.crt"
client_cert = "hub.crt"
client_key = "hub.key"
client_id = "hub-1"
[database]
url = "host=/run/postgresql dbname=aisle"
"#;

    #[test]
    fn defaults_fill_in() {
        let c = parse(GOOD);
        assert!(c.validate().is_empty());
        assert_eq!(c.mqtt.share_group, "aisle-hub");
        assert_eq!(c.ingest.max_payload_bytes, 65536);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let c = parse(
            r#"
[mqtt]
host = ""
port = 0
ca_file = "ca.crt"
client_cert = "hub.crt"
client_id = ""
share_group = "a/b"
[database]
url = " "
[ingest]
max_payload_bytes = 10
[rollouts]
check_every_s = 0
"#,
        );
        let fields: Vec<String> = c.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "mqtt.host",
                "mqtt.port",
                "mqtt.client_id",
                "mqtt.client_cert",
                "mqtt.share_group",
                "database.url",
                "ingest.max_payload_bytes",
                "rollouts.check_every_s"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<HubConfig>(&GOOD.replace("port = 8883", "prot = 8883"))
            .expect_err("typo");
        assert!(err.to_string().contains("prot"), "{err}");
    }
}
