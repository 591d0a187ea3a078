//! `aisle shelf eval`: the classifier's accuracy on labelled cells (the held-out synthetic split
//! of `models/shelf/synth.py`, or cells cut from a store's own footage), and its time per cell
//! alone and in a batch as the agent runs it.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::classifier::{CellModel, LABELS, ShelfModelError, argmax};
use crate::analytics::zones::CellState;

#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub model: String,
    #[serde(flatten)]
    pub scores: CellScores,
    /// Milliseconds per cell in batches of `batch`, and for a cell on its own.
    pub batch: usize,
    pub ms_per_cell_batched: f64,
    pub ms_per_cell_single: f64,
}

/// How a classifier read labelled cells, synthetic or cut from real photos.
#[derive(Debug, Serialize)]
pub struct CellScores {
    pub cells: usize,
    pub accuracy: f64,
    pub labels: [&'static str; 3],
    /// Per true label (stocked, low, empty): how often it was read as each.
    pub confusion: [[usize; 3]; 3],
    /// Recall of empty cells, and how often a stocked cell was read empty (a false alarm).
    pub empty_recall: f64,
    pub stocked_read_empty: f64,
}

impl CellScores {
    pub fn from_confusion(confusion: [[usize; 3]; 3]) -> Self {
        let cells: usize = confusion.iter().flatten().sum();
        let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
        Self {
            cells,
            accuracy: share(correct, cells),
            labels: LABELS,
            confusion,
            empty_recall: share(confusion[2][2], confusion[2].iter().sum()),
            stocked_read_empty: share(confusion[0][2], confusion[0].iter().sum()),
        }
    }
}

/// `a / b`, 0 when there is nothing to divide.
pub fn share(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A state's row and column in a confusion matrix.
pub fn index(s: CellState) -> usize {
    match s {
        CellState::Stocked => 0,
        CellState::Low => 1,
        CellState::Empty => 2,
    }
}

/// Reads `dir/cells.rgb` (side² RGB cells back to back) and `dir/labels.txt` (one label per
/// line) and scores `model` on them.
pub fn evaluate(
    model: &mut CellModel,
    dir: &Path,
    batch: usize,
) -> Result<EvalReport, ShelfModelError> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path).map_err(|source| ShelfModelError::Read { path, source })
    };
    let cells = read("cells.rgb")?;
    let text = String::from_utf8_lossy(&read("labels.txt")?).into_owned();
    let bad = |message: String| ShelfModelError::Manifest {
        path: dir.join("labels.txt"),
        message,
    };
    let truth = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            LABELS
                .iter()
                .position(|x| *x == l.trim())
                .ok_or_else(|| bad(format!("line {}: {l:?} is not one of {LABELS:?}", i + 1)))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let size = model.side() * model.side() * 3;
    if cells.len() != truth.len() * size {
        return Err(bad(format!(
            "{} labels but cells.rgb holds {} bytes, not {} cells of {size}",
            truth.len(),
            cells.len(),
            truth.len()
        )));
    }
    let mut confusion = [[0usize; 3]; 3];
    let mut probs = Vec::new();
    let batch = batch.max(1);
    let t0 = Instant::now();
    for (chunk, labels) in cells.chunks(batch * size).zip(truth.chunks(batch)) {
        model.classify(chunk, &mut probs)?;
        for (p, &t) in probs.iter().zip(labels) {
            confusion[t][index(argmax(*p))] += 1;
        }
    }
    let batched = t0.elapsed().as_secs_f64() * 1e3 / truth.len().max(1) as f64;
    let single_n = truth.len().min(200);
    let t0 = Instant::now();
    for cell in cells.chunks(size).take(single_n) {
        model.classify(cell, &mut probs)?;
    }
    let single = t0.elapsed().as_secs_f64() * 1e3 / single_n.max(1) as f64;
    Ok(EvalReport {
        model: model.manifest().name.clone(),
        scores: CellScores::from_confusion(confusion),
        batch,
        ms_per_cell_batched: batched,
        ms_per_cell_single: single,
    })
}
