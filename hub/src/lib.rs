//! aisle-hub: the fleet side of aisle. Gateways publish summaries, alerts, health and update
//! steps over MQTT; the hub stores each once in PostgreSQL, where the fleet's pages and
//! notifications read them. ARCHITECTURE.md ("The hub") has the data flow and invariants.

pub mod config;
pub mod db;
pub mod ingest;
pub mod message;
pub mod notify;
pub mod retention;
pub mod rollout;
pub mod silence;
pub mod tls;
pub mod web;
pub mod words;

/// The wall clock in milliseconds since the Unix epoch, as gateways stamp their messages.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
