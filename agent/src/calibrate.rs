//! `aisle shelf calibrate`: the stocked reference of each camera's shelf zones, taken at install
//! time from the first frame in which no person stands in front of a shelf, and stored on the
//! box. The report says how the classifier reads each cell in that frame, so the installer sees
//! a shelf the model would call empty before the store relies on it.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Serialize;
use thiserror::Error;

use crate::analytics::zones::{CellState, ZoneKind, cell_name};
use crate::config::Config;
use crate::detect::{Detection, Detector};
use crate::pipeline::{self, PipelineError};
use crate::shelf::classifier::{ShelfModel, ShelfModelError};
use crate::shelf::reference::ReferenceError;
use crate::shelf::watch::{self, Face, ReadShelf, ShelfError};
use crate::snapshot::{
    self,
    draw::{Scene, ZoneShape},
};

#[derive(Debug, Error)]
pub enum CalibrateError {
    #[error("no enabled camera {0:?} has shelf zones")]
    NoShelves(String),
    #[error("no enabled camera has shelf zones")]
    NoCameras,
    #[error(transparent)]
    Source(#[from] crate::source::SpecError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Shelf(#[from] ShelfError),
    #[error(
        "camera {camera:?}: a person stood in front of a shelf in all of the first {frames} frames (in the last: {boxes}); calibrate when the shelves are in clear view, or raise shelf.occluder_score if that is no person"
    )]
    Occluded {
        camera: String,
        frames: u64,
        /// The boxes taken for people in the last frame, with score and pixel corners, so an
        /// installer can tell a shopper from a shelf the detector mistakes for one.
        boxes: String,
    },
    #[error("camera {0:?} sent no frame")]
    NoFrame(String),
    #[error("cannot write {}: {message}", path.display())]
    Picture { path: PathBuf, message: String },
}

impl From<ReferenceError> for CalibrateError {
    fn from(e: ReferenceError) -> Self {
        Self::Shelf(e.into())
    }
}

impl From<ShelfModelError> for CalibrateError {
    fn from(e: ShelfModelError) -> Self {
        Self::Shelf(e.into())
    }
}

#[derive(Debug, Serialize)]
pub struct CameraReport {
    pub camera: String,
    pub path: PathBuf,
    /// Index of the frame the reference was taken from.
    pub frame: u64,
    /// That frame with each shelf face's cells coloured by the classifier's reading (as `aisle
    /// snapshot` draws them), beside the reference: what was stored, for the installer to look
    /// at. Kept on the box.
    pub picture: PathBuf,
    pub zones: Vec<ZoneReport>,
}

/// How the classifier reads the zone in the reference frame.
#[derive(Debug, Serialize)]
pub struct ZoneReport {
    pub zone: String,
    pub cells: usize,
    pub stocked: usize,
    pub low: usize,
    pub empty: Vec<String>,
}

/// Takes and stores the reference of `camera` (default: every enabled camera with shelf zones),
/// waiting at most `max_frames` frames per camera for one with no person in front of a shelf.
pub fn calibrate(
    cfg: &Config,
    camera: Option<&str>,
    detector: &mut Detector,
    model: &mut ShelfModel,
    max_frames: u64,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<CameraReport>, CalibrateError> {
    let inputs = cfg.camera_inputs()?;
    let mut reports = Vec::new();
    for (input, section) in inputs.iter().zip(cfg.cameras.iter().filter(|c| c.enabled)) {
        let has_shelves = section.zones.iter().any(|z| z.kind() == ZoneKind::Shelf);
        if !has_shelves || camera.is_some_and(|c| c != section.id) {
            continue;
        }
        let id = section.id.as_str();
        let (occlusion, least) = (cfg.shelf.occlusion, cfg.shelf.occluder_score);
        let (mut taken, mut seen, mut failed) = (None, 0u64, None);
        let mut in_front = Vec::new();
        pipeline::run_frames(input, detector, 2, stop, |p| {
            seen += 1;
            progress(seen, p.frame.pts_ms);
            let view = p.frame.view();
            let (w, h) = view.source;
            in_front.clear();
            for z in section.zones.iter().filter(|z| z.kind() == ZoneKind::Shelf) {
                match watch::zone_cells(id, z, w, h) {
                    Ok(cells) => in_front.extend(p.detections.iter().filter(|d| {
                        d.score >= least
                            && cells
                                .iter()
                                .any(|c| watch::occluded(c, std::slice::from_ref(d), occlusion))
                    })),
                    Err(e) => {
                        failed = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            if in_front.is_empty() {
                match watch::reference(id, &section.zones, &view) {
                    Ok(snap) => {
                        let read = read_cells(&view, section, model);
                        let picture = snapshot::to_image(&view, view.source);
                        taken = Some((p.frame.index, snap, read, picture));
                    }
                    Err(e) => failed = Some(e),
                }
                return ControlFlow::Break(());
            }
            if seen >= max_frames {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        let Some((frame, snap, readings, mut picture)) = taken else {
            return Err(if seen == 0 {
                CalibrateError::NoFrame(id.to_string())
            } else {
                CalibrateError::Occluded {
                    camera: id.to_string(),
                    frames: seen,
                    boxes: describe(&in_front),
                }
            });
        };
        let (zones, shapes) = readings?;
        let path = snap.save(&cfg.shelf.calibration_dir)?;
        let scene = Scene {
            zones: shapes,
            ..Scene::default()
        };
        snapshot::draw::draw(&mut picture, &scene);
        let picture_path = path.with_extension("png");
        image::DynamicImage::ImageRgba8(picture)
            .into_rgb8()
            .save_with_format(&picture_path, image::ImageFormat::Png)
            .map_err(|e| CalibrateError::Picture {
                path: picture_path.clone(),
                message: e.to_string(),
            })?;
        tracing::info!(camera = id, path = %path.display(), picture = %picture_path.display(), frame, "shelf reference stored");
        reports.push(CameraReport {
            camera: id.to_string(),
            path,
            frame,
            picture: picture_path,
            zones,
        });
    }
    if reports.is_empty() {
        return Err(match camera {
            Some(c) => CalibrateError::NoShelves(c.to_string()),
            None => CalibrateError::NoCameras,
        });
    }
    Ok(reports)
}

/// The classifier's reading of every cell, without the reference (which is this frame), and
/// each shelf face as drawn with its cells in their reading's colour.
fn read_cells(
    view: &crate::detect::preprocess::FrameView<'_>,
    section: &crate::config::CameraSection,
    model: &mut ShelfModel,
) -> Result<(Vec<ZoneReport>, Vec<ZoneShape>), ShelfError> {
    let (w, h) = view.source;
    let mut out = Vec::new();
    let mut shapes = Vec::new();
    for z in section.zones.iter().filter(|z| z.kind() == ZoneKind::Shelf) {
        let cells = watch::zone_cells(&section.id, z, w, h)?;
        let face = Face {
            corners: watch::corners(z, w, h),
            rows: z.split().0,
            bays: z.split().1,
            cells: &cells,
        };
        let mut probs = Vec::new();
        model.read(view, &face, &vec![true; cells.len()], &mut probs)?;
        let states: Vec<CellState> = probs
            .iter()
            .map(|p| crate::shelf::classifier::argmax(*p))
            .collect();
        let stocked = states.iter().filter(|s| **s == CellState::Stocked).count();
        shapes.push(ZoneShape {
            name: z.name.clone(),
            kind: ZoneKind::Shelf,
            polygon: face.corners.to_vec(),
            line: None,
            service_line: None,
            value: format!("reference, {stocked} of {} stocked", states.len()),
            cells: cells
                .iter()
                .copied()
                .zip(states.iter().map(|s| Some(*s)))
                .collect(),
        });
        out.push(ZoneReport {
            zone: z.name.clone(),
            cells: states.len(),
            stocked,
            low: states.iter().filter(|s| **s == CellState::Low).count(),
            empty: states
                .iter()
                .enumerate()
                .filter(|(_, s)| **s == CellState::Empty)
                .map(|(i, _)| cell_name(i, z.split().1))
                .collect(),
        });
    }
    Ok((out, shapes))
}

/// `person 0.62 at [120, 40, 180, 300] px; …`: what calibration took for people.
fn describe(people: &[Detection]) -> String {
    let mut seen: Vec<&Detection> = Vec::new();
    for p in people {
        if !seen.iter().any(|s| s.bbox == p.bbox) {
            seen.push(p);
        }
    }
    seen.iter()
        .map(|p| {
            let b = p.bbox;
            format!(
                "person {:.2} at [{:.0}, {:.0}, {:.0}, {:.0}] px",
                p.score, b.x0, b.y0, b.x1, b.y1
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;

    #[test]
    fn the_boxes_taken_for_people_are_named_once_with_score_and_corners() {
        let p = Detection {
            class: 0,
            score: 0.712,
            bbox: BBox::new(412.2, 96.0, 498.0, 401.6),
        };
        // One box in front of two zones is listed once.
        assert_eq!(describe(&[p, p]), "person 0.71 at [412, 96, 498, 402] px");
    }
}
