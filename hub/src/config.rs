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
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// How long the database keeps what it stores (`retention.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days of events kept, counted in whole UTC days of the gateways' stamps.
    #[serde(default = "default_events_days")]
    pub events_days: u32,
    /// Days a cleared alert (and its notifications) is kept: longer than events, for the
    /// record of what happened in a store.
    #[serde(default = "default_alerts_days")]
    pub alerts_days: u32,
    /// Seconds between two passes (the first runs at start).
    #[serde(default = "default_retention_check")]
    pub check_every_s: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events_days: default_events_days(),
            alerts_days: default_alerts_days(),
            check_every_s: default_retention_check(),
        }
    }
}

/// The alerts the hub raises itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Seconds without an online status or any event before a gateway is `gateway_offline`.
    /// Agents send both every `pipeline.health_interval_s` (30 s by default): the default is five
    /// of those, so one lost message or a restart raises nothing.
    #[serde(default = "default_offline_after")]
    pub gateway_offline_after_s: u64,
    /// Seconds between two looks for silent gateways.
    #[serde(default = "default_alert_check")]
    pub check_every_s: u64,
    /// A raise within this many seconds of a clear of the same rule, zone and camera reopens
    /// the cleared alert instead of making a new one, and its notifications are one raise and
    /// one clear: a clear is sent only once this window has passed without a re-raise. 0 turns
    /// regrouping off (and sends clears at once).
    #[serde(default = "default_regroup")]
    pub regroup_s: u64,
    /// Where people open the hub's pages (`https://hub.example.com`): notifications link to the
    /// store's alerts page there. Without it they carry no link.
    pub page_url: Option<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            gateway_offline_after_s: default_offline_after(),
            check_every_s: default_alert_check(),
            regroup_s: default_regroup(),
            page_url: None,
        }
    }
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
    #[serde(default)]
    pub min_severity: aisle_proto::event::Severity,
    /// Failed attempts before a notification is dead-lettered (kept, shown on the alerts page).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_s: u64,
    /// `json` (aisle's own, for programs), `slack` (also Mattermost), `teams`, `google-chat`,
    /// `ntfy` or `text`: the chat formats carry one line a person reads.
    #[serde(default)]
    pub format: WebhookFormat,
}

/// What a webhook's receiver reads (`notify::message` builds each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// aisle's JSON, as queued: for programs.
    #[default]
    Json,
    /// `{"text": …}`: Slack and Mattermost incoming webhooks.
    Slack,
    /// An Adaptive Card message: a Microsoft Teams workflow ("post to a channel when a webhook
    /// request is received").
    Teams,
    /// `{"text": …}`: a Google Chat space's webhook.
    GoogleChat,
    /// The line as the body, title, priority, tags and the page link as headers: an ntfy topic.
    Ntfy,
    /// The line as plain text.
    Text,
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
    /// A libpq-style connection string, e.g. `host=/run/postgresql dbname=aisle user=aisle_hub`,
    /// or across a network `host=db.example.com dbname=aisle user=aisle_hub sslmode=require`.
    pub url: String,
    /// The CA that signed the database server's certificate. With it the hub speaks TLS to
    /// PostgreSQL (verifying the certificate and the `host` name); without it, plain TCP or a
    /// Unix socket, for a database on the same host or a private network.
    pub ca_file: Option<PathBuf>,
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
fn default_attempts() -> u32 {
    8
}
fn default_webhook_timeout() -> u64 {
    10
}
/// The longest a login lasts: a month.
const MAX_SESSION_HOURS: u32 = 720;

fn default_session_hours() -> u32 {
    12
}
fn default_check_every() -> u64 {
    5
}
fn default_offline_after() -> u64 {
    150
}
fn default_alert_check() -> u64 {
    10
}
fn default_events_days() -> u32 {
    30
}
fn default_alerts_days() -> u32 {
    400
}
fn default_retention_check() -> u64 {
    3600
}
fn default_regroup() -> u64 {
    60
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
        let mut problems = config.validate();
        problems.extend(config.missing_files());
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
        if self.database.ca_file.is_none()
            && ["sslmode=require", "sslmode=verify"]
                .iter()
                .any(|m| self.database.url.contains(m))
        {
            bad(
                "database.ca_file",
                "database.url asks for TLS (sslmode): name the CA that signed the database's certificate",
            );
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
        if !(10..=7 * 86_400).contains(&self.alerts.gateway_offline_after_s) {
            bad(
                "alerts.gateway_offline_after_s",
                "must be 10 s to 7 days (a few of the agents' health intervals)",
            );
        }
        if !(1..=600).contains(&self.alerts.check_every_s) {
            bad("alerts.check_every_s", "must be 1 to 600 seconds");
        }
        let r = &self.retention;
        if !(2..=3650).contains(&r.events_days) {
            bad("retention.events_days", "must be 2 to 3650 days");
        }
        if !(1..=3650).contains(&r.alerts_days) {
            bad("retention.alerts_days", "must be 1 to 3650 days");
        }
        if !(1..=86_400).contains(&r.check_every_s) {
            bad("retention.check_every_s", "must be 1 s to a day");
        }
        if self.alerts.regroup_s > 3600 {
            bad("alerts.regroup_s", "must be 0 to 3600 seconds");
        }
        if let Some(url) = &self.alerts.page_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bad("alerts.page_url", "must be an http:// or https:// URL");
        }
        if !(60..=30 * 86_400).contains(&m.session_expiry_s) {
            bad(
                "mqtt.session_expiry_s",
                "must be 60 s to 30 days: the broker keeps a replica's messages that long while it is away",
            );
        }
        if let Some(w) = &self.web
            && !(1..=MAX_SESSION_HOURS).contains(&w.session_hours)
        {
            bad("web.session_hours", "must be 1 to 720 hours (30 days)");
        }
        let mut names = std::collections::HashSet::new();
        for (i, h) in self.webhooks.iter().enumerate() {
            let at = |f: &str| format!("webhooks[{i}].{f}");
            if h.name.trim().is_empty() || !names.insert(h.name.as_str()) {
                p.push((at("name"), "must be non-empty and unique".into()));
            }
            if !(h.url.starts_with("https://") || h.url.starts_with("http://")) {
                p.push((at("url"), "must be an http:// or https:// URL".into()));
            }
            if !(1..=100).contains(&h.max_attempts) {
                p.push((at("max_attempts"), "must be 1 to 100".into()));
            }
            if !(1..=300).contains(&h.timeout_s) {
                p.push((at("timeout_s"), "must be 1 to 300 seconds".into()));
            }
        }
        p
    }

    /// The files and folders the config names that are not there, each with its field.
    pub fn missing_files(&self) -> Vec<(String, String)> {
        let m = &self.mqtt;
        let mut files = vec![("mqtt.ca_file", Some(&m.ca_file))];
        files.push(("mqtt.client_cert", m.client_cert.as_ref()));
        files.push(("mqtt.client_key", m.client_key.as_ref()));
        if let Some(w) = &self.web {
            files.push(("web.cert_file", Some(&w.cert_file)));
            files.push(("web.key_file", Some(&w.key_file)));
        }
        files.push(("rollouts.bundles_dir", self.rollouts.bundles_dir.as_ref()));
        files.push(("database.ca_file", self.database.ca_file.as_ref()));
        files
            .into_iter()
            .filter_map(|(field, path)| Some((field, path?)))
            .filter(|(_, path)| !path.exists())
            .map(|(field, path)| {
                (
                    field.to_string(),
                    format!("{} does not exist", path.display()),
                )
            })
            .collect()
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
    fn a_severity_no_agent_sends_is_refused_by_name() {
        let text = format!(
            "{GOOD}[[webhooks]]\nname = \"c\"\nurl = \"https://x\"\nmin_severity = \"loud\"\n"
        );
        let e = toml::from_str::<HubConfig>(&text).unwrap_err().to_string();
        assert!(e.contains("loud") && e.contains("warning"), "{e}");
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
[web]
listen = "127.0.0.1:8443"
cert_file = "web.crt"
key_file = "web.key"
session_hours = 4294967295
[[webhooks]]
name = "chat"
url = "ftp://x"
max_attempts = 0
timeout_s = 0
[[webhooks]]
name = "chat"
url = "https://x"
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
                "rollouts.check_every_s",
                "web.session_hours",
                "webhooks[0].url",
                "webhooks[0].max_attempts",
                "webhooks[0].timeout_s",
                "webhooks[1].name",
            ]
        );
        let missing: Vec<String> = c.missing_files().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            missing,
            [
                "mqtt.ca_file",
                "mqtt.client_cert",
                "web.cert_file",
                "web.key_file"
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
