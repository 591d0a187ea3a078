//! `aisle check-config`: every problem of a config at once, before an installer restarts the
//! agent with it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use aisle::config::{Config, ConfigError};

use super::Reported;

#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    /// The config file to check (TOML); environment overrides (AISLE_…) apply as in `run`.
    file: PathBuf,
}

impl CheckConfigArgs {
    /// Prints one problem per line, so an installer sees the whole list at once.
    pub fn execute(self) -> Result<()> {
        match Config::load(&self.file) {
            Ok(_) => {
                out!("{}: ok", self.file.display())?;
                Ok(())
            }
            Err(ConfigError::Invalid { path, problems }) => {
                eprintln!(
                    "aisle: config {} has {} problem(s):",
                    path.display(),
                    problems.len()
                );
                for p in &problems {
                    eprintln!("  {p}");
                }
                Err(Reported(format!("{} problem(s)", problems.len())).into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::Command;
    use crate::cli::tests::parse;

    #[test]
    fn takes_exactly_one_file() {
        match parse(&["check-config", "/etc/aisle/aisle.toml"]).map(|c| c.command) {
            Ok(Command::CheckConfig(a)) => {
                assert_eq!(a.file.to_str(), Some("/etc/aisle/aisle.toml"))
            }
            _ => panic!("not check-config"),
        }
        assert!(parse(&["check-config"]).is_err());
        assert!(parse(&["check-config", "a", "b"]).is_err());
    }

    #[test]
    fn problems_are_reported_once_and_fail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[agent]\nsite = \"\"\ndevice = \"\"\n").expect("write");
        let e = super::CheckConfigArgs { file }
            .execute()
            .expect_err("invalid");
        assert!(e.is::<crate::cli::Reported>());
    }
}
