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

use crossbeam_channel::Sender;

/// What reaches the listener of the command topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A message, unread: the listener decides what it is.
    Message(Vec<u8>),
    /// A message of `bytes` came that the client could not take whole; the topic is left alone
    /// for [`Commands::pause_after_oversized`].
    Oversized { bytes: usize },
}

/// The one subscription, given by whoever listens (the update thread): the publisher knows
/// nothing of what the messages mean.
#[derive(Debug, Clone)]
pub struct Commands {
    /// Below the device's prefix, e.g. `cmd/model`.
    pub topic: &'static str,
    /// The largest message taken; a larger one ends the connection before anything reads it.
    pub max_bytes: usize,
    /// How long the topic is left alone after an oversized message: a retained one comes back
    /// on every reconnect, so listening on would stop delivery for good.
    pub pause_after_oversized: Duration,
    pub to: Sender<Command>,
}

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
