//! Person (and other object) detection: frames in, boxes in source pixels out.

pub mod boxes;
pub mod calibration;
pub mod decode;
pub mod detector;
pub mod geometry;
pub mod lanes;
pub mod manifest;
pub mod preprocess;
pub mod runtime;
pub mod tiling;

pub use boxes::{BBox, Detection};

/// A box scoring this much (on the common calibrated scale every model maps onto) is sure enough
/// to count on its own: what `aisle detect` prints by default, what may hide a shelf cell and what
/// starts the tracker's first stage. The detector still hands the tracker every box from its
/// manifest's `score_threshold` up, because a track confirms a weak box over several frames and
/// a single frame cannot (docs/evaluation.md).
pub const CONFIDENT_SCORE: f32 = 0.5;
pub use detector::{Detector, DetectorError, DetectorOptions};
pub use preprocess::FrameView;
