//! `aisle eval`: a replay's events scored against a simulation's truth; `aisle eval detect`
//! (in `eval_detect`) scores the person detector on annotated footage.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use aisle::eval;
use aisle::sim::truth::Truth;

use super::eval_detect::EvalDetectArgs;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    detector: Option<EvalAction>,
    /// The truth.json `aisle simulate` wrote.
    #[arg(long, required = true)]
    truth: Option<PathBuf>,
    /// The events `aisle replay` printed for the simulation's detections (JSON lines).
    #[arg(long, required = true)]
    events: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 when a threshold is missed (line counts 5 %, wait p90 15 %,
    /// occupancy MAE 0.5, every true alert raised within 30 s and no false one).
    #[arg(long)]
    check: bool,
}

#[derive(Subcommand, Debug)]
enum EvalAction {
    /// Score person detections frame by frame against MOT-format ground truth: AP50,
    /// AP[.5:.95], precision/recall/F1 and count error at the operating threshold, the best-F1
    /// threshold, and time per frame. Prints a JSON report.
    Detect(EvalDetectArgs),
}

impl EvalArgs {
    pub fn execute(self) -> Result<()> {
        match (self.detector, self.truth, self.events) {
            (Some(EvalAction::Detect(args)), _, _) => args.execute(),
            (None, Some(truth), Some(events)) => score(&truth, &events, self.json, self.check),
            (None, _, _) => anyhow::bail!("give --truth and --events, or `eval detect`"),
        }
    }
}

fn score(truth: &Path, events: &Path, json: bool, check: bool) -> Result<()> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let path = truth;
    let truth: Truth =
        serde_json::from_str(&read(path)?).with_context(|| format!("{}", path.display()))?;
    let problems = truth.problems();
    if !problems.is_empty() {
        anyhow::bail!("{}: {}", path.display(), problems.join("; "));
    }
    let report = eval::evaluate(&truth, &read(events)?, eval::Thresholds::default())
        .with_context(|| format!("{}", events.display()))?;
    if json {
        out!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", eval::markdown(&report).trim_end())?;
        for f in &report.failures {
            out!("FAIL {f}")?;
        }
    }
    if check && !report.failures.is_empty() {
        anyhow::bail!("{} threshold(s) missed", report.failures.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::cli::Command;
    use crate::cli::tests::parse;

    #[test]
    fn scoring_needs_both_files_and_detect_needs_neither() {
        assert!(parse(&["eval", "--truth", "t.json", "--events", "e.jsonl"]).is_ok());
        assert!(parse(&["eval", "--truth", "t.json"]).is_err());
        assert!(parse(&["eval"]).is_err());
        let detect = parse(&["eval", "detect", "--detections", "d.txt", "--gt", "gt.txt"]);
        assert!(matches!(
            detect.map(|c| c.command),
            Ok(Command::Eval(super::EvalArgs {
                detector: Some(super::EvalAction::Detect(_)),
                ..
            }))
        ));
    }
}
