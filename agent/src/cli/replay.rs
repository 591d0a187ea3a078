//! `aisle replay`: the agent's pipeline on a recording or on MOT-format boxes, its events on
//! stdout — zones and rules tuned on yesterday's video before they reach a store.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use aisle::config::Config;
use aisle::replay::{self, MotFrames, ReplayInput};

use super::agent::{detector_options, load_detector, person_model, stop_on_signals};
use super::options::{frame_size, read_mot};
use super::progress::Progress;

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
    #[arg(long, short)]
    config: PathBuf,
    /// The recording; replaces the camera's source.
    #[arg(long, required_unless_present_any = ["detections", "tracks"])]
    input: Option<PathBuf>,
    /// MOT-format detections (frame,id,left,top,width,height,conf): tracker, zones and
    /// rules run on them instead of the detector's output.
    #[arg(long, conflicts_with_all = ["input", "tracks"])]
    detections: Option<PathBuf>,
    /// MOT-format tracks, e.g. ground truth: zones and rules run on them, no tracker.
    #[arg(long, conflicts_with_all = ["input", "detections"])]
    tracks: Option<PathBuf>,
    /// Frame rate of MOT input.
    #[arg(long, required_unless_present = "input")]
    fps: Option<f64>,
    /// Frame size of MOT input, WIDTHxHEIGHT in pixels (zones are resolved against it).
    #[arg(long, value_parser = frame_size, required_unless_present = "input")]
    size: Option<(u32, u32)>,
    /// Also write the confirmed tracks, frame by frame, to this file in MOT format (local
    /// evaluation only: tracks are never published). Not with --tracks, which skips the tracker.
    #[arg(long, conflicts_with = "tracks")]
    emit_tracks: Option<PathBuf>,
    /// Which camera's zones and rules to use (default: the first enabled one).
    #[arg(long)]
    camera: Option<String>,
    /// Pace frames to their timestamps instead of running as fast as possible.
    #[arg(long)]
    realtime: bool,
    /// Also write the recording with what the agent sees drawn on every frame (zones with live
    /// counts, boxes, track ids, alert banners as they raise and clear) to this video: .webm or
    /// .mkv (VP8), .mp4 or .avi (MPEG-4). Local only, never published.
    #[arg(long, conflicts_with_all = ["detections", "tracks"])]
    annotate: Option<PathBuf>,
}

impl ReplayArgs {
    pub fn execute(self) -> Result<()> {
        let cfg = Config::load(&self.config)?;
        let stop = stop_on_signals()?;
        let mut tracks_file = self
            .emit_tracks
            .as_ref()
            .map(|p| {
                std::fs::File::create(p)
                    .map(std::io::BufWriter::new)
                    .with_context(|| format!("cannot create {}", p.display()))
            })
            .transpose()?;
        let tracks_out = tracks_file.as_mut().map(|f| f as &mut dyn std::io::Write);
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        let camera = self.camera.as_deref();
        let report = if let Some(path) = &self.input {
            let model = person_model(&cfg)?;
            let mut detector = load_detector(&model, &detector_options(&cfg))?;
            let mut bar = Progress::new("replay");
            let mut tick = |frames, pts_ms| bar.frame(frames, pts_ms, None);
            let input = ReplayInput::Video {
                path,
                detector: &mut detector,
                realtime: self.realtime,
                annotate: self.annotate.as_deref(),
                progress: Some(&mut tick),
            };
            replay::replay(&cfg, camera, input, &stop, &mut out, tracks_out)?
        } else {
            let (fps, (width, height)) = self
                .fps
                .zip(self.size)
                .context("MOT input needs --fps and --size")?;
            let (path, tracked) = match (&self.detections, &self.tracks) {
                (Some(path), _) => (path, false),
                (None, Some(path)) => (path, true),
                (None, None) => anyhow::bail!("give --input, --detections or --tracks"),
            };
            let frames = MotFrames {
                rows: read_mot(path)?,
                fps,
                width,
                height,
            };
            let input = if tracked {
                ReplayInput::Tracks(frames)
            } else {
                ReplayInput::Detections(frames)
            };
            replay::replay(&cfg, camera, input, &stop, &mut out, tracks_out)?
        };
        eprintln!("frames={} events={}", report.frames, report.events);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::Command;
    use crate::cli::tests::parse;

    fn replay(args: &[&str]) -> Result<super::ReplayArgs, clap::Error> {
        match parse(&[&["replay", "-c", "a.toml"], args].concat())?.command {
            Command::Replay(r) => Ok(r),
            _ => panic!("not replay"),
        }
    }

    #[test]
    fn one_input_and_mot_needs_its_timing() {
        assert!(replay(&["--input", "v.mp4"]).is_ok());
        assert!(replay(&["--input", "v.mp4", "--annotate", "out.webm"]).is_ok());
        let mot = ["--detections", "d.txt", "--fps", "25", "--size", "640x480"];
        assert!(replay(&[&mot[..], &["--annotate", "out.webm"]].concat()).is_err());
        assert!(replay(&["--detections", "d.txt", "--fps", "25", "--size", "640x480"]).is_ok());
        assert!(replay(&["--tracks", "t.txt", "--fps", "25", "--size", "640x480"]).is_ok());
        assert!(replay(&[]).is_err());
        assert!(replay(&["--detections", "d.txt"]).is_err());
        assert!(replay(&["--input", "v.mp4", "--tracks", "t.txt"]).is_err());
        assert!(
            replay(&[
                "--tracks",
                "t",
                "--fps",
                "25",
                "--size",
                "1x1",
                "--emit-tracks",
                "o"
            ])
            .is_err()
        );
        assert!(replay(&["--detections", "d", "--fps", "25", "--size", "0x1"]).is_err());
    }
}
