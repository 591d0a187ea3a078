//! The `aisle` command line: the daemon (`run`) and the tools installers and support use.

use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use aisle::analytics::mot;
use aisle::clock::{Clock, SystemClock};
use aisle::config::{Config, ConfigError, LogFormat};
use aisle::daemon::DaemonError;
use aisle::detect::tiling::{TileGrid, Tiling};
use aisle::detect::{Detector, DetectorOptions};
use aisle::ota::{admin, bundle::Release};
use aisle::outbox::{OpenOutcome, Outbox, SledOutbox};
use aisle::pipeline::{self, CameraInput};
use aisle::replay::{self, MotFrames, ReplayInput};
use aisle::shelf::{CellModel, ShelfModel};
use aisle::sim::{self, scenario::Scenario, truth::Truth};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};
use aisle::{eval, install, output};

#[derive(Parser)]
#[command(
    name = "aisle",
    version,
    about = "Edge computer-vision agent for physical stores"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Detect people in a video or camera and print one JSON line per processed frame.
    Detect {
        /// A video file or a source URI (file://, rtsp://, v4l2:///dev/videoN, test://, pipeline:…).
        source: String,
        /// Model manifest; the bundled default person model when absent.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Process every n-th frame.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        every: u64,
        /// ONNX Runtime threads in all, 1 to 64 (default: one per core).
        #[arg(long, value_parser = thread_count)]
        threads: Option<usize>,
        /// Frames inferred side by side, sharing the threads (more throughput, more memory).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=aisle::config::MAX_LANES as u64))]
        lanes: u64,
        /// Least score printed, on the common calibrated scale: by default 0.5, the boxes sure
        /// enough to count as people frame by frame. The agent's tracker gets weaker ones too,
        /// from the manifest's score_threshold up; `--score 0.35` shows what it gets.
        #[arg(long, value_parser = unit_score)]
        score: Option<f32>,
        /// Detect in COLSxROWS overlapping slices of each frame, one inference each.
        #[arg(long, default_value = "1x1")]
        tiles: TileGrid,
        /// Share of a slice that overlaps its neighbour.
        #[arg(long, default_value_t = 0.4, value_parser = overlap_share)]
        tile_overlap: f32,
        /// Path of libonnxruntime.so (default: ORT_DYLIB_PATH, then the installation).
        #[arg(long)]
        ort_library: Option<PathBuf>,
    },
    /// Check a config file and report every problem in it, one `field: reason` per line.
    /// Example: `aisle check-config /etc/aisle/aisle.toml`.
    CheckConfig {
        /// The config file to check (TOML); environment overrides (AISLE_…) apply as in `run`.
        file: PathBuf,
    },
    /// Run the agent daemon.
    Run {
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the whole pipeline on a recorded video and print every event (summaries, alerts) as
    /// one JSON line: tune zones and rules on yesterday's video before deploying them. With
    /// MOT-format detections or tracks instead of video, score the stages after the detector.
    Replay {
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// The recording; replaces the camera's source.
        #[arg(long, required_unless_present_any = ["detections", "tracks"])]
        input: Option<PathBuf>,
        /// MOT-format detections (frame,id,left,top,width,height,conf): tracker, zones and
        /// rules run on them instead of the detector's output.
        #[arg(long, conflicts_with_all = ["input", "tracks"])]
        detections: Option<PathBuf>,
        /// MOT-format tracks, e.g. ground truth: zones and rules run on them, no tracker.
        #[arg(long, conflicts_with_all = ["input", "detections"])]
        tracks: Option<PathBuf>,
        /// Frame rate of MOT input.
        #[arg(long, required_unless_present = "input")]
        fps: Option<f64>,
        /// Frame size of MOT input, WIDTHxHEIGHT in pixels (zones are resolved against it).
        #[arg(long, value_parser = parse_size, required_unless_present = "input")]
        size: Option<(u32, u32)>,
        /// Also write the confirmed tracks, frame by frame, to this file in MOT format (local
        /// evaluation only: tracks are never published). Not with --tracks, which skips the tracker.
        #[arg(long, conflicts_with = "tracks")]
        emit_tracks: Option<PathBuf>,
        /// Which camera's zones and rules to use (default: the first enabled one).
        #[arg(long)]
        camera: Option<String>,
        /// Pace frames to their timestamps instead of running as fast as possible.
        #[arg(long)]
        realtime: bool,
    },
    /// Simulate a store day from a scenario file: writes MOT-format detections (with the
    /// scenario's detector noise) and true tracks, and the truth as JSON, to score the analytics
    /// with `aisle replay` and `aisle eval`.
    Simulate {
        /// The scenario (TOML), e.g. firmware-config/scenarios/saturday-rush.toml: arrivals,
        /// lanes, detector noise and the agent config whose zones it walks.
        #[arg(long)]
        scenario: PathBuf,
        /// Directory for detections.txt, tracks.txt and truth.json (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Score the events of a replay (JSON lines) against a simulation's truth.json: line counts,
    /// queue waits, occupancy per second and alert timing. `aisle eval detect` scores the person
    /// detector on annotated footage instead.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Eval {
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
    },
    /// Fleet admin tools for signed model updates (docs/ota.md).
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Empty-shelf detection: the store's stocked reference, and the classifier's accuracy
    /// (docs/shelves.md).
    Shelf {
        #[command(subcommand)]
        action: ShelfAction,
    },
    /// Print the JSON Schema of the events the agent produces.
    EventsSchema,
    /// Inspect the event outbox of a stopped agent.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
}

#[derive(Subcommand)]
enum EvalAction {
    /// Score person detections frame by frame against MOT-format ground truth: AP50,
    /// AP[.5:.95], precision/recall/F1 and count error at the operating threshold, the best-F1
    /// threshold, and time per frame. Prints a JSON report.
    Detect {
        /// A folder of frames (000001.jpg, …) or a video.
        #[arg(long, required_unless_present = "detections")]
        images: Option<String>,
        /// Score these MOT-format detections (frame,id,left,top,width,height,score) instead of
        /// running a model: another detector's output, or a cross-check with other tools.
        #[arg(long, conflicts_with_all = ["images", "model"])]
        detections: Option<PathBuf>,
        /// Ground truth, MOT format (frame,id,left,top,width,height,conf; 1-based frames).
        #[arg(long)]
        gt: PathBuf,
        /// Model manifest; the bundled default person model when absent.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Operating score threshold (default: the manifest's).
        #[arg(long, value_parser = unit_score)]
        score: Option<f32>,
        /// ONNX Runtime intra-op threads, 1 to 64.
        #[arg(long, default_value_t = 2, value_parser = thread_count)]
        threads: usize,
        /// Write the precision-recall curve here as SVG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Detect in COLSxROWS overlapping slices of each frame, one inference each.
        #[arg(long, default_value = "1x1")]
        tiles: TileGrid,
        /// Share of a slice that overlaps its neighbour.
        #[arg(long, default_value_t = 0.4, value_parser = overlap_share)]
        tile_overlap: f32,
    },
}

#[derive(Subcommand)]
enum ModelAction {
    /// A new Ed25519 key pair in minisign's format: DIR/NAME.pub and DIR/NAME.key (0600).
    /// Prints the key line to put in agents' `ota.trusted_keys`.
    Keygen {
        /// Folder for NAME.pub and NAME.key (created if missing; a key is never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// File name of the key pair: letters, digits, '-', '_' and '.', not a path.
        #[arg(long, default_value = "aisle-model")]
        name: String,
    },
    /// Sign a model into a bundle directory (update.toml, update.toml.minisig, model.onnx).
    Pack {
        /// The model file (ONNX) to ship.
        #[arg(long)]
        onnx: PathBuf,
        /// The model's manifest (input and decoder settings), e.g. models/*/manifest.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// Strictly above the version every target runs in the slot.
        #[arg(long)]
        version: u64,
        /// RFC 3339 time or days from now (`90d`).
        #[arg(long, default_value = "90d")]
        expires: String,
        /// Secret key file from `aisle model keygen`.
        #[arg(long)]
        key: PathBuf,
        /// Directory for the bundle (created; update.toml, its signature and the model).
        #[arg(long)]
        out: PathBuf,
        /// The model slot it replaces on gateways (`person`: the person detector); versions rise
        /// per slot.
        #[arg(long, default_value = "person")]
        slot: String,
        /// Only these devices (repeatable; default: all).
        #[arg(long = "device")]
        devices: Vec<String>,
        /// Only these sites (repeatable; default: all).
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Where gateways download the model (https://…); default: it travels with the manifest.
        #[arg(long)]
        url: Option<String>,
        /// Oldest agent that can run the model (default: this one).
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        min_agent_version: String,
    },
    /// Install a bundle on this gateway (offline, e.g. from a USB stick) after every check the
    /// agent runs on an update; the agent runs it from its next start.
    Install {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Add another admin's signature to a packed bundle, for gateways that require more than
    /// one (`ota.required_signatures`): check it with `aisle model verify` first.
    Cosign {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// Secret key file from `aisle model keygen`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Offer a bundle to gateways over MQTT (retained, on SITE/DEVICE's cmd/model topic); they
    /// download the model from the manifest's url, check it and swap it in.
    Publish {
        /// The bundle directory from `aisle model pack`.
        #[arg(required_unless_present = "clear")]
        bundle: Option<PathBuf>,
        /// Remove the retained offer from the targets' topics instead, once the fleet has
        /// taken it (gateways ignore the empty message).
        #[arg(long, conflicts_with = "bundle")]
        clear: bool,
        /// The broker as HOST:PORT (TLS).
        #[arg(long)]
        broker: String,
        /// CA certificate (PEM) the broker's certificate is checked against.
        #[arg(long)]
        ca: PathBuf,
        /// Client certificate and key (PEM), for brokers that require one.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// The client certificate's private key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// The agents' `mqtt.topic_prefix`.
        #[arg(long, default_value = "aisle")]
        topic_prefix: String,
        /// SITE/DEVICE (repeatable).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
    },
    /// Run every check a gateway runs on a bundle, against a public key file.
    Verify {
        /// The bundle directory from `aisle model pack`.
        bundle: PathBuf,
        /// Public key file (NAME.pub from `aisle model keygen`).
        #[arg(long)]
        pubkey: PathBuf,
        /// Check the targets as this gateway's device id would (`any`: skip the device check).
        #[arg(long, default_value = "any")]
        device: String,
        /// Check the targets as this gateway's site would (`any`: skip the site check).
        #[arg(long, default_value = "any")]
        site: String,
        /// The slot and version the gateway runs now (the anti-rollback floor).
        #[arg(long, default_value = "person")]
        slot: String,
        /// The version the gateway runs in that slot: the bundle must be above it.
        #[arg(long, default_value_t = 0)]
        floor: u64,
    },
}

#[derive(Subcommand)]
enum ShelfAction {
    /// Store each shelf zone's stocked reference, from the first frame with no person in front
    /// of a shelf. Run at install time with the shelves full; prints how the classifier reads
    /// each zone in that frame as JSON.
    Calibrate {
        /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// Only this camera (default: every enabled camera with shelf zones).
        #[arg(long)]
        camera: Option<String>,
        /// Frames to wait, per camera, for the shelves to be in clear view.
        #[arg(long, default_value_t = 300)]
        frames: u64,
    },
    /// Score the shelf-cell classifier on labelled cells (DIR/cells.rgb and DIR/labels.txt, as
    /// written by models/shelf/synth.py), or on real photos with their gaps outlined; prints
    /// accuracy, confusion and time as JSON. Example: `aisle shelf eval --photos
    /// ../shared/data/empty-shelf --grid 4x4 --split held-out`.
    #[command(group(clap::ArgGroup::new("input").required(true).args(["cells", "photos"])))]
    Eval {
        /// A folder of labelled cells: cells.rgb (side² RGB cells back to back) and labels.txt.
        #[arg(long)]
        cells: Option<PathBuf>,
        /// A folder of shelf photos (images/*.jpg|png) with their gaps outlined in labels/*.txt
        /// (YOLO boxes or polygons); each photo is cut into --grid cells.
        #[arg(long)]
        photos: Option<PathBuf>,
        /// Levels × bays each photo is cut into (with --photos).
        #[arg(long, default_value = "4x4", value_parser = levels_by_bays)]
        grid: (u32, u32),
        /// Which photos: held-out (a fifth of the source photos, never trained on), train, all.
        #[arg(long, default_value = "held-out")]
        split: aisle::shelf::photos::Split,
        /// Also write the cut cells here (cells.rgb, labels.txt, sources.txt) for training.
        #[arg(long, requires = "photos")]
        export: Option<PathBuf>,
        /// Shelf model manifest (default: the bundled one).
        #[arg(long)]
        model: Option<PathBuf>,
        /// ONNX Runtime threads, 1 to 64.
        #[arg(long, default_value_t = 1, value_parser = thread_count)]
        threads: usize,
        /// Cells per inference run, as a camera's shelves are read together.
        #[arg(long, default_value_t = 32)]
        batch: usize,
    },
}

#[derive(Subcommand)]
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

/// Prints one line of a command's result. The `?` after it ends the command when stdout is gone;
/// `main` treats a reader that stopped early (`| head`, `grep -q`) as done, not as a failure.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)
    };
}

fn main() {
    aisle::heap::limit_fragmentation();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Detect {
            source,
            model,
            every,
            threads,
            lanes,
            score,
            tiles,
            tile_overlap,
            ort_library,
        } => {
            init_logging(cli.log_format.unwrap_or_default(), "warn");
            let tiling = Tiling {
                grid: tiles,
                overlap: tile_overlap,
            };
            let opts = DetectorOptions {
                threads: threads.unwrap_or_else(default_threads),
                lanes: lanes as usize,
                score: Some(score.unwrap_or(aisle::detect::CONFIDENT_SCORE)),
                ort_library,
            };
            detect(&source, model, every, &opts, tiling)
        }
        Command::CheckConfig { file } => check_config(&file),
        Command::Run { config } => run(&config, cli.log_format),
        Command::Replay {
            config,
            input,
            detections,
            tracks,
            fps,
            size,
            emit_tracks,
            camera,
            realtime,
        } => {
            init_logging(cli.log_format.unwrap_or_default(), "warn");
            let source = match (input, detections, tracks) {
                (Some(video), _, _) => ReplaySource::Video(video, realtime),
                (_, Some(file), _) => ReplaySource::Mot(file, false),
                (_, _, Some(file)) => ReplaySource::Mot(file, true),
                (None, None, None) => unreachable!("clap requires one input"),
            };
            replay_cmd(
                &config,
                source,
                fps.zip(size),
                emit_tracks.as_deref(),
                camera.as_deref(),
            )
        }
        Command::Outbox { action } => match action {
            OutboxAction::Stats { config } => outbox_cmd(&config, false),
            OutboxAction::Dump { config } => outbox_cmd(&config, true),
        },
        Command::Simulate { scenario, out } => simulate_cmd(&scenario, &out),
        Command::Eval {
            detector:
                Some(EvalAction::Detect {
                    images,
                    detections,
                    gt,
                    model,
                    score,
                    threads,
                    plot,
                    tiles,
                    tile_overlap,
                }),
            ..
        } => {
            init_logging(cli.log_format.unwrap_or_default(), "warn");
            let tiling = Tiling {
                grid: tiles,
                overlap: tile_overlap,
            };
            let source = match (images, detections) {
                (_, Some(file)) => DetectionSource::Mot(file),
                (Some(images), None) => DetectionSource::Model {
                    images,
                    model,
                    tiling,
                },
                (None, None) => unreachable!("clap requires --images or --detections"),
            };
            eval_detect_cmd(source, &gt, score, threads, plot.as_deref())
        }
        Command::Eval {
            truth: Some(truth),
            events: Some(events),
            json,
            check,
            ..
        } => eval_cmd(&truth, &events, json, check),
        Command::Eval { .. } => unreachable!("clap requires --truth and --events"),
        Command::Model { action } => model_cmd(action),
        Command::Shelf { action } => {
            init_logging(cli.log_format.unwrap_or_default(), "warn");
            shelf_cmd(action)
        }
        Command::EventsSchema => {
            out!("{}", aisle::events::schema_json().trim_end()).map_err(Into::into)
        }
    };
    if let Err(e) = result {
        if reader_left(&e) {
            return;
        }
        eprintln!("aisle: {}", one_line(&e));
        std::process::exit(1);
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

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AISLE_LOG")
        .unwrap_or_else(|_| default_level.into());
    // A log reader that goes away (closed pipe) must not take the agent down with it.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// A shelf grid for the command line: levels × bays, each 1 to 16 as in a shelf zone.
fn levels_by_bays(s: &str) -> Result<(u32, u32), String> {
    let parse = |v: &str| v.parse::<u32>().ok().filter(|n| (1..=16).contains(n));
    match s.split_once('x').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(levels), Some(bays))) => Ok((levels, bays)),
        _ => Err(format!("{s:?} is not LEVELSxBAYS, each 1 to 16")),
    }
}

/// ONNX Runtime threads on the command line, bounded as `runtime.threads` is in a config.
fn thread_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=aisle::config::MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a thread count from 1 to {}",
            aisle::config::MAX_THREADS
        )),
    }
}

/// A score on the common calibrated scale, 0..=1 (NaN is not one).
fn unit_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a score in 0..=1")),
    }
}

/// A slice overlap share for the command line, 0..=0.5.
fn overlap_share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=0.5).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share in 0..=0.5")),
    }
}

fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }
    Ok(stop)
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The person model a config runs: the one installed by an update, else the configured one,
/// else the bundled default.
fn agent_model(cfg: &Config) -> Result<PathBuf> {
    if let Some(ota) = &cfg.ota {
        let store = aisle::ota::store::ModelStore::open(&ota.state_dir)?;
        if let Some(installed) = store.active_manifest("person")? {
            return Ok(installed);
        }
    }
    model_path(cfg.detector.model.clone())
}

fn model_path(configured: Option<PathBuf>) -> Result<PathBuf> {
    match configured {
        Some(p) => Ok(p),
        None => install::default_model().map_err(|tried| {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            anyhow::anyhow!("default model not found; looked in: {}", tried.join(", "))
        }),
    }
}

fn detect(
    source: &str,
    model: Option<PathBuf>,
    every: u64,
    opts: &DetectorOptions,
    tiling: Tiling,
) -> Result<()> {
    let stop = stop_on_signals()?;
    let spec = SourceSpec::parse(source)?;
    let mut detector = Detector::load(&model_path(model)?, opts)?;
    let input = CameraInput {
        settings: CameraSettings {
            every,
            ..CameraSettings::ad_hoc(source, spec.is_live())
        },
        spec,
        gst: GstOptions::default(),
        tiling,
    };
    let labels = detector.manifest().output.labels.clone();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut line = String::with_capacity(1024);
    let mut write_error = None;
    let report = pipeline::run_frames(&input, &mut detector, 2, &stop, |p| {
        output::detections_line(
            &mut line,
            p.frame.index,
            p.frame.pts_ms,
            p.detections,
            &labels,
        );
        match writeln!(out, "{line}") {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = write_error {
        return Err(e).context("cannot write to stdout");
    }
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "frames={} seconds={secs:.2} fps={:.1}",
        report.frames,
        report.frames as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Scores below this still reach `aisle eval detect`, so its precision-recall curve covers the
/// thresholds anyone would choose.
const CURVE_FLOOR: f32 = 0.05;

/// Where `aisle eval detect` gets its detections.
enum DetectionSource {
    Model {
        images: String,
        model: Option<PathBuf>,
        tiling: Tiling,
    },
    Mot(PathBuf),
}

/// Detections per 1-based frame, with what produced them and the time per frame.
struct Detected {
    frames: Vec<(u64, Vec<aisle::detect::Detection>)>,
    ms: Vec<f64>,
    operating: f32,
    describe: serde_json::Value,
    title: String,
}

fn read_mot(path: &Path) -> Result<Vec<mot::MotRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    mot::parse(&text).with_context(|| format!("{}", path.display()))
}

fn run_detector(
    images: &str,
    model: Option<PathBuf>,
    tiling: Tiling,
    score: Option<f32>,
    threads: usize,
) -> Result<Detected> {
    let stop = stop_on_signals()?;
    let spec = SourceSpec::parse(images)?;
    let first = match &spec {
        SourceSpec::Images { first, .. } => u64::from(*first),
        _ => 1,
    };
    let model = model_path(model)?;
    let opts = DetectorOptions {
        threads,
        lanes: 1,
        score: Some(CURVE_FLOOR),
        ort_library: None,
    };
    let mut detector = Detector::load(&model, &opts)
        .with_context(|| format!("loading model {}", model.display()))?;
    let manifest = detector.manifest().clone();
    let person = manifest.output.labels.iter().position(|l| l == "person");
    let input = CameraInput {
        settings: CameraSettings::ad_hoc(images, spec.is_live()),
        spec,
        gst: GstOptions::default(),
        tiling,
    };
    let (mut frames, mut ms) = (Vec::new(), Vec::new());
    pipeline::run_frames(&input, &mut detector, 2, &stop, |p| {
        let people = p
            .detections
            .iter()
            .copied()
            .filter(|d| person.is_none_or(|c| usize::from(d.class) == c))
            .collect();
        frames.push((first + p.frame.index, people));
        ms.push(p.inference.as_secs_f64() * 1e3);
        ControlFlow::Continue(())
    })?;
    Ok(Detected {
        frames,
        ms,
        operating: score.unwrap_or(manifest.output.score_threshold),
        describe: serde_json::json!({
            "model": manifest.name,
            "manifest": model,
            "resize": manifest.input.resize,
            "input": [manifest.input.width, manifest.input.height],
            "tiles": tiling.grid,
            "threads": threads,
        }),
        title: format!(
            "{} ({:?}, tiles {}) on {images}",
            manifest.name, manifest.input.resize, tiling.grid
        ),
    })
}

fn eval_detect_cmd(
    source: DetectionSource,
    gt: &Path,
    score: Option<f32>,
    threads: usize,
    plot: Option<&Path>,
) -> Result<()> {
    use aisle::eval::detection;
    let rows = read_mot(gt)?;
    let mut d = match source {
        DetectionSource::Model {
            images,
            model,
            tiling,
        } => run_detector(&images, model, tiling, score, threads)?,
        DetectionSource::Mot(path) => {
            let found = read_mot(&path)?;
            Detected {
                frames: mot::frames(&found)
                    .map(|(f, rows)| (f, rows.iter().map(mot::MotRow::detection).collect()))
                    .collect(),
                ms: Vec::new(),
                operating: score.unwrap_or(0.5),
                describe: serde_json::json!({ "detections": path }),
                title: format!("{}", path.display()),
            }
        }
    };
    let last = rows
        .iter()
        .map(|r| r.frame)
        .chain(d.frames.iter().map(|f| f.0))
        .max()
        .unwrap_or(0);
    let mut frames: Vec<detection::Frame> = detection::truth_by_frame(&rows, last)
        .into_iter()
        .map(|truth| detection::Frame {
            truth,
            detections: Vec::new(),
        })
        .collect();
    for (frame, dets) in d.frames {
        if let Some(f) = usize::try_from(frame)
            .ok()
            .and_then(|i| frames.get_mut(i - 1))
        {
            f.detections = dets;
        }
    }
    let scores = detection::score(&frames, d.operating);
    d.ms.sort_by(f64::total_cmp);
    let mean_ms = d.ms.iter().fold(0.0, |a, b| a + b) / d.ms.len().max(1) as f64;
    let p50_ms = d.ms.get(d.ms.len() / 2).copied().unwrap_or(0.0);
    let mut report = d.describe;
    report["frames_timed"] = d.ms.len().into();
    report["ms_per_frame_mean"] = mean_ms.into();
    report["ms_per_frame_p50"] = p50_ms.into();
    report["scores"] = serde_json::to_value(&scores)?;
    out!("{report}")?;
    let o = scores.operating;
    eprintln!(
        "AP50 {:.3}, AP[.5:.95] {:.3}; at {:.2}: precision {:.3}, recall {:.3}, F1 {:.3}, count MAE {:.2}; best F1 {:.3} at {:.2}; {} frames, {} people{}",
        scores.ap50,
        scores.ap50_95,
        o.score,
        o.precision,
        o.recall,
        o.f1,
        o.count_mae,
        scores.best_f1.f1,
        scores.best_f1.score,
        scores.frames,
        scores.truth,
        if d.ms.is_empty() {
            String::new()
        } else {
            format!("; {mean_ms:.1} ms/frame")
        }
    );
    if let Some(path) = plot {
        std::fs::write(path, detection::pr_svg(&scores, &d.title))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn detector_options(cfg: &Config) -> DetectorOptions {
    DetectorOptions {
        threads: if cfg.runtime.threads == 0 {
            default_threads()
        } else {
            cfg.runtime.threads
        },
        lanes: cfg.runtime.lanes,
        score: cfg.detector.score,
        ort_library: cfg.runtime.ort_library.clone(),
    }
}

/// Where `aisle replay` reads frames from.
enum ReplaySource {
    /// A recording, and whether to pace it in real time.
    Video(PathBuf, bool),
    /// A MOT file, and whether it holds tracks (true) or detections.
    Mot(PathBuf, bool),
}

fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0);
    parsed.ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT, e.g. 640x480"))
}

fn replay_cmd(
    config: &Path,
    source: ReplaySource,
    timing: Option<(f64, (u32, u32))>,
    emit_tracks: Option<&Path>,
    camera: Option<&str>,
) -> Result<()> {
    let cfg = Config::load(config)?;
    let stop = stop_on_signals()?;
    let mut tracks_file = emit_tracks
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .with_context(|| format!("cannot create {}", p.display()))
        })
        .transpose()?;
    let tracks_out = tracks_file.as_mut().map(|f| f as &mut dyn std::io::Write);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let report = match source {
        ReplaySource::Video(path, realtime) => {
            let model = agent_model(&cfg)?;
            let mut detector = Detector::load(&model, &detector_options(&cfg))?;
            let input = ReplayInput::Video {
                path: &path,
                detector: &mut detector,
                realtime,
            };
            replay::replay(&cfg, camera, input, &stop, &mut out, tracks_out)?
        }
        ReplaySource::Mot(path, tracked) => {
            let (fps, (width, height)) = timing.context("MOT input needs --fps and --size")?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let rows = mot::parse(&text).with_context(|| format!("{}", path.display()))?;
            let frames = MotFrames {
                rows,
                fps,
                width,
                height,
            };
            let input = if tracked {
                ReplayInput::Tracks(frames)
            } else {
                ReplayInput::Detections(frames)
            };
            replay::replay(&cfg, camera, input, &stop, &mut out, tracks_out)?
        }
    };
    eprintln!("frames={} events={}", report.frames, report.events);
    Ok(())
}

fn shelf_model(configured: Option<PathBuf>) -> Result<PathBuf> {
    match configured {
        Some(p) => Ok(p),
        None => install::default_shelf_model().map_err(|tried| {
            let tried: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            anyhow::anyhow!(
                "default shelf model not found; looked in: {}",
                tried.join(", ")
            )
        }),
    }
}

fn shelf_cmd(action: ShelfAction) -> Result<()> {
    match action {
        ShelfAction::Calibrate {
            config,
            camera,
            frames,
        } => {
            let cfg = Config::load(&config)?;
            let stop = stop_on_signals()?;
            let mut detector = Detector::load(&agent_model(&cfg)?, &detector_options(&cfg))?;
            let path = shelf_model(cfg.shelf.model.clone())?;
            let mut model = ShelfModel::load(
                &path,
                cfg.runtime.threads,
                cfg.runtime.ort_library.as_deref(),
            )
            .with_context(|| format!("loading shelf model {}", path.display()))?;
            let reports = aisle::shelf::calibrate::calibrate(
                &cfg,
                camera.as_deref(),
                &mut detector,
                &mut model,
                frames,
                &stop,
            )?;
            out!("{}", serde_json::to_string_pretty(&reports)?)?;
        }
        ShelfAction::Eval {
            cells,
            photos,
            grid,
            split,
            export,
            model,
            threads,
            batch,
        } => {
            let path = shelf_model(model)?;
            let mut model = CellModel::load(&path, threads, None)
                .with_context(|| format!("loading shelf model {}", path.display()))?;
            let report = match (cells, photos) {
                (Some(cells), _) => serde_json::to_string_pretty(&aisle::shelf::eval::evaluate(
                    &mut model, &cells, batch,
                )?)?,
                (None, Some(photos)) => {
                    serde_json::to_string_pretty(&aisle::shelf::photos::evaluate(
                        &mut model,
                        &photos,
                        split,
                        grid,
                        export.as_deref(),
                    )?)?
                }
                (None, None) => anyhow::bail!("give --cells or --photos"),
            };
            out!("{report}")?;
        }
    }
    Ok(())
}

fn simulate_cmd(scenario: &Path, out: &Path) -> Result<()> {
    let (scenario, cfg) = Scenario::load(scenario)?;
    let sim = sim::simulate(&scenario, &cfg)?;
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

fn eval_cmd(truth: &Path, events: &Path, json: bool, check: bool) -> Result<()> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let truth: Truth =
        serde_json::from_str(&read(truth)?).with_context(|| format!("{}", truth.display()))?;
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

fn model_cmd(action: ModelAction) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match action {
        ModelAction::Keygen { out, name } => {
            let line = admin::keygen(&out, &name)?;
            out!("{line}")?;
        }
        ModelAction::Pack {
            onnx,
            manifest,
            version,
            expires,
            key,
            out,
            slot,
            devices,
            sites,
            url,
            min_agent_version,
        } => {
            let release = Release {
                slot,
                version,
                expires_unix_s: admin::parse_expiry(&expires, now)?,
                targets: admin::targets(devices, sites),
                url,
                min_agent_version,
            };
            let m = admin::pack(admin::PackOptions {
                onnx: &onnx,
                manifest: &manifest,
                key: &key,
                out: &out,
                release,
            })?;
            out!(
                "{} v{} ({} bytes, sha256 {}) → {}",
                m.name,
                m.version,
                m.size,
                m.sha256,
                out.display()
            )?;
        }
        ModelAction::Install { bundle, config } => {
            let cfg = Config::load(&config)?;
            let state = aisle::ota::offline::install(&cfg, &bundle, now, &detector_options(&cfg))?;
            out!("{}", serde_json::to_string(&state)?)?;
        }
        ModelAction::Cosign { bundle, key } => {
            let secret = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let id = aisle::ota::bundle::cosign(&bundle, &secret)?;
            out!("co-signed by key {id} → {}", bundle.display())?;
        }
        ModelAction::Publish {
            bundle,
            clear,
            broker,
            ca,
            cert,
            key,
            topic_prefix,
            targets,
        } => {
            let (host, port) = broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
                .with_context(|| format!("--broker {broker:?}: expected HOST:PORT"))?;
            let topics = aisle::ota::publish::publish(&aisle::ota::publish::PublishOptions {
                bundle: bundle.as_deref().filter(|_| !clear),
                host,
                port,
                ca_file: &ca,
                client: cert.as_deref().zip(key.as_deref()),
                topic_prefix: &topic_prefix,
                targets: &targets,
            })?;
            let done = if clear { "cleared" } else { "offered on" };
            for t in topics {
                out!("{done} {t}")?;
            }
        }
        ModelAction::Verify {
            bundle,
            pubkey,
            device,
            site,
            slot,
            floor,
        } => {
            let m = admin::verify_bundle(&bundle, &pubkey, &device, &site, (&slot, floor), now)?;
            out!(
                "ok: {} v{} for slot {} ({} bytes, sha256 {})",
                m.name,
                m.version,
                m.slot,
                m.size,
                m.sha256
            )?;
        }
    }
    Ok(())
}

/// Prints one problem per line, so an installer sees the whole list at once.
fn check_config(file: &Path) -> Result<()> {
    match Config::load(file) {
        Ok(_) => {
            out!("{}: ok", file.display())?;
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
            std::process::exit(1);
        }
        Err(e) => Err(e.into()),
    }
}

fn run(config_path: &Path, log_format: Option<LogFormat>) -> Result<()> {
    let cfg = Config::load(config_path)?;
    init_logging(log_format.unwrap_or(cfg.log.format), &cfg.log.level);
    let stop = stop_on_signals()?;
    // An update a restart interrupted is undone before a model is chosen.
    let recovered = match &cfg.ota {
        Some(ota) => {
            aisle::ota::recover::recover(&aisle::ota::store::ModelStore::open(&ota.state_dir)?)?
        }
        None => Vec::new(),
    };
    let model = agent_model(&cfg)?;
    let options = detector_options(&cfg);
    let detector = Detector::load(&model, &options)
        .with_context(|| format!("loading model {}", model.display()))?;
    let start = aisle::daemon::StartModel {
        detector,
        path: model,
        configured: model_path(cfg.detector.model.clone())?,
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
        Err(e @ DaemonError::Pipeline(_)) if stop.load(std::sync::atomic::Ordering::Relaxed) => {
            tracing::warn!(error = %e, "stopped with errors");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "agent failed");
            Err(e.into())
        }
    }
}

/// `aisle outbox stats|dump`: what a stopped agent's store holds, for store ops and support.
fn outbox_cmd(config: &Path, dump: bool) -> Result<()> {
    let cfg = Config::load(config)?;
    let (store, opened) = SledOutbox::open(&cfg.outbox.path)?;
    if let OpenOutcome::Reset { moved_to, reason } = opened {
        eprintln!(
            "aisle: the outbox could not be opened ({reason}); it was moved to {} and a fresh one created",
            moved_to.display()
        );
    }
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
