//! A line zone: crossings in each direction, each counted once however a foot jitters on it.

use super::{Foot, ZoneMetrics};
use crate::analytics::geometry::{Point, segments_intersect, signed_distance};
use crate::analytics::id_map::IdMap;
use crate::analytics::metric::Metric;
use crate::analytics::tracker::CROWD;

/// The band around a line, as a share of the person's height, within which a foot does not change
/// side: a detector's box jitters by a few percent of the person's height from frame to frame, and
/// someone walking along a line (or standing on it) would otherwise cross it back and forth.
const BAND_PER_HEIGHT: f32 = 0.1;

#[derive(Debug, Clone)]
pub(super) struct LineState {
    a: Point,
    b: Point,
    /// Pixels from the line within which a foot does not change side.
    band: f32,
    /// Per track, the side it was last seen on and where.
    sides: IdMap<(i8, Point)>,
    ins: u64,
    outs: u64,
}

impl LineState {
    pub fn new(a: Point, b: Point, band: f32) -> Self {
        Self {
            a,
            b,
            band,
            sides: IdMap::with_capacity(CROWD),
            ins: 0,
            outs: 0,
        }
    }

    pub fn observe(&mut self, feet: &[Foot]) {
        let (a, b) = (self.a, self.b);
        for f in feet.iter().filter(|f| f.seen) {
            // The side of the line a point is on, or `None` within the band.
            let band = self.band.max(BAND_PER_HEIGHT * f.height);
            let side_of = |p: Point| {
                let d = signed_distance(a, b, p);
                (d.abs() > band).then_some(if d > 0.0 { 1 } else { -1 })
            };
            let Some(side) = side_of(f.at) else {
                continue;
            };
            // A new track starts from where it was first detected, so a crossing made while it
            // was being confirmed still counts.
            let first = || side_of(f.origin).map(|s| (s, f.origin));
            let before = self.sides.insert(f.id, (side, f.at)).or_else(first);
            match before {
                Some((prev, from)) if prev != side && segments_intersect(from, f.at, a, b) => {
                    if side > 0 {
                        self.ins += 1
                    } else {
                        self.outs += 1
                    }
                }
                _ => {}
            }
        }
        self.sides.retain_ids(|id| feet.iter().any(|f| f.id == id));
    }

    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::In => Some(self.ins as f64),
            Metric::Out => Some(self.outs as f64),
            _ => None,
        }
    }

    pub fn metrics(&self) -> ZoneMetrics {
        ZoneMetrics::Line {
            r#in: self.ins,
            out: self.outs,
        }
    }

    pub fn roll(&mut self) {
        (self.ins, self.outs) = (0, 0);
    }
}
