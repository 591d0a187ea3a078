//! One camera's shelves: when to sample, which cells a person hides, and what each visible cell
//! is, from the classifier and the store's reference. The readings go to the camera's analytics
//! (`CameraAnalytics::on_shelf`), where the fill ratio, the summaries and the alert rules are.

use std::path::PathBuf;

use thiserror::Error;

pub use super::read::{Face, ReadShelf};
use super::read::{ShelfModelError, argmax};
use super::reference::{REF_SIDE, ReferenceError, Snapshot, ZoneReference, change};
use super::warp::{self, Homography, Quad};
use crate::analytics::zones::{CellState, ZoneConfig, ZoneKind};
use crate::detect::preprocess::FrameView;
use crate::detect::{BBox, Detection};

#[derive(Debug, Error)]
pub enum ShelfError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Model(#[from] ShelfModelError),
    #[error(transparent)]
    NoModel(#[from] crate::install::NotFound),
    #[error("{0}")]
    Analytics(String),
    #[error("camera {camera:?}: shelf zone {zone:?} {why}")]
    Zone {
        camera: String,
        zone: String,
        why: String,
    },
}

/// How shelves are watched (the config's `[shelf]` section).
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    pub interval_ms: u64,
    /// Share of a cell's bounds a person's box may cover before the cell is skipped.
    pub occlusion: f32,
    /// Change from the reference below which a cell counts as stocked.
    pub same_as_reference: f32,
    /// How long a person's box may stay put before it stops hiding cells: shoppers move on, a
    /// false detection on an empty shelf does not, and it must not hide the gap for ever.
    pub still_occluder_ms: u64,
    /// Least score of a box that hides cells.
    pub occluder_score: f32,
}

/// Overlap with its place at the previous sample above which a box has not moved.
const STILL_IOU: f32 = 0.7;

/// Boxes in front of the shelves at the last sample, each with the time it first stood there.
#[derive(Debug, Default)]
struct StillBoxes {
    seen: Vec<(BBox, u64)>,
    next: Vec<(BBox, u64)>,
}

impl StillBoxes {
    /// Keeps in `out` the people who hide cells at `t_ms`: every confident box except one that
    /// has stood in the same place for `still_occluder_ms` or longer.
    fn occluders(
        &mut self,
        t_ms: u64,
        people: &[Detection],
        settings: &WatchSettings,
        out: &mut Vec<Detection>,
    ) {
        out.clear();
        self.next.clear();
        for p in people.iter().filter(|p| p.score >= settings.occluder_score) {
            let since = self
                .seen
                .iter()
                .filter(|(b, _)| b.iou(&p.bbox) >= STILL_IOU)
                .map(|&(_, since)| since)
                .min()
                .unwrap_or(t_ms);
            self.next.push((p.bbox, since));
            if t_ms.saturating_sub(since) < settings.still_occluder_ms {
                out.push(*p);
            } else {
                tracing::debug!(box = ?p.bbox, still_s = t_ms.saturating_sub(since) / 1000, "a box that has not moved no longer hides shelf cells");
            }
        }
        std::mem::swap(&mut self.seen, &mut self.next);
    }
}

/// A cell's state from the classifier's probabilities and, when calibrated, its change from the
/// stocked reference: a cell that still looks like its reference is stocked.
pub fn verdict(probs: [f32; 3], change: Option<f32>, same_as_reference: f32) -> CellState {
    match (argmax(probs), change) {
        (CellState::Stocked, _) => CellState::Stocked,
        (_, Some(c)) if c < same_as_reference => CellState::Stocked,
        (state, _) => state,
    }
}

/// Whether people's boxes hide more than `limit` of a cell's bounds.
pub fn occluded(cell: &Quad, people: &[Detection], limit: f32) -> bool {
    let (l, t, r, b) = warp::bounds(cell);
    let bounds = BBox::new(l, t, r, b);
    let area = bounds.area().max(1.0);
    people
        .iter()
        .any(|p| bounds.intersection(&p.bbox) / area > limit)
}

/// A shelf zone resolved to a camera's pixels, with its reference.
struct Resolved {
    zone: String,
    corners: Quad,
    rows: u32,
    bays: u32,
    cells: Vec<Quad>,
    reference: Vec<Vec<u8>>,
}

impl Resolved {
    fn face(&self) -> Face<'_> {
        Face {
            corners: self.corners,
            rows: self.rows,
            bays: self.bays,
            cells: &self.cells,
        }
    }
}

/// One camera's shelf zones and their schedule.
pub struct CameraShelves {
    camera: String,
    zones: Vec<ZoneConfig>,
    snapshot: Snapshot,
    source: PathBuf,
    settings: WatchSettings,
    resolved: Option<Vec<Resolved>>,
    next_ms: Option<u64>,
    visible: Vec<bool>,
    reference_patch: Vec<u8>,
    probs: Vec<[f32; 3]>,
    readings: Vec<Option<CellState>>,
    still: StillBoxes,
    in_front: Vec<Detection>,
}

/// A zone's corners in camera pixels.
pub fn corners(z: &ZoneConfig, width: u32, height: u32) -> Quad {
    let (sx, sy) = z.scale(width, height);
    let mut q = [(0.0, 0.0); 4];
    for (c, p) in q.iter_mut().zip(z.polygon()) {
        *c = (p[0] * sx, p[1] * sy);
    }
    q
}

/// A shelf zone's cells in camera pixels, checked against the frame.
pub fn zone_cells(
    camera: &str,
    z: &ZoneConfig,
    width: u32,
    height: u32,
) -> Result<Vec<Quad>, ShelfError> {
    let bad = |why: String| ShelfError::Zone {
        camera: camera.to_string(),
        zone: z.name.clone(),
        why,
    };
    let q = corners(z, width, height);
    if q.iter()
        .any(|&(x, y)| x < 0.0 || y < 0.0 || x > width as f32 || y > height as f32)
    {
        return Err(bad(format!("lies outside the {width}x{height} frame")));
    }
    let face =
        Homography::unit_square_to(&q).ok_or_else(|| bad("has three corners on a line".into()))?;
    Ok(warp::cells(&face, z.split().0, z.split().1))
}

impl CameraShelves {
    /// The camera's shelf zones with their reference; `None` when it has no shelf zone.
    pub fn new(
        camera: &str,
        zones: &[ZoneConfig],
        calibration_dir: &std::path::Path,
        settings: WatchSettings,
    ) -> Result<Option<Self>, ShelfError> {
        let zones: Vec<ZoneConfig> = zones
            .iter()
            .filter(|z| z.kind() == ZoneKind::Shelf)
            .cloned()
            .collect();
        if zones.is_empty() {
            return Ok(None);
        }
        let snapshot = Snapshot::load(calibration_dir, camera)?;
        Ok(Some(Self {
            camera: camera.to_string(),
            zones,
            snapshot,
            source: Snapshot::path(calibration_dir, camera),
            settings,
            resolved: None,
            next_ms: None,
            visible: Vec::new(),
            reference_patch: vec![0; REF_SIDE * REF_SIDE * 3],
            probs: Vec::new(),
            readings: Vec::new(),
            still: StillBoxes::default(),
            in_front: Vec::new(),
        }))
    }

    /// Checks the reference against the frame size and the configured zones, once.
    fn resolve(&mut self, width: u32, height: u32) -> Result<(), ShelfError> {
        if self.resolved.is_none() {
            let snap = &self.snapshot;
            if (snap.width, snap.height) != (width, height) {
                return Err(ReferenceError::Resolution {
                    path: self.source.clone(),
                    camera: self.camera.clone(),
                    taken: (snap.width, snap.height),
                    now: (width, height),
                }
                .into());
            }
            let mut resolved = Vec::with_capacity(self.zones.len());
            for z in &self.zones {
                let cells = zone_cells(&self.camera, z, width, height)?;
                let stale = |why: String| ReferenceError::Stale {
                    path: self.source.clone(),
                    camera: self.camera.clone(),
                    zone: z.name.clone(),
                    why,
                };
                let r = snap
                    .zones
                    .iter()
                    .find(|r| r.zone == z.name)
                    .ok_or_else(|| stale("it is not in the calibration".into()))?;
                check_geometry(r, z, width, height).map_err(stale)?;
                let reference = r
                    .cells
                    .iter()
                    .map(hex::decode)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| stale(format!("a cell is not hex: {e}")))?;
                resolved.push(Resolved {
                    zone: z.name.clone(),
                    corners: corners(z, width, height),
                    rows: z.split().0,
                    bays: z.split().1,
                    cells,
                    reference,
                });
            }
            self.resolved = Some(resolved);
        }
        Ok(())
    }

    /// A frame at `t_ms`: when a sample is due, reads every cell no person hides and hands each
    /// zone's readings to `out(zone, readings)`. Returns whether a sample was taken.
    pub fn on_frame(
        &mut self,
        t_ms: u64,
        frame: &FrameView<'_>,
        people: &[Detection],
        model: &mut dyn ReadShelf,
        mut out: impl FnMut(&str, &[Option<CellState>]),
    ) -> Result<bool, ShelfError> {
        if self.next_ms.is_some_and(|next| t_ms < next) {
            return Ok(false);
        }
        self.next_ms = Some(t_ms + self.settings.interval_ms);
        let (width, height) = frame.source;
        let settings = self.settings;
        self.resolve(width, height)?;
        self.still
            .occluders(t_ms, people, &settings, &mut self.in_front);
        let zones = self.resolved.as_deref().unwrap_or_default();
        for z in zones {
            self.visible.clear();
            self.visible.extend(
                z.cells
                    .iter()
                    .map(|c| !occluded(c, &self.in_front, settings.occlusion)),
            );
            self.probs.clear();
            if self.visible.iter().any(|v| *v) {
                model.read(frame, &z.face(), &self.visible, &mut self.probs)?;
            }
            let mut probs = self.probs.iter();
            self.readings.clear();
            for (i, (cell, reference)) in z.cells.iter().zip(&z.reference).enumerate() {
                if !self.visible[i] {
                    self.readings.push(None);
                    continue;
                }
                let Some(&p) = probs.next() else {
                    self.readings.push(None);
                    continue;
                };
                // The reference can only overrule a low or empty reading.
                let c = (argmax(p) != CellState::Stocked).then(|| {
                    warp::sample(frame, cell, REF_SIDE, &mut self.reference_patch);
                    change(reference, &self.reference_patch)
                });
                let state = verdict(p, c, settings.same_as_reference);
                tracing::trace!(camera = %self.camera, zone = %z.zone, cell = i, t_ms, stocked = p[0], low = p[1], empty = p[2], change = ?c, ?state, "shelf cell");
                self.readings.push(Some(state));
            }
            out(&z.zone, &self.readings);
        }
        Ok(true)
    }
}

/// Whether a stored zone reference was taken for this zone as configured now.
fn check_geometry(
    r: &ZoneReference,
    z: &ZoneConfig,
    width: u32,
    height: u32,
) -> Result<(), String> {
    let (rows, bays) = (z.split().0, z.split().1);
    if (r.rows, r.bays) != (rows, bays) {
        return Err(format!(
            "calibrated as {}x{} cells, configured as {rows}x{bays}",
            r.rows, r.bays
        ));
    }
    let now = corners(z, width, height);
    let moved = r
        .corners
        .iter()
        .zip(now)
        .any(|(a, b)| (a[0] - b.0).abs() > 1.0 || (a[1] - b.1).abs() > 1.0);
    if moved {
        return Err("its corners moved since the calibration".into());
    }
    Ok(())
}

/// Samples every cell of a camera's shelf zones for a reference (`aisle shelf calibrate`).
pub fn reference(
    camera: &str,
    zones: &[ZoneConfig],
    frame: &FrameView<'_>,
) -> Result<Snapshot, ShelfError> {
    let (width, height) = frame.source;
    let mut patch = vec![0u8; REF_SIDE * REF_SIDE * 3];
    let mut out = Vec::new();
    for z in zones.iter().filter(|z| z.kind() == ZoneKind::Shelf) {
        let cells = zone_cells(camera, z, width, height)?;
        let encoded = cells
            .iter()
            .map(|c| {
                warp::sample(frame, c, REF_SIDE, &mut patch);
                hex::encode(&patch)
            })
            .collect();
        out.push(ZoneReference {
            zone: z.name.clone(),
            corners: corners(z, width, height).map(|(x, y)| [x, y]),
            rows: z.split().0,
            bays: z.split().1,
            cells: encoded,
        });
    }
    Ok(Snapshot {
        camera: camera.to_string(),
        width,
        height,
        zones: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::zones::Shape;

    /// Reads a patch as empty when its blue channel is dark, stocked otherwise.
    struct ByBrightness;

    impl ReadShelf for ByBrightness {
        fn read(
            &mut self,
            frame: &FrameView<'_>,
            face: &Face<'_>,
            visible: &[bool],
            out: &mut Vec<[f32; 3]>,
        ) -> Result<(), ShelfModelError> {
            out.clear();
            let mut patch = vec![0u8; 8 * 8 * 3];
            for (cell, _) in face.cells.iter().zip(visible).filter(|(_, v)| **v) {
                warp::sample(frame, cell, 8, &mut patch);
                let blue = patch.iter().skip(2).step_by(3).map(|&v| f32::from(v));
                let mean = blue.sum::<f32>() / 64.0;
                out.push(if mean < 60.0 {
                    [0.1, 0.1, 0.8]
                } else {
                    [0.8, 0.1, 0.1]
                });
            }
            Ok(())
        }
    }

    fn shelf_zone() -> ZoneConfig {
        toml::from_str(
            "name = \"bay\"\nkind = \"shelf\"\nunits = \"pixels\"\npolygon = [[0.0, 0.0], [40.0, 0.0], [40.0, 20.0], [0.0, 20.0]]\nbays = 2",
        )
        .unwrap()
    }

    /// A 40x20 camera frame, textured, with the right half emptied (dark) when `right_empty`.
    fn frame(right_empty: bool) -> Vec<u8> {
        let mut bgr = vec![0u8; 40 * 20 * 3];
        for y in 0..20 {
            for x in 0..40 {
                let o = (y * 40 + x) * 3;
                let texture = ((x * 7 + y * 13) % 11) as u8 * 8;
                // The back panel behind the products: dark, with a pattern of its own.
                let v = if right_empty && x >= 20 {
                    10 + ((x * 3 + y * 5) % 7) as u8 * 4
                } else {
                    120 + texture
                };
                bgr[o..o + 3].copy_from_slice(&[v, v / 2, 255 - v]);
            }
        }
        bgr
    }

    fn view(bgr: &[u8]) -> FrameView<'_> {
        FrameView::packed(40, 20, bgr)
    }

    fn shelves(dir: &std::path::Path) -> CameraShelves {
        let zones = [shelf_zone()];
        let stocked = frame(false);
        reference("cam", &zones, &view(&stocked))
            .unwrap()
            .save(dir)
            .unwrap();
        let settings = WatchSettings {
            interval_ms: 30_000,
            occlusion: 0.1,
            same_as_reference: 0.3,
            still_occluder_ms: 120_000,
            occluder_score: 0.5,
        };
        CameraShelves::new("cam", &zones, dir, settings)
            .unwrap()
            .unwrap()
    }

    fn sample(
        s: &mut CameraShelves,
        t_ms: u64,
        bgr: &[u8],
        people: &[Detection],
    ) -> Option<Vec<Option<CellState>>> {
        let mut got = None;
        let taken = s
            .on_frame(t_ms, &view(bgr), people, &mut ByBrightness, |_, r| {
                got = Some(r.to_vec())
            })
            .unwrap();
        assert_eq!(taken, got.is_some());
        got
    }

    #[test]
    fn samples_on_the_interval_and_reads_each_cell() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shelves(dir.path());
        let (full, half) = (frame(false), frame(true));
        assert_eq!(
            sample(&mut s, 0, &full, &[]),
            Some(vec![Some(CellState::Stocked); 2])
        );
        assert_eq!(sample(&mut s, 29_999, &half, &[]), None, "not due yet");
        assert_eq!(
            sample(&mut s, 30_000, &half, &[]),
            Some(vec![Some(CellState::Stocked), Some(CellState::Empty)])
        );
    }

    #[test]
    fn a_cell_behind_a_person_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shelves(dir.path());
        let person = Detection {
            class: 0,
            score: 0.9,
            bbox: BBox::new(24.0, 0.0, 34.0, 20.0),
        };
        assert_eq!(
            sample(&mut s, 0, &frame(true), &[person]),
            Some(vec![Some(CellState::Stocked), None])
        );
    }

    #[test]
    fn a_box_that_never_moves_stops_hiding_a_cell_after_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shelves(dir.path());
        let at = |x: f32| Detection {
            class: 0,
            score: 0.9,
            bbox: BBox::new(x, 0.0, x + 10.0, 20.0),
        };
        let half = frame(true);
        // A false "person" on the empty right half: hidden for 120 s, then read as empty.
        for t in [0, 30_000, 60_000, 90_000] {
            assert_eq!(
                sample(&mut s, t, &half, &[at(24.0)]),
                Some(vec![Some(CellState::Stocked), None]),
                "at {t} ms"
            );
        }
        assert_eq!(
            sample(&mut s, 120_000, &half, &[at(24.5)]),
            Some(vec![Some(CellState::Stocked), Some(CellState::Empty)]),
            "still after 120 s"
        );
        // A box that moves is a person again, and hides the cell from where it stands.
        assert_eq!(
            sample(&mut s, 150_000, &half, &[at(28.0)]),
            Some(vec![Some(CellState::Stocked), None])
        );
    }

    #[test]
    fn a_weak_box_does_not_hide_a_cell() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shelves(dir.path());
        let weak = Detection {
            class: 0,
            score: 0.4,
            bbox: BBox::new(24.0, 0.0, 34.0, 20.0),
        };
        assert_eq!(
            sample(&mut s, 0, &frame(true), &[weak]),
            Some(vec![Some(CellState::Stocked), Some(CellState::Empty)])
        );
    }

    #[test]
    fn a_cell_like_its_reference_is_stocked_whatever_the_model_says() {
        assert_eq!(
            verdict([0.1, 0.1, 0.8], Some(0.05), 0.3),
            CellState::Stocked
        );
        assert_eq!(verdict([0.1, 0.1, 0.8], Some(0.9), 0.3), CellState::Empty);
        assert_eq!(verdict([0.2, 0.7, 0.1], None, 0.3), CellState::Low);
    }

    #[test]
    fn a_reference_from_another_resolution_or_geometry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = shelves(dir.path());
        let small = vec![0u8; 20 * 10 * 3];
        let e = s
            .on_frame(
                0,
                &FrameView::packed(20, 10, &small),
                &[],
                &mut ByBrightness,
                |_, _| {},
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("taken at 40x20") && e.contains("sends 20x10") && e.contains("calibrate"),
            "{e}"
        );
        let mut moved = shelf_zone();
        if let Shape::Shelf(face) = &mut moved.shape {
            face.bays = 3;
        }
        let settings = WatchSettings {
            interval_ms: 1,
            occlusion: 0.1,
            same_as_reference: 0.3,
            still_occluder_ms: 120_000,
            occluder_score: 0.5,
        };
        let mut s = CameraShelves::new("cam", &[moved], dir.path(), settings)
            .unwrap()
            .unwrap();
        let full = frame(false);
        let e = s
            .on_frame(0, &view(&full), &[], &mut ByBrightness, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("calibrated as 1x2 cells, configured as 1x3"),
            "{e}"
        );
    }

    #[test]
    fn a_zone_outside_the_frame_is_named() {
        let mut z = shelf_zone();
        if let Shape::Shelf(face) = &mut z.shape {
            face.polygon[1] = [400.0, 0.0];
        }
        let full = frame(false);
        let e = reference("cam", &[z], &view(&full))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"bay\"") && e.contains("outside the 40x20 frame"),
            "{e}"
        );
    }
}
