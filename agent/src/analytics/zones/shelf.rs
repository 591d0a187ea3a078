//! A shelf face's cells as the shelf watch last read them (`crate::shelf`): the fill ratio and
//! which cells are empty or low.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ZoneMetrics;
use crate::analytics::metric::Metric;

/// A shelf cell's name from its row-by-row index: `r{level}b{bay}`, from 1 at the top left, as
/// store staff count them.
pub fn cell_name(index: usize, bays: u32) -> String {
    let bays = bays.max(1) as usize;
    format!("r{}b{}", index / bays + 1, index % bays + 1)
}

/// What the shelf classifier, with the store's reference, says about one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CellState {
    Stocked,
    Low,
    Empty,
}

impl CellState {
    /// The cell's share in the fill ratio.
    pub fn fill(self) -> f64 {
        match self {
            CellState::Stocked => 1.0,
            CellState::Low => 0.5,
            CellState::Empty => 0.0,
        }
    }
}

/// A shelf zone's cells as last read; an occluded cell keeps its previous reading.
#[derive(Debug, Clone)]
pub(super) struct ShelfState {
    bays: u32,
    cells: Vec<Option<CellState>>,
    fill_min: Option<f64>,
    samples: u64,
    occluded: u64,
}

impl ShelfState {
    fn fill(&self) -> Option<f64> {
        let read: Vec<f64> = self.cells.iter().flatten().map(|c| c.fill()).collect();
        (!read.is_empty()).then(|| read.iter().sum::<f64>() / read.len() as f64)
    }

    fn count(&self, state: CellState) -> usize {
        self.cells.iter().filter(|c| **c == Some(state)).count()
    }

    fn names(&self, state: CellState) -> Vec<String> {
        (0..self.cells.len())
            .filter(|&i| self.cells[i] == Some(state))
            .map(|i| cell_name(i, self.bays))
            .collect()
    }

    pub fn new(rows: u32, bays: u32) -> Self {
        Self {
            bays,
            cells: vec![None; (rows * bays) as usize],
            fill_min: None,
            samples: 0,
            occluded: 0,
        }
    }

    pub fn cells(&self) -> &[Option<CellState>] {
        &self.cells
    }

    /// One sample, row by row; `None` for a cell a person hid. Ignored when the count of cells
    /// does not match.
    pub fn observe(&mut self, readings: &[Option<CellState>]) {
        if readings.len() != self.cells.len() {
            return;
        }
        for (cell, r) in self.cells.iter_mut().zip(readings) {
            match r {
                Some(state) => *cell = Some(*state),
                None => self.occluded += 1,
            }
        }
        self.samples += 1;
        if let Some(f) = self.fill() {
            self.fill_min = Some(self.fill_min.map_or(f, |m| m.min(f)));
        }
    }

    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Fill => self.fill(),
            Metric::Empty => Some(self.count(CellState::Empty) as f64),
            Metric::Low => Some(self.count(CellState::Low) as f64),
            _ => None,
        }
    }

    pub fn metrics(&self) -> ZoneMetrics {
        ZoneMetrics::Shelf {
            fill: self.fill(),
            fill_min: self.fill_min,
            empty_cells: self.names(CellState::Empty),
            low_cells: self.names(CellState::Low),
            samples: self.samples,
            occluded: self.occluded,
        }
    }

    pub fn roll(&mut self) {
        self.fill_min = self.fill();
        self.samples = 0;
        self.occluded = 0;
    }
}
