//! The `[shelf]` section: how shelf zones are watched (docs/shelves.md), validated here beside
//! the code that uses it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Empty-shelf detection on the cameras' `shelf` zones.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShelfConfig {
    /// Shelf-cell classifier manifest; the bundled model (`models/shelf/`) when absent.
    pub model: Option<PathBuf>,
    /// Seconds between two samples of a camera's shelves: shelves empty slowly.
    #[serde(default = "default_shelf_interval")]
    pub interval_s: f64,
    /// Where `aisle shelf calibrate` keeps each camera's stocked reference (on the box only).
    #[serde(default = "default_calibration_dir")]
    pub calibration_dir: PathBuf,
    /// Share of a cell a person's box may cover before the cell is skipped for that sample.
    #[serde(default = "default_occlusion")]
    pub occlusion: f32,
    /// Change from the stocked reference (0 same, about 1 unrelated) below which a cell counts as
    /// stocked whatever the classifier says.
    #[serde(default = "default_same_as_reference")]
    pub same_as_reference: f32,
    /// Seconds a person's box may stay in the same place before it stops hiding shelf cells: a
    /// false detection on an empty shelf would otherwise hide it for as long as it stays empty.
    #[serde(default = "default_still_occluder")]
    pub still_occluder_s: f64,
    /// Least score (calibrated scale) of a person's box that hides shelf cells: a weak box is as
    /// often a shelf or a poster as a person, and would keep an empty cell from being read.
    #[serde(default = "default_occluder_score")]
    pub occluder_score: f32,
}

impl Default for ShelfConfig {
    fn default() -> Self {
        Self {
            model: None,
            interval_s: default_shelf_interval(),
            calibration_dir: default_calibration_dir(),
            occlusion: default_occlusion(),
            same_as_reference: default_same_as_reference(),
            still_occluder_s: default_still_occluder(),
            occluder_score: default_occluder_score(),
        }
    }
}

fn default_shelf_interval() -> f64 {
    30.0
}

fn default_calibration_dir() -> PathBuf {
    "/var/lib/aisle/shelf".into()
}

fn default_occlusion() -> f32 {
    0.05
}

fn default_occluder_score() -> f32 {
    crate::detect::CONFIDENT_SCORE
}

fn default_still_occluder() -> f64 {
    120.0
}

fn default_same_as_reference() -> f32 {
    0.35
}

impl ShelfConfig {
    pub fn watch_settings(&self) -> super::WatchSettings {
        super::WatchSettings {
            interval_ms: (self.interval_s * 1000.0) as u64,
            occlusion: self.occlusion,
            same_as_reference: self.same_as_reference,
            still_occluder_ms: (self.still_occluder_s * 1000.0) as u64,
            occluder_score: self.occluder_score,
        }
    }
}

impl ShelfConfig {
    /// Every problem of the section, with its `shelf.` field path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(model) = &self.model
            && !model.is_file()
        {
            p.push(Problem::new(
                "shelf.model",
                format!("manifest {} does not exist", model.display()),
            ));
        }
        if !(self.interval_s >= 1.0 && self.interval_s <= 3600.0) {
            p.push(Problem::new(
                "shelf.interval_s",
                format!("{} is outside 1..=3600", self.interval_s),
            ));
        }
        if !(self.still_occluder_s >= self.interval_s && self.still_occluder_s <= 86_400.0) {
            p.push(Problem::new(
                "shelf.still_occluder_s",
                format!(
                    "{} is outside shelf.interval_s..=86400 (a box is judged still between two samples)",
                    self.still_occluder_s
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.occluder_score) {
            p.push(Problem::new(
                "shelf.occluder_score",
                format!("{} is outside 0..=1", self.occluder_score),
            ));
        }
        if !(0.0..=1.0).contains(&self.occlusion) {
            p.push(Problem::new(
                "shelf.occlusion",
                format!("{} is outside 0..=1", self.occlusion),
            ));
        }
        if !(0.0..=2.0).contains(&self.same_as_reference) {
            p.push(Problem::new(
                "shelf.same_as_reference",
                format!("{} is outside 0..=2", self.same_as_reference),
            ));
        }
        p
    }
}
