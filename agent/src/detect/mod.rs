//! Person (and other object) detection: frames in, boxes in source pixels out.

pub mod boxes;
pub mod calibration;
pub mod decode;
pub mod detector;
pub mod geometry;
pub mod manifest;
pub mod preprocess;
pub mod runtime;
pub mod tiling;

pub use boxes::{BBox, Detection};
pub use detector::{Detector, DetectorError, DetectorOptions};
pub use preprocess::FrameView;
