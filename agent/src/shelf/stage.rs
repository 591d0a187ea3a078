//! The shelves of every camera and the classifier they share, as `run` and `replay` drive them
//! from the pipeline's sink: a frame in, readings into that camera's analytics.

use super::model::ShelfModel;
use super::watch::{CameraShelves, ShelfError};
use crate::analytics::camera::CameraAnalytics;
use crate::analytics::zones::ZoneKind;
use crate::config::Config;
use crate::detect::Detection;
use crate::detect::preprocess::FrameView;
use crate::install::{self, Bundled};

pub struct Shelves {
    /// Per enabled camera, in the config's order.
    cameras: Vec<Option<CameraShelves>>,
    /// Loaded only when some camera has shelf zones.
    model: Option<ShelfModel>,
}

impl Shelves {
    /// No shelves: what a run continues with when they cannot be set up.
    pub fn none() -> Self {
        Self {
            cameras: Vec::new(),
            model: None,
        }
    }

    /// Every enabled camera's shelves with their stored references, and the classifier. Call on
    /// a validated config.
    pub fn from_config(cfg: &Config) -> Result<Self, ShelfError> {
        let enabled: Vec<_> = cfg.cameras.iter().filter(|c| c.enabled).collect();
        if !enabled
            .iter()
            .any(|c| c.zones.iter().any(|z| z.kind == ZoneKind::Shelf))
        {
            return Ok(Self::none());
        }
        let path = install::model(Bundled::Shelf, cfg.shelf.model.as_deref())?;
        // One thread: a sample is a few milliseconds every `interval_s`, not worth a second
        // ONNX Runtime thread pool beside the detector's.
        let model = ShelfModel::load(&path, 1, cfg.runtime.ort_library.as_deref())?;
        let settings = cfg.shelf.watch_settings();
        let cameras = enabled
            .iter()
            .map(|c| CameraShelves::new(&c.id, &c.zones, &cfg.shelf.calibration_dir, settings))
            .collect::<Result<_, _>>()?;
        let (name, version) = model.describe();
        tracing::info!(model = name, version, "shelf watch on");
        Ok(Self {
            cameras,
            model: Some(model),
        })
    }

    /// Camera `camera`'s frame at `t_ms`: samples its shelves when due, into its analytics.
    pub fn on_frame(
        &mut self,
        camera: usize,
        t_ms: u64,
        frame: &FrameView<'_>,
        people: &[Detection],
        analytics: &mut CameraAnalytics,
    ) -> Result<(), ShelfError> {
        let (Some(Some(shelves)), Some(model)) =
            (self.cameras.get_mut(camera), self.model.as_mut())
        else {
            return Ok(());
        };
        let (w, h) = frame.source;
        let mut failed = None;
        shelves.on_frame(t_ms, frame, people, model, |zone, readings| {
            if let Err(e) = analytics.on_shelf(w, h, zone, readings) {
                failed.get_or_insert(e);
            }
        })?;
        match failed {
            Some(why) => Err(ShelfError::Analytics(why)),
            None => Ok(()),
        }
    }

    /// Stops watching one camera's shelves (its reference does not fit its frames).
    pub fn disable(&mut self, camera: usize) {
        if let Some(slot) = self.cameras.get_mut(camera) {
            *slot = None;
        }
    }
}
