//! `aisle eval detect`: person detections scored frame by frame against MOT ground truth, from
//! a model run here or from another detector's MOT output.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use aisle::analytics::mot;
use aisle::detect::Detection;
use aisle::eval::detection;
use aisle::pipeline::{self, CameraInput};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};

use super::agent::{load_detector, stop_on_signals};
use super::options::{DetectorArgs, read_mot, unit_score};
use super::progress::Progress;

/// Scores below this still reach `aisle eval detect`, so its precision-recall curve covers the
/// thresholds anyone would choose.
const CURVE_FLOOR: f32 = 0.05;

#[derive(Args, Debug)]
pub struct EvalDetectArgs {
    /// A folder of frames (000001.jpg, …) or a video.
    #[arg(long, required_unless_present = "detections")]
    images: Option<String>,
    /// Score these MOT-format detections (frame,id,left,top,width,height,score) instead of
    /// running a model: another detector's output, or a cross-check with other tools.
    #[arg(long, conflicts_with_all = ["images", "model"])]
    detections: Option<PathBuf>,
    /// Ground truth, MOT format (frame,id,left,top,width,height,conf; 1-based frames).
    #[arg(long)]
    gt: PathBuf,
    /// Operating score threshold (default: the manifest's; 0.5 for --detections).
    #[arg(long, value_parser = unit_score)]
    score: Option<f32>,
    /// Write the precision-recall curve here as SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    detector: DetectorArgs,
}

/// Detections per 1-based frame, with what produced them and the time per frame.
struct Detected {
    frames: Vec<(u64, Vec<Detection>)>,
    ms: Vec<f64>,
    operating: f32,
    describe: serde_json::Value,
    title: String,
}

impl EvalDetectArgs {
    pub fn execute(self) -> Result<()> {
        let rows = read_mot(&self.gt)?;
        let mut d = match (&self.detections, &self.images) {
            (Some(path), _) => from_file(path, self.score)?,
            (None, Some(images)) => run_model(images, &self.detector, self.score)?,
            (None, None) => anyhow::bail!("give --images or --detections"),
        };
        let last = rows
            .iter()
            .map(|r| r.frame)
            .chain(d.frames.iter().map(|f| f.0))
            .max()
            .unwrap_or(0);
        let mut frames: Vec<detection::Frame> = detection::truth_by_frame(&rows, last)
            .into_iter()
            .map(|truth| detection::Frame {
                truth,
                detections: Vec::new(),
            })
            .collect();
        for (frame, dets) in d.frames {
            if let Some(f) = usize::try_from(frame)
                .ok()
                .and_then(|i| frames.get_mut(i.checked_sub(1)?))
            {
                f.detections = dets;
            }
        }
        let scores = detection::score(&frames, d.operating);
        d.ms.sort_by(f64::total_cmp);
        let mean_ms = d.ms.iter().fold(0.0, |a, b| a + b) / d.ms.len().max(1) as f64;
        let p50_ms = d.ms.get(d.ms.len() / 2).copied().unwrap_or(0.0);
        let mut report = d.describe;
        report["frames_timed"] = d.ms.len().into();
        report["ms_per_frame_mean"] = mean_ms.into();
        report["ms_per_frame_p50"] = p50_ms.into();
        report["scores"] = serde_json::to_value(&scores)?;
        out!("{report}")?;
        let o = scores.operating;
        eprintln!(
            "AP50 {:.3}, AP[.5:.95] {:.3}; at {:.2}: precision {:.3}, recall {:.3}, F1 {:.3}, count MAE {:.2}; best F1 {:.3} at {:.2}; {} frames, {} people{}",
            scores.ap50,
            scores.ap50_95,
            o.score,
            o.precision,
            o.recall,
            o.f1,
            o.count_mae,
            scores.best_f1.f1,
            scores.best_f1.score,
            scores.frames,
            scores.truth,
            if d.ms.is_empty() {
                String::new()
            } else {
                format!("; {mean_ms:.1} ms/frame")
            }
        );
        if let Some(path) = &self.plot {
            std::fs::write(path, detection::pr_svg(&scores, &d.title))
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

fn from_file(path: &Path, score: Option<f32>) -> Result<Detected> {
    let found = read_mot(path)?;
    Ok(Detected {
        frames: mot::frames(&found)
            .map(|(f, rows)| (f, rows.iter().map(mot::MotRow::detection).collect()))
            .collect(),
        ms: Vec::new(),
        operating: score.unwrap_or(aisle::detect::CONFIDENT_SCORE),
        describe: serde_json::json!({ "detections": path }),
        title: format!("{}", path.display()),
    })
}

fn run_model(images: &str, args: &DetectorArgs, score: Option<f32>) -> Result<Detected> {
    let stop = stop_on_signals()?;
    let spec = SourceSpec::parse(images)?;
    let first = match &spec {
        SourceSpec::Images { first, .. } => u64::from(*first),
        _ => 1,
    };
    let model = args.manifest()?;
    let mut detector = load_detector(&model, &args.options(CURVE_FLOOR))?;
    let manifest = detector.manifest().clone();
    let person = manifest.output.labels.iter().position(|l| l == "person");
    let tiling = args.tiling();
    let input = CameraInput {
        settings: CameraSettings::ad_hoc(images, spec.is_live()),
        spec,
        gst: GstOptions::default(),
        tiling,
    };
    let (mut frames, mut ms) = (Vec::new(), Vec::new());
    let mut bar = Progress::new("eval detect");
    pipeline::run_frames(&input, &mut detector, 2, &stop, |p| {
        bar.frame(p.frame.index + 1, p.frame.pts_ms, None);
        let people = p
            .detections
            .iter()
            .copied()
            .filter(|d| person.is_none_or(|c| usize::from(d.class) == c))
            .collect();
        frames.push((first + p.frame.index, people));
        ms.push(p.inference.as_secs_f64() * 1e3);
        ControlFlow::Continue(())
    })?;
    Ok(Detected {
        frames,
        ms,
        operating: score.unwrap_or(manifest.output.score_threshold),
        describe: serde_json::json!({
            "model": manifest.name,
            "manifest": model,
            "resize": manifest.input.resize,
            "input": [manifest.input.width, manifest.input.height],
            "tiles": tiling.grid,
            "threads": args.threads(),
        }),
        title: format!(
            "{} ({:?}, tiles {}) on {images}",
            manifest.name, manifest.input.resize, tiling.grid
        ),
    })
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn a_model_or_a_file_of_detections_not_both() {
        let gt = ["--gt", "gt.txt"];
        assert!(parse(&[&["eval", "detect", "--images", "img1"][..], &gt].concat()).is_ok());
        assert!(parse(&[&["eval", "detect", "--detections", "d.txt"][..], &gt].concat()).is_ok());
        assert!(parse(&[&["eval", "detect"][..], &gt].concat()).is_err());
        assert!(parse(&["eval", "detect", "--images", "img1"]).is_err());
        let both = [
            "eval",
            "detect",
            "--detections",
            "d",
            "--model",
            "m.toml",
            "--gt",
            "g",
        ];
        assert!(parse(&both).is_err());
    }
}
