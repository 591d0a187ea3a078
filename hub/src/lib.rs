//! aisle-hub: the fleet side of aisle. Gateways publish summaries, alerts, health and update
//! steps over MQTT; the hub stores each once in PostgreSQL, where the fleet's pages and
//! notifications read them. ARCHITECTURE.md ("The hub") has the data flow and invariants.

pub mod config;
pub mod db;
pub mod ingest;
pub mod message;
pub mod notify;
pub mod rollout;
pub mod tls;
pub mod web;
