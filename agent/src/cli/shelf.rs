//! `aisle shelf`: the store's stocked reference, taken at install time, and the shelf
//! classifier's accuracy on labelled cells or real photos (docs/shelves.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use aisle::config::Config;
use aisle::install::{self, Bundled};
use aisle::shelf::{CellModel, ShelfModel};

use super::agent::{detector_options, load_detector, person_model, stop_on_signals};
use super::options::{levels_by_bays, thread_count};
use super::progress::Progress;

#[derive(Args, Debug)]
pub struct ShelfArgs {
    #[command(subcommand)]
    action: ShelfAction,
}

#[derive(Subcommand, Debug)]
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
        #[arg(long, requires = "photos", conflicts_with = "cells")]
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

impl ShelfArgs {
    pub fn execute(self) -> Result<()> {
        execute(self.action)
    }
}

fn execute(action: ShelfAction) -> Result<()> {
    match action {
        ShelfAction::Calibrate {
            config,
            camera,
            frames,
        } => {
            let cfg = Config::load(&config)?;
            let stop = stop_on_signals()?;
            let mut detector = load_detector(&person_model(&cfg)?, &detector_options(&cfg))?;
            let path = install::model(Bundled::Shelf, cfg.shelf.model.as_deref())?;
            let mut model = ShelfModel::load(
                &path,
                cfg.runtime.threads,
                cfg.runtime.ort_library.as_deref(),
            )
            .with_context(|| format!("loading shelf model {}", path.display()))?;
            let mut bar = Progress::new("waiting for a clear view of the shelves");
            let reports = aisle::calibrate::calibrate(
                &cfg,
                camera.as_deref(),
                &mut detector,
                &mut model,
                frames,
                &stop,
                &mut |seen, pts_ms| bar.frame(seen, pts_ms, Some(frames)),
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
            let path = install::model(Bundled::Shelf, model.as_deref())?;
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

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn eval_takes_cells_or_photos_and_a_bounded_grid() {
        assert!(parse(&["shelf", "eval", "--cells", "c"]).is_ok());
        assert!(parse(&["shelf", "eval", "--photos", "p", "--grid", "16x16"]).is_ok());
        assert!(parse(&["shelf", "eval"]).is_err());
        assert!(parse(&["shelf", "eval", "--photos", "p", "--grid", "0x4"]).is_err());
        assert!(parse(&["shelf", "eval", "--cells", "c", "--export", "o"]).is_err());
        assert!(parse(&["shelf", "eval", "--photos", "p", "--split", "some"]).is_err());
    }

    #[test]
    fn calibrate_needs_a_config() {
        assert!(parse(&["shelf", "calibrate", "-c", "a.toml", "--frames", "10"]).is_ok());
        assert!(parse(&["shelf", "calibrate"]).is_err());
    }
}
