//! Boxes and detections in source-frame pixels, and the class-aware NMS that prunes them.

use serde::Serialize;

/// An axis-aligned box, corners in pixels (`x0 <= x1`, `y0 <= y1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BBox {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl BBox {
    pub fn new(x0: f32, y0: f32, x1: f32, y1: f32) -> Self {
        Self { x0, y0, x1, y1 }
    }

    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Bottom-centre: where a person in the box stands, which is what zones test.
    pub fn foot(&self) -> (f32, f32) {
        ((self.x0 + self.x1) / 2.0, self.y1)
    }

    /// The box widened by `share` of its width and height on every side.
    pub fn expanded(&self, share: f32) -> BBox {
        let (dx, dy) = (self.width() * share, self.height() * share);
        Self::new(self.x0 - dx, self.y0 - dy, self.x1 + dx, self.y1 + dy)
    }

    /// Area of the overlap with `other`; 0 when they do not overlap.
    pub fn intersection(&self, other: &BBox) -> f32 {
        let iw = (self.x1.min(other.x1) - self.x0.max(other.x0)).max(0.0);
        let ih = (self.y1.min(other.y1) - self.y0.max(other.y0)).max(0.0);
        iw * ih
    }

    /// Intersection over union; 0 for degenerate boxes so they never suppress anything.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// One detected object. `class` indexes the model manifest's label list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub class: u16,
    pub score: f32,
    pub bbox: BBox,
}

/// Greedy class-aware non-maximum suppression, in place.
///
/// Keeps at most `max_keep` detections, highest score first; ties are broken by position so
/// the result does not depend on the decoder's iteration order (byte-identical replays).
pub fn nms(dets: &mut Vec<Detection>, iou_threshold: f32, max_keep: usize) {
    dets.sort_unstable_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.class.cmp(&b.class))
            .then(a.bbox.x0.total_cmp(&b.bbox.x0))
            .then(a.bbox.y0.total_cmp(&b.bbox.y0))
    });
    let mut kept = 0;
    for i in 0..dets.len() {
        if kept == max_keep {
            break;
        }
        let candidate = dets[i];
        let suppressed = dets[..kept]
            .iter()
            .any(|k| k.class == candidate.class && k.bbox.iou(&candidate.bbox) > iou_threshold);
        if !suppressed {
            dets[kept] = candidate;
            kept += 1;
        }
    }
    dets.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(class: u16, score: f32, x0: f32) -> Detection {
        Detection {
            class,
            score,
            bbox: BBox::new(x0, 0.0, x0 + 10.0, 10.0),
        }
    }

    #[test]
    fn iou_of_identical_half_overlapping_and_disjoint_boxes() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert_eq!(a.iou(&a), 1.0);
        let b = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        assert_eq!(a.iou(&BBox::new(3.0, 3.0, 3.0, 3.0)), 0.0);
    }

    #[test]
    fn nms_suppresses_overlaps_within_a_class_only() {
        let mut d = vec![
            det(0, 0.5, 1.0),
            det(0, 0.9, 0.0),
            det(1, 0.8, 0.0),
            det(0, 0.7, 50.0),
        ];
        nms(&mut d, 0.5, 100);
        let got: Vec<(u16, f32)> = d.iter().map(|d| (d.class, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.8), (0, 0.7)]);
    }

    #[test]
    fn nms_caps_the_number_kept() {
        let mut d: Vec<Detection> = (0..10)
            .map(|i| det(0, 0.1 * i as f32, 100.0 * i as f32))
            .collect();
        nms(&mut d, 0.5, 3);
        assert_eq!(d.len(), 3);
        assert!(d[0].score > d[1].score && d[1].score > d[2].score);
    }
}
