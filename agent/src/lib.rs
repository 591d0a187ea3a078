//! aisle: an edge computer-vision agent for physical stores. See ARCHITECTURE.md for the map.

pub mod analytics;
pub mod backoff;
pub mod calibrate;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod eval;
pub mod events;
pub mod fault;
pub mod heap;
pub mod install;
pub mod metrics;
pub mod mqtt;
pub mod ota;
pub mod outbox;
pub mod output;
pub mod pipeline;
pub mod problem;
pub mod replay;
pub mod shelf;
pub mod sim;
pub mod snapshot;
pub mod source;
pub mod store_analytics;
pub mod systemd;
