//! `aisle snapshot`: a PNG of one camera as the agent sees it, to check zones against the
//! picture (docs/install.md).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use aisle::config::Config;
use aisle::snapshot::{self, Request};

use super::agent::{detector_options, load_detector, person_model, stop_on_signals};

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// The agent's config file (TOML), e.g. /etc/aisle/aisle.toml.
    #[arg(long, short)]
    config: PathBuf,
    /// Which camera (default: the first enabled one).
    #[arg(long)]
    camera: Option<String>,
    /// A recording or image to draw on instead of the camera's live source.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the PNG (default: snapshot-CAMERA.png here). It stays on this machine.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Frames to run first, so people are tracked and zones count (a still image has one).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    frames: u64,
}

impl SnapshotArgs {
    pub fn execute(self) -> Result<()> {
        let cfg = Config::load(&self.config)?;
        let stop = stop_on_signals()?;
        let model = person_model(&cfg)?;
        let mut detector = load_detector(&model, &detector_options(&cfg))?;
        let request = Request {
            camera: self.camera.as_deref(),
            input: self.input.as_deref(),
            frames: self.frames,
        };
        let shot = snapshot::take(&cfg, &request, &mut detector, &stop)?;
        let out = self
            .out
            .unwrap_or_else(|| PathBuf::from(format!("snapshot-{}.png", shot.camera)));
        shot.save_png(&out)?;
        if let Some(why) = &shot.shelves_off {
            eprintln!("aisle: shelf cells are not coloured: {why}");
        }
        let zones: Vec<String> = shot
            .scene
            .zones
            .iter()
            .map(|z| format!("{} ({})", z.name, z.value))
            .collect();
        out!(
            "{}: camera {} after {} frame(s), {}x{}; {} detection(s), {} track(s); zones: {}",
            out.display(),
            shot.camera,
            shot.frames,
            shot.image.width(),
            shot.image.height(),
            shot.scene.detections.len(),
            shot.scene.tracks.len(),
            if zones.is_empty() {
                "none".into()
            } else {
                zones.join(", ")
            }
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::tests::parse;

    #[test]
    fn needs_a_config_and_a_sane_frame_count() {
        assert!(parse(&["snapshot", "-c", "a.toml"]).is_ok());
        assert!(
            parse(&[
                "snapshot", "-c", "a.toml", "--input", "v.mp4", "--out", "s.png"
            ])
            .is_ok()
        );
        assert!(parse(&["snapshot"]).is_err());
        assert!(parse(&["snapshot", "-c", "a.toml", "--frames", "0"]).is_err());
    }
}
