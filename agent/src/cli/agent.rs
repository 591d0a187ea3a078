//! What the commands that run the agent's pipeline share: logging, stopping on a signal, and the
//! model and runtime settings a config asks for.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

use aisle::config::{Config, LogFormat};
use aisle::detect::{Detector, DetectorOptions, lanes};
use aisle::install::{self, Bundled};

pub fn init_logging(format: LogFormat, default_level: &str) {
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

/// A flag SIGINT and SIGTERM raise, which every long command polls to stop cleanly.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handler")?;
    }
    Ok(stop)
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The person model a config runs: the one installed by an update, else the configured one,
/// else the bundled default.
pub fn person_model(cfg: &Config) -> Result<PathBuf> {
    if let Some(ota) = &cfg.ota {
        let store = aisle::ota::store::ModelStore::open(&ota.state_dir)?;
        if let Some(installed) = store.active_manifest("person")? {
            return Ok(installed);
        }
    }
    Ok(install::model(
        Bundled::Person,
        cfg.detector.model.as_deref(),
    )?)
}

/// The person model at `manifest`, loaded and tried once on a reference frame: every command
/// refuses a model with NaN outputs instead of running it as an empty store.
pub fn load_detector(manifest: &Path, options: &DetectorOptions) -> Result<Detector> {
    let mut detector = Detector::load(manifest, options)
        .with_context(|| format!("loading model {}", manifest.display()))?;
    detector.check_outputs()?;
    Ok(detector)
}

/// Lanes when none are asked for: from the threads and the memory the kernel says is available.
pub fn auto_lanes(threads: usize) -> usize {
    let lanes = lanes::auto(threads, lanes::memory_available());
    tracing::info!(
        lanes,
        threads,
        "lanes chosen from threads and available memory"
    );
    lanes
}

/// The detector settings of a config's `[runtime]` and `[detector]`; `runtime.threads = 0`
/// means one per core, no `runtime.lanes` one lane per thread while memory allows.
pub fn detector_options(cfg: &Config) -> DetectorOptions {
    let threads = if cfg.runtime.threads == 0 {
        default_threads()
    } else {
        cfg.runtime.threads
    };
    DetectorOptions {
        threads,
        lanes: cfg.runtime.lanes.unwrap_or_else(|| auto_lanes(threads)),
        score: cfg.detector.score,
        ort_library: cfg.runtime.ort_library.clone(),
    }
}
