//! The shelves of every camera and the classifier they share, as `run` and `replay` drive them
//! from the pipeline's sink: a frame in, readings into that camera's analytics.

use std::path::Path;

use super::ShelfConfig;
use super::classifier::ShelfModel;
use super::watch::{CameraShelves, ShelfError};
use crate::analytics::camera::CameraAnalytics;
use crate::analytics::zones::{ZoneConfig, ZoneKind};
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

    /// The shelves of `cameras` (each enabled camera's id and zones, in the config's order)
    /// with their stored references, and the classifier. Call with a validated config's parts.
    pub fn new(
        cameras: &[(&str, &[ZoneConfig])],
        settings: &ShelfConfig,
        ort_library: Option<&Path>,
    ) -> Result<Self, ShelfError> {
        if !cameras
            .iter()
            .any(|(_, zones)| zones.iter().any(|z| z.kind() == ZoneKind::Shelf))
        {
            return Ok(Self::none());
        }
        let path = install::model(Bundled::Shelf, settings.model.as_deref())?;
        // One thread: a sample is a few milliseconds every `interval_s`, not worth a second
        // ONNX Runtime thread pool beside the detector's.
        let model = ShelfModel::load(&path, 1, ort_library)?;
        let watch = settings.watch_settings();
        let cameras = cameras
            .iter()
            .map(|(id, zones)| CameraShelves::new(id, zones, &settings.calibration_dir, watch))
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
