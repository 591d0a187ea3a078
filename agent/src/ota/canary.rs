//! Trying a staged model before it serves a store: it must load in ONNX Runtime, give finite
//! outputs on reference frames and stay within a latency budget of the model it replaces. A
//! model that fails is never activated.

use std::path::Path;
use std::time::Instant;

use thiserror::Error;

use crate::detect::{Detector, DetectorOptions, FrameView};

/// Reference frames per model; the median time is compared.
const RUNS: usize = 5;
/// The new model may take this many times the current one's median, plus `SLACK_MS`.
const LATENCY_FACTOR: f64 = 2.0;
const SLACK_MS: f64 = 20.0;

#[derive(Debug, Error)]
pub enum CanaryError {
    #[error("does not load: {0}")]
    Load(String),
    #[error("inference fails: {0}")]
    Run(String),
    #[error("gives non-finite outputs (NaN or infinity) on a reference frame")]
    NotFinite,
    #[error("takes {new_ms:.1} ms a frame against {current_ms:.1} ms for the current model")]
    TooSlow { new_ms: f64, current_ms: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct CanaryReport {
    pub new_ms: f64,
    pub current_ms: Option<f64>,
}

/// A 768x576 BGR frame with gradients and edges, so convolutions see varied input.
fn reference_frame() -> Vec<u8> {
    let (w, h) = (768usize, 576usize);
    (0..w * h * 3)
        .map(|i| {
            let (p, c) = (i / 3, i % 3);
            let (x, y) = (p % w, p / w);
            ((x * (c + 1) + y * 2 + ((x / 32 + y / 32) % 2) * 96) % 256) as u8
        })
        .collect()
}

/// Median milliseconds per frame of `detector` on the reference frame, checking finiteness.
fn time_model(detector: &mut Detector, frame: &[u8]) -> Result<f64, CanaryError> {
    let mut out = Vec::new();
    let mut ms = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        detector
            .detect(FrameView::packed(768, 576, frame), &mut out)
            .map_err(|e| CanaryError::Run(e.to_string()))?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
        if !detector.outputs_finite() {
            return Err(CanaryError::NotFinite);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[RUNS / 2])
}

/// Runs the staged model at `staged` (its manifest), and the `current` one when given. The
/// current model is timed first and dropped, so at most one extra session is loaded at a time;
/// the staged model comes back loaded and warm, ready to be swapped in.
pub fn run(
    staged: &Path,
    current: Option<&Path>,
    opts: &DetectorOptions,
) -> Result<(CanaryReport, Detector), CanaryError> {
    let frame = reference_frame();
    let current_ms = match current.map(|p| Detector::load(p, opts)) {
        // A current model that no longer runs leaves nothing to compare against.
        Some(Ok(mut d)) => time_model(&mut d, &frame).ok(),
        Some(Err(_)) | None => None,
    };
    let mut new = Detector::load(staged, opts).map_err(|e| CanaryError::Load(e.to_string()))?;
    let new_ms = time_model(&mut new, &frame)?;
    if let Some(current_ms) = current_ms
        && new_ms > current_ms * LATENCY_FACTOR + SLACK_MS
    {
        return Err(CanaryError::TooSlow { new_ms, current_ms });
    }
    Ok((CanaryReport { new_ms, current_ms }, new))
}
