//! A customer's own shelf model: an object detector with a `gap` (or `empty`) label, as retail
//! shelf datasets train them, run through the ordinary detector manifest and decoders. The shelf
//! face is rectified into the model's input, the detector finds gaps in it, and each cell is read
//! by how much of its width the gaps cover (projected onto the shelf's length, as a gap is a
//! stretch of shelf without product).

use std::path::Path;

use super::read::{Face, ReadShelf, ShelfModelError};
use super::warp;
use crate::detect::preprocess::FrameView;
use crate::detect::{BBox, Detection, Detector, DetectorOptions};

/// Share of a cell's width a gap must cover for the cell to read empty, and low.
const EMPTY_FROM: f32 = 0.7;
const LOW_FROM: f32 = 0.35;

pub struct GapModel {
    detector: Detector,
    gap_classes: Vec<u16>,
    /// The rectified face, RGB then BGR for the detector, at the model's input size.
    face: Vec<u8>,
    detections: Vec<Detection>,
}

impl GapModel {
    pub fn load(manifest: &Path, opts: &DetectorOptions) -> Result<Self, ShelfModelError> {
        let detector =
            Detector::load(manifest, opts).map_err(|e| ShelfModelError::Detector(Box::new(e)))?;
        let labels = &detector.manifest().output.labels;
        let gap_classes: Vec<u16> = labels
            .iter()
            .enumerate()
            .filter(|(_, l)| *l == "gap" || *l == "empty")
            .map(|(i, _)| i as u16)
            .collect();
        if gap_classes.is_empty() {
            return Err(ShelfModelError::Manifest {
                path: manifest.into(),
                message: format!(
                    "output.labels {labels:?} name neither \"gap\" nor \"empty\": a shelf detector must find gaps"
                ),
            });
        }
        Ok(Self {
            detector,
            gap_classes,
            face: Vec::new(),
            detections: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.detector.manifest().name
    }

    pub fn version(&self) -> u64 {
        self.detector.manifest().version
    }
}

/// A cell's reading from the share of its width gaps cover.
pub fn from_coverage(covered: f32) -> [f32; 3] {
    if covered >= EMPTY_FROM {
        [0.0, 0.0, 1.0]
    } else if covered >= LOW_FROM {
        [0.0, 1.0, 0.0]
    } else {
        [1.0, 0.0, 0.0]
    }
}

/// The share of `cell`'s width covered by the union of `gaps` that share at least half of the
/// shorter one's height with it.
pub fn coverage(cell: &BBox, gaps: &[BBox]) -> f32 {
    let mut spans: Vec<(f32, f32)> = gaps
        .iter()
        .filter(|g| {
            let overlap = g.y1.min(cell.y1) - g.y0.max(cell.y0);
            overlap >= 0.5 * (g.y1 - g.y0).min(cell.y1 - cell.y0)
        })
        .map(|g| (g.x0.max(cell.x0), g.x1.min(cell.x1)))
        .filter(|(a, b)| b > a)
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut covered, mut end) = (0.0, f32::MIN);
    for (a, b) in spans {
        let a = a.max(end);
        if b > a {
            covered += b - a;
        }
        end = end.max(b);
    }
    covered / (cell.x1 - cell.x0).max(1e-6)
}

impl ReadShelf for GapModel {
    fn read(
        &mut self,
        frame: &FrameView<'_>,
        face: &Face<'_>,
        visible: &[bool],
        out: &mut Vec<[f32; 3]>,
    ) -> Result<(), ShelfModelError> {
        out.clear();
        let input = self.detector.manifest().input_spec();
        let (w, h) = (input.width as usize, input.height as usize);
        self.face.resize(w * h * 3, 0);
        warp::sample_rect(frame, &face.corners, (w, h), &mut self.face);
        // The detector reads BGR like camera frames.
        self.face.chunks_exact_mut(3).for_each(|p| p.swap(0, 2));
        let view = FrameView::packed(w as u32, h as u32, &self.face);
        self.detector
            .detect(view, &mut self.detections)
            .map_err(|e| ShelfModelError::Detector(Box::new(e)))?;
        let gaps: Vec<BBox> = self
            .detections
            .iter()
            .filter(|d| self.gap_classes.contains(&d.class))
            .map(|d| d.bbox)
            .collect();
        let (cw, ch) = (w as f32 / face.bays as f32, h as f32 / face.rows as f32);
        for (i, _) in visible.iter().enumerate().filter(|(_, v)| **v) {
            let (r, b) = ((i as u32 / face.bays) as f32, (i as u32 % face.bays) as f32);
            let cell = BBox::new(b * cw, r * ch, (b + 1.0) * cw, (r + 1.0) * ch);
            out.push(from_coverage(coverage(&cell, &gaps)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_is_the_union_of_the_gaps_across_the_cell() {
        let cell = BBox::new(0.0, 0.0, 100.0, 50.0);
        let overlapping = [
            BBox::new(10.0, 5.0, 50.0, 45.0),
            BBox::new(40.0, 5.0, 70.0, 45.0),
        ];
        assert!((coverage(&cell, &overlapping) - 0.6).abs() < 1e-6);
        // A gap on the row below only grazes this one.
        let below = [BBox::new(0.0, 40.0, 100.0, 90.0)];
        assert_eq!(coverage(&cell, &below), 0.0);
        assert_eq!(from_coverage(0.6), [0.0, 1.0, 0.0]);
        assert_eq!(from_coverage(0.9), [0.0, 0.0, 1.0]);
        assert_eq!(from_coverage(0.1), [1.0, 0.0, 0.0]);
    }
}
