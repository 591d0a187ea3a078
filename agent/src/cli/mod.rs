//! The `aisle` command line: one module per command, each an `Args` struct with `execute()`.
//! Logging, error printing and exit codes are decided here once, so every command fails the
//! same way and none of them exits the process itself.

use clap::{Parser, Subcommand};

use aisle::config::LogFormat;

/// Prints one line of a command's result. The `?` after it ends the command when stdout is gone;
/// `main` treats a reader that stopped early (`| head`, `grep -q`) as done, not as a failure.
macro_rules! out {
    ($($arg:tt)*) => {
        {
            use std::io::Write as _;
            writeln!(std::io::stdout().lock(), $($arg)*)
        }
    };
}

mod agent;
mod check_config;
mod detect;
mod docs;
mod eval;
mod eval_detect;
mod model;
mod options;
mod outbox;
mod progress;
mod replay;
mod run;
mod shelf;
mod simulate;
mod snapshot;
mod ui;

#[derive(Parser)]
#[command(
    name = "aisle",
    version,
    about = "Edge computer-vision agent for physical stores"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect people in a video or camera and print one JSON line per processed frame.
    /// Example: `aisle detect .deps/demo/vtest.avi --every 5 | head`.
    Detect(detect::DetectArgs),
    /// Check a config file and report every problem in it, one `field: reason` per line.
    /// Example: `aisle check-config /etc/aisle/aisle.toml`.
    CheckConfig(check_config::CheckConfigArgs),
    /// Run the agent daemon. Example: `aisle run -c /etc/aisle/aisle.toml`.
    Run(run::RunArgs),
    /// Draw one camera as the agent sees it into a PNG: zones with their names and live counts,
    /// which way a line counts `in`, shelf cells by their reading, detections with scores and
    /// track ids. Written locally, never published. Example: `aisle snapshot -c
    /// /etc/aisle/aisle.toml --camera door --out door.png`.
    Snapshot(snapshot::SnapshotArgs),
    /// Edit zones on the cameras' pictures in a browser: drag corners and line ends, add and
    /// delete zones, set shelf levels and bays, see live counts; Save checks the config as
    /// `check-config` does and keeps its comments. Serves 127.0.0.1 with a token it prints.
    /// Example: `aisle ui -c /etc/aisle/aisle.toml`, then `ssh -L 8765:127.0.0.1:8765 GATEWAY`.
    Ui(ui::UiArgs),
    /// Run the whole pipeline on a recorded video and print every event (summaries, alerts) as
    /// one JSON line: tune zones and rules on yesterday's video before deploying them. With
    /// MOT-format detections or tracks instead of video, score the stages after the detector.
    Replay(replay::ReplayArgs),
    /// Simulate a store day from a scenario file: writes MOT-format detections (with the
    /// scenario's detector noise) and true tracks, and the truth as JSON, to score the analytics
    /// with `aisle replay` and `aisle eval`.
    Simulate(simulate::SimulateArgs),
    /// Score the events of a replay (JSON lines) against a simulation's truth.json: line counts,
    /// queue waits, occupancy per second and alert timing. `aisle eval detect` scores the person
    /// detector on annotated footage instead.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Eval(eval::EvalArgs),
    /// Fleet admin tools for signed model updates (docs/ota.md).
    Model(model::ModelArgs),
    /// Empty-shelf detection: the store's stocked reference, and the classifier's accuracy
    /// (docs/shelves.md).
    Shelf(shelf::ShelfArgs),
    /// Print the JSON Schema of the events the agent produces.
    EventsSchema,
    /// Inspect the event outbox of a stopped agent.
    Outbox(outbox::OutboxArgs),
    /// Print shell completions. Example: `aisle completions bash >
    /// /etc/bash_completion.d/aisle` (the .deb installs them for bash, zsh and fish).
    Completions(docs::CompletionsArgs),
    /// Write the man pages (aisle.1 and one per command) into a folder; the .deb installs them.
    Man(docs::ManArgs),
}

/// A failure the command has already explained on stderr (e.g. every problem of a config):
/// `main` exits 1 without printing it again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Reported(String);

/// Parses the command line, runs the command and returns the process's exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command.execute(cli.log_format) {
        Ok(()) => 0,
        Err(e) if reader_left(&e) => 0,
        Err(e) if e.is::<Reported>() => 1,
        Err(e) => {
            eprintln!("aisle: {}", one_line(&e));
            1
        }
    }
}

impl Command {
    fn execute(self, log_format: Option<LogFormat>) -> anyhow::Result<()> {
        // The daemon's log format and level come from its config: it sets logging up itself.
        if !matches!(self, Self::Run(_)) {
            agent::init_logging(log_format.unwrap_or_default(), "warn");
        }
        match self {
            Self::Run(args) => args.execute(log_format),
            Self::Detect(args) => args.execute(),
            Self::CheckConfig(args) => args.execute(),
            Self::Replay(args) => args.execute(),
            Self::Snapshot(args) => args.execute(),
            Self::Ui(args) => args.execute(),
            Self::Simulate(args) => args.execute(),
            Self::Eval(args) => args.execute(),
            Self::Model(args) => args.execute(),
            Self::Shelf(args) => args.execute(),
            Self::EventsSchema => Ok(out!("{}", aisle::events::schema_json().trim_end())?),
            Self::Outbox(args) => args.execute(),
            Self::Completions(args) => args.execute(),
            Self::Man(args) => args.execute(),
        }
    }
}

/// Whether the command failed only because whoever read its stdout closed it: they have what
/// they wanted, so exiting 0 keeps `aisle … | head` and `set -o pipefail` scripts honest.
fn reader_left(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, for operators and log scrapers.
/// A cause that the message before it already quotes (thiserror's `{source}`) is left out, so
/// an error never reads `No such file (os error 2): No such file (os error 2)`.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain().map(ToString::to_string) {
        if !parts.last().is_some_and(|before| before.contains(&cause)) {
            parts.push(cause);
        }
    }
    parts.join(": ").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line as the binary would, without running it.
    pub(super) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("aisle").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn a_cause_already_quoted_is_not_repeated() {
        let e = anyhow::Error::new(std::io::Error::other("disk gone")).context("cannot write x");
        assert_eq!(one_line(&e), "cannot write x: disk gone");
        let io = std::io::Error::other("disk gone");
        let quoted = format!("cannot read f: {io}");
        let e = anyhow::Error::new(io).context(quoted);
        assert_eq!(one_line(&e), "cannot read f: disk gone");
    }

    #[test]
    fn a_closed_stdout_is_not_a_failure() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("cannot write to stdout");
        assert!(reader_left(&e));
        assert!(!reader_left(&anyhow::anyhow!("no such file")));
    }

    #[test]
    fn events_schema_takes_no_arguments() {
        assert!(matches!(
            parse(&["events-schema"]).map(|c| c.command),
            Ok(Command::EventsSchema)
        ));
        assert!(parse(&["events-schema", "extra"]).is_err());
    }

    #[test]
    fn the_log_format_goes_anywhere_on_the_line() {
        let cli = parse(&["events-schema", "--log-format", "json"]).expect("parses");
        assert_eq!(cli.log_format, Some(LogFormat::Json));
    }
}
