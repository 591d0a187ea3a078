//! `aisle ui`: the local zone editor (`aisle::ui`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use aisle::config::Config;
use aisle::ui::{self, Settings};

use super::agent::{detector_options, load_detector, person_model, stop_on_signals};

#[derive(Args, Debug)]
pub struct UiArgs {
    /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml. Save rewrites its zones in
    /// place, keeping its comments.
    #[arg(long, short)]
    config: PathBuf,
    /// Where to serve the page. Loopback only unless --allow-remote: from a laptop, tunnel to it
    /// with `ssh -L 8765:127.0.0.1:8765 GATEWAY`.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Serve an address other than loopback. The page has no TLS; the token is its only guard.
    #[arg(long)]
    allow_remote: bool,
    /// Frames each picture runs first, so people are tracked and the live counts are real.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    frames: u64,
    /// Seconds a picture may take before the page says the camera did not answer.
    #[arg(long, default_value_t = 20.0, value_parser = super::options::seconds)]
    picture_timeout_s: f64,
}

impl UiArgs {
    pub fn execute(self) -> Result<()> {
        let cfg = Config::load(&self.config)?;
        let stop = stop_on_signals()?;
        let model = person_model(&cfg)?;
        let detector = load_detector(&model, &detector_options(&cfg))?;
        let settings = Settings {
            listen: self.listen,
            allow_remote: self.allow_remote,
            frames: self.frames,
            picture_timeout: std::time::Duration::from_secs_f64(self.picture_timeout_s),
        };
        ui::serve(&self.config, cfg, detector, &settings, &stop, |url| {
            // The address is the way in: printed, flushed, and nowhere else.
            let _ = out!("aisle ui: open {url}");
            if self.allow_remote {
                eprintln!(
                    "aisle ui: from another machine, open the same address with this machine's IP address instead of 127.0.0.1"
                );
            }
            eprintln!("aisle ui: serving until Ctrl-C");
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn needs_a_config_and_a_socket_address() {
        assert!(parse(&["ui", "-c", "a.toml"]).is_ok());
        assert!(
            parse(&[
                "ui",
                "-c",
                "a.toml",
                "--listen",
                "127.0.0.1:0",
                "--frames",
                "3"
            ])
            .is_ok()
        );
        assert!(parse(&["ui", "-c", "a.toml", "--listen", "localhost"]).is_err());
        assert!(parse(&["ui", "-c", "a.toml", "--frames", "0"]).is_err());
        assert!(parse(&["ui", "-c", "a.toml", "--picture-timeout-s", "nan"]).is_err());
        assert!(parse(&["ui", "-c", "a.toml", "--picture-timeout-s", "0.5"]).is_ok());
        assert!(parse(&["ui"]).is_err());
    }
}
