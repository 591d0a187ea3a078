//! `aisle outbox`: what a stopped agent's store holds, for store ops and support.

use std::io::Write as _;
use std::path::Path;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use aisle::clock::{Clock, SystemClock};
use aisle::config::Config;
use aisle::outbox::{Outbox, SledOutbox};

#[derive(Args, Debug)]
pub struct OutboxArgs {
    #[command(subcommand)]
    action: OutboxAction,
}

impl OutboxArgs {
    pub fn execute(self) -> Result<()> {
        match self.action {
            OutboxAction::Stats { config } => outbox_cmd(&config, false),
            OutboxAction::Dump { config } => outbox_cmd(&config, true),
        }
    }
}

#[derive(Subcommand, Debug)]
enum OutboxAction {
    /// One JSON line: pending events, bytes, oldest age, drop counters.
    Stats {
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Every pending event as one JSON line, in the order it will be sent.
    Dump {
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
}

/// `aisle outbox stats|dump`: what a stopped agent's store holds, for store ops and support.
/// Reads a copy: the store itself is left exactly as it was, damaged or not.
fn outbox_cmd(config: &Path, dump: bool) -> Result<()> {
    let cfg = Config::load(config)?;
    let inspected = SledOutbox::inspect(&cfg.outbox.path)?;
    let store = inspected.store();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if dump {
        let dump = store.dump()?;
        for r in dump.records {
            let payload: serde_json::Value = serde_json::from_slice(&r.payload)
                .unwrap_or_else(|_| String::from_utf8_lossy(&r.payload).into());
            let line = serde_json::json!({"seq": r.seq, "class": r.class.name(), "ts_ms": r.ts_ms, "topic": r.topic, "payload": payload});
            writeln!(out, "{line}")?;
        }
        for (seq, raw) in dump.quarantined {
            let line = serde_json::json!({"seq": seq, "quarantined": hex::encode(raw)});
            writeln!(out, "{line}")?;
        }
    } else {
        let s = store.stats();
        let now = SystemClock.now_ms();
        let line = serde_json::json!({
            "path": cfg.outbox.path,
            "store_id": store.store_id(),
            "next_seq": store.next_seq(),
            "pending": s.pending(),
            "pending_alerts": s.pending_alerts,
            "pending_summaries": s.pending_summaries,
            "bytes": s.bytes,
            "oldest_age_s": s.oldest_ts_ms.map(|t| now.saturating_sub(t) as f64 / 1000.0),
            "dropped_summaries": s.dropped_summaries,
            "dropped_alerts": s.dropped_alerts,
            "quarantined": s.quarantined,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn both_actions_need_a_config() {
        for action in ["stats", "dump"] {
            assert!(parse(&["outbox", action, "-c", "a.toml"]).is_ok());
            assert!(parse(&["outbox", action]).is_err());
        }
        assert!(parse(&["outbox"]).is_err());
    }
}
