//! `aisle detect`: the person detector on a video or camera, one JSON line per frame — the
//! quickest way for an installer to see that a camera and the model work.

use std::io::Write as _;
use std::ops::ControlFlow;

use anyhow::{Context, Result};
use clap::Args;

use aisle::pipeline::{self, CameraInput};
use aisle::source::{CameraSettings, GstOptions, SourceSpec};

use super::agent::{load_detector, stop_on_signals};
use super::options::{DetectorArgs, unit_score};

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// A video file or a source URI (file://, rtsp://, v4l2:///dev/videoN, test://, pipeline:…).
    source: String,
    /// Process every n-th frame.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    every: u64,
    /// Least score printed, on the common calibrated scale: by default 0.5, the boxes sure
    /// enough to count as people frame by frame. The agent's tracker gets weaker ones too,
    /// from the manifest's score_threshold up; `--score 0.35` shows what it gets.
    #[arg(long, value_parser = unit_score)]
    score: Option<f32>,
    #[command(flatten)]
    detector: DetectorArgs,
}

impl DetectArgs {
    pub fn execute(self) -> Result<()> {
        let stop = stop_on_signals()?;
        let spec = SourceSpec::parse(&self.source)?;
        let options = self
            .detector
            .options(self.score.unwrap_or(aisle::detect::CONFIDENT_SCORE));
        let mut detector = load_detector(&self.detector.manifest()?, &options)?;
        let input = CameraInput {
            settings: CameraSettings {
                every: self.every,
                ..CameraSettings::ad_hoc(&self.source, spec.is_live())
            },
            spec,
            gst: GstOptions::default(),
            tiling: self.detector.tiling(),
        };
        let labels = detector.manifest().output.labels.clone();
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut line = String::with_capacity(1024);
        let mut write_error = None;
        let report = pipeline::run_frames(&input, &mut detector, 2, &stop, |p| {
            aisle::output::detections_line(
                &mut line,
                p.frame.index,
                p.frame.pts_ms,
                p.detections,
                &labels,
            );
            match writeln!(out, "{line}") {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        if let Some(e) = write_error {
            return Err(e).context("cannot write to stdout");
        }
        let secs = report.elapsed.as_secs_f64();
        eprintln!(
            "frames={} seconds={secs:.2} fps={:.1}",
            report.frames,
            report.frames as f64 / secs.max(1e-9)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::Command;
    use crate::cli::tests::parse;

    fn detect(args: &[&str]) -> Result<super::DetectArgs, clap::Error> {
        match parse(&[&["detect"], args].concat())?.command {
            Command::Detect(d) => Ok(d),
            _ => panic!("not detect"),
        }
    }

    #[test]
    fn defaults_print_confident_boxes_on_every_frame() {
        let d = detect(&["video.mp4"]).expect("parses");
        assert_eq!((d.every, d.score, d.detector.lanes), (1, None, None));
        assert_eq!(d.detector.tiles.to_string(), "1x1");
        assert!(d.detector.threads() >= 1);
    }

    #[test]
    fn bad_values_are_refused_by_name() {
        for bad in [
            &["v.mp4", "--every", "0"][..],
            &["v.mp4", "--score", "2"],
            &["v.mp4", "--threads", "65"],
            &["v.mp4", "--lanes", "0"],
            &["v.mp4", "--tile-overlap", "0.9"],
            &[],
        ] {
            assert!(detect(bad).is_err(), "{bad:?}");
        }
    }
}
