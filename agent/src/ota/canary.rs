//! Trying a staged model before it serves a store: it must load in ONNX Runtime, give finite
//! outputs on a reference frame and on the store's own recent frames, and stay within a latency
//! budget of the model it replaces. A model that fails is never activated.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use thiserror::Error;

use crate::detect::detector::reference_frame;
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
    #[error("gives non-finite outputs (NaN or infinity) on a recent camera frame")]
    NotFiniteRecent,
    #[error("takes {new_ms:.1} ms a frame against {current_ms:.1} ms for the current model")]
    TooSlow { new_ms: f64, current_ms: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct CanaryReport {
    pub new_ms: f64,
    pub current_ms: Option<f64>,
    /// Recent camera frames the new model ran on.
    pub recent_frames: usize,
}

/// A copy of a frame a camera delivered lately (already scaled for the model), kept so the
/// canary sees what this store's cameras see, not only a synthetic frame.
#[derive(Debug, Clone, Default)]
pub struct RecentFrame {
    width: u32,
    height: u32,
    stride: usize,
    bgr: Vec<u8>,
    source: (u32, u32),
}

impl RecentFrame {
    /// Copies `v` into this frame, reusing its buffer.
    pub fn copy_from(&mut self, v: &FrameView<'_>) {
        let len = (v.stride * v.height as usize).min(v.bgr.len());
        self.bgr.clear();
        self.bgr.extend_from_slice(&v.bgr[..len]);
        (self.width, self.height, self.stride, self.source) =
            (v.width, v.height, v.stride, v.source);
    }

    pub fn is_empty(&self) -> bool {
        self.bgr.is_empty()
    }

    pub fn view(&self) -> FrameView<'_> {
        FrameView {
            width: self.width,
            height: self.height,
            stride: self.stride,
            bgr: &self.bgr,
            source: self.source,
        }
    }
}

/// The latest frame of each camera, refreshed by the vision loop about once a second.
pub type RecentFrames = Arc<Mutex<Vec<RecentFrame>>>;

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

/// Runs the staged model at `staged` (its manifest), and the `current` one when given, on the
/// reference frame; then the staged one on `recent` camera frames. The current model is timed
/// first and dropped, so at most one extra session is loaded at a time; the staged model comes
/// back loaded and warm, ready to be swapped in.
pub fn run(
    staged: &Path,
    current: Option<&Path>,
    opts: &DetectorOptions,
    recent: &[RecentFrame],
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
    let mut out = Vec::new();
    let recent: Vec<&RecentFrame> = recent.iter().filter(|f| !f.is_empty()).collect();
    for f in &recent {
        new.detect(f.view(), &mut out)
            .map_err(|e| CanaryError::Run(e.to_string()))?;
        if !new.outputs_finite() {
            return Err(CanaryError::NotFiniteRecent);
        }
    }
    let report = CanaryReport {
        new_ms,
        current_ms,
        recent_frames: recent.len(),
    };
    Ok((report, new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_frames_are_copied_with_their_geometry_into_a_reused_buffer() {
        let pixels: Vec<u8> = (0..4 * 2 * 3 + 6).map(|i| i as u8).collect();
        let view = FrameView {
            width: 4,
            height: 2,
            stride: 15,
            bgr: &pixels,
            source: (8, 4),
        };
        let mut f = RecentFrame::default();
        assert!(f.is_empty());
        f.copy_from(&view);
        let capacity = f.bgr.capacity();
        f.copy_from(&view);
        assert_eq!(f.bgr.capacity(), capacity, "no new allocation");
        let v = f.view();
        assert_eq!((v.width, v.height, v.stride, v.source), (4, 2, 15, (8, 4)));
        assert_eq!(v.bgr, &pixels[..30]);
    }
}
