//! `aisle simulate`: a store day with known truth, to score the analytics without footage.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use aisle::analytics::mot;
use aisle::sim::{self, scenario::Scenario};

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The scenario (TOML), e.g. firmware-config/scenarios/saturday-rush.toml: arrivals,
    /// lanes, detector noise and the agent config whose zones it walks.
    #[arg(long)]
    scenario: PathBuf,
    /// Directory for detections.txt, tracks.txt and truth.json (created if missing).
    #[arg(long)]
    out: PathBuf,
}

impl SimulateArgs {
    pub fn execute(self) -> Result<()> {
        let (scenario, cfg) = Scenario::load(&self.scenario)?;
        let sim = sim::simulate(&scenario, &cfg)?;
        let out = &self.out;
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        for (name, rows) in [
            ("detections.txt", &sim.detections),
            ("tracks.txt", &sim.tracks),
        ] {
            let path = out.join(name);
            let write = || -> std::io::Result<()> {
                let mut w = std::io::BufWriter::new(std::fs::File::create(&path)?);
                for row in rows.iter() {
                    mot::write_row(&mut w, row)?;
                }
                w.flush()
            };
            write().with_context(|| format!("cannot write {}", path.display()))?;
        }
        let path = out.join("truth.json");
        let text = serde_json::to_string_pretty(&sim.truth)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        let [w, h] = scenario.size;
        eprintln!(
            "frames={} people={} detections={} fps={} size={w}x{h}",
            sim.truth.frames,
            sim.tracks.iter().map(|r| r.id).max().unwrap_or(0),
            sim.detections.len(),
            scenario.fps
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn needs_a_scenario_and_a_folder() {
        assert!(parse(&["simulate", "--scenario", "s.toml", "--out", "o"]).is_ok());
        assert!(parse(&["simulate", "--scenario", "s.toml"]).is_err());
        assert!(parse(&["simulate", "--out", "o"]).is_err());
    }
}
