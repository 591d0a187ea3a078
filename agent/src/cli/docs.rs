//! `aisle completions SHELL` and `aisle man --out DIR`: the shell completions and man pages the
//! .deb installs, generated from the same command tree as `--help`, so they never drift.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};

use super::Cli;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

impl CompletionsArgs {
    pub fn execute(self) -> Result<()> {
        let mut cmd = Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(self.shell, &mut cmd, "aisle", &mut out);
        out!("{}", String::from_utf8_lossy(&out).trim_end())?;
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Folder for aisle.1 and one page per command (aisle-detect.1, aisle-model-pack.1, …).
    #[arg(long)]
    out: PathBuf,
}

impl ManArgs {
    pub fn execute(self) -> Result<()> {
        std::fs::create_dir_all(&self.out)
            .with_context(|| format!("cannot create {}", self.out.display()))?;
        let cmd = Cli::command();
        clap_mangen::generate_to(cmd, &self.out)
            .with_context(|| format!("cannot write man pages to {}", self.out.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn the_common_shells_and_a_folder() {
        for shell in ["bash", "zsh", "fish"] {
            assert!(parse(&["completions", shell]).is_ok(), "{shell}");
        }
        assert!(parse(&["completions", "cmd.exe"]).is_err());
        assert!(parse(&["man"]).is_err());
        assert!(parse(&["man", "--out", "man1"]).is_ok());
    }

    #[test]
    fn man_pages_cover_every_command() {
        let dir = tempfile::tempdir().expect("tempdir");
        super::ManArgs {
            out: dir.path().into(),
        }
        .execute()
        .expect("man pages");
        for page in [
            "aisle.1",
            "aisle-run.1",
            "aisle-snapshot.1",
            "aisle-model-pack.1",
        ] {
            let text = std::fs::read_to_string(dir.path().join(page)).expect(page);
            assert!(text.contains(".TH"), "{page} is a man page");
        }
    }
}
