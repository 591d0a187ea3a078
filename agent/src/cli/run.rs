//! `aisle run`: the daemon, as systemd starts it.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use anyhow::Result;
use clap::Args;

use aisle::config::{Config, LogFormat};
use aisle::daemon::{DaemonError, StartModel};
use aisle::install::{self, Bundled};

use super::agent::{detector_options, init_logging, load_detector, person_model, stop_on_signals};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
    #[arg(long, short)]
    config: PathBuf,
}

impl RunArgs {
    /// `log_format` from the command line wins over the config's.
    pub fn execute(self, log_format: Option<LogFormat>) -> Result<()> {
        let cfg = Config::load(&self.config)?;
        init_logging(log_format.unwrap_or(cfg.log.format), &cfg.log.level);
        let stop = stop_on_signals()?;
        // An update a restart interrupted is undone before a model is chosen.
        let recovered = match &cfg.ota {
            Some(ota) => {
                aisle::ota::recover::recover(&aisle::ota::store::ModelStore::open(&ota.state_dir)?)?
            }
            None => Vec::new(),
        };
        let model = person_model(&cfg)?;
        let options = detector_options(&cfg);
        let detector = load_detector(&model, &options)?;
        let start = StartModel {
            detector,
            path: model,
            configured: install::model(Bundled::Person, cfg.detector.model.as_deref())?,
            options,
            recovered,
        };
        match aisle::daemon::run(&cfg, start, &stop) {
            Ok(r) => {
                tracing::info!(
                    frames = r.frames,
                    seconds = r.elapsed.as_secs_f64(),
                    "agent stopped"
                );
                Ok(())
            }
            Err(e @ DaemonError::Pipeline(_)) if stop.load(Ordering::Relaxed) => {
                tracing::warn!(error = %e, "stopped with errors");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "agent failed");
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::Command;
    use crate::cli::tests::parse;

    #[test]
    fn needs_a_config() {
        assert!(parse(&["run"]).is_err());
        assert!(matches!(
            parse(&["run", "-c", "a.toml"]).map(|c| c.command),
            Ok(Command::Run(_))
        ));
    }
}
