//! What every shelf reader shares, at the bottom of the shelf modules so that the classifier
//! (`model`), the gap detector (`gaps`) and the watch (`watch`) all build on it and none on each
//! other's internals: the face as readers see it, the reader trait, its error and the verdict.

use std::path::PathBuf;

use thiserror::Error;

use super::warp::Quad;
use crate::analytics::zones::CellState;
use crate::detect::preprocess::FrameView;
use crate::detect::runtime::RuntimeError;

/// A shelf face as the models read it: its corners and its cells, in camera pixels.
pub struct Face<'a> {
    pub corners: Quad,
    pub rows: u32,
    pub bays: u32,
    /// Row by row, `rows` × `bays`.
    pub cells: &'a [Quad],
}

/// What reads a shelf face's cells: the cell classifier, a gap detector, or a stand-in in unit
/// tests.
pub trait ReadShelf {
    /// Probabilities of stocked, low and empty for each cell marked visible, in order.
    fn read(
        &mut self,
        frame: &FrameView<'_>,
        face: &Face<'_>,
        visible: &[bool],
        out: &mut Vec<[f32; 3]>,
    ) -> Result<(), ShelfModelError>;
}

#[derive(Debug, Error)]
pub enum ShelfModelError {
    #[error("cannot read shelf model {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("shelf model manifest {} is invalid: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("shelf model {} has sha256 {actual}, its manifest says {expected}", path.display())]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("shelf model {}: {message}", path.display())]
    Contract { path: PathBuf, message: String },
    #[error("shelf model inference failed: {0}")]
    Inference(String),
    #[error("shelf gap detector: {0}")]
    Detector(Box<crate::detect::DetectorError>),
}

/// The most probable state.
pub fn argmax(p: [f32; 3]) -> CellState {
    let states = [CellState::Stocked, CellState::Low, CellState::Empty];
    let mut best = 0;
    for i in 1..3 {
        if p[i] > p[best] {
            best = i;
        }
    }
    states[best]
}
