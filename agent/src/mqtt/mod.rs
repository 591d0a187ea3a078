//! Publishing the outbox over MQTT with TLS (`rumqttc` + `rustls`). Topics are documented in
//! docs/mqtt.md. Only what is in the outbox (summaries, alerts, health, update steps) and the
//! retained status ever leave the box: there is no code path that publishes frames, crops or
//! tracks. The one subscription is the device's command topic, for signed update offers.

mod publisher;
mod tls;

pub use publisher::{Link, MqttCounters, PublisherParts, StatusFn, Waker, spawn_publisher};
pub use tls::{TlsError, client_config};

use std::sync::Arc;
use std::time::Duration;

/// Everything the publisher needs to (re)connect.
#[derive(Clone)]
pub struct LinkSettings {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub tls: Arc<rustls::ClientConfig>,
    pub keep_alive: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// `{topic_prefix}/{site}/{device_id}`: every topic the agent uses is below it.
    pub prefix: String,
    /// QoS 1 publishes awaiting their PUBACK at most.
    pub inflight: usize,
}

impl LinkSettings {
    pub fn topic(&self, suffix: &str) -> String {
        format!("{}/{suffix}", self.prefix)
    }
}
