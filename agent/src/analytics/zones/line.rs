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

/// How far, as a share of the person's height, a newly confirmed track may start from where a
/// lost track was last seen and still be taken for the same person: a track that breaks just
/// before a line and comes back as a new one past it has still crossed.
const TAKE_OVER_PER_HEIGHT: f32 = 1.0;

/// How long a foot must stay past the band on its new side before the crossing counts: a
/// filtered box still wobbles, and a person standing at the line (or two people whose
/// identities swap across it) would otherwise cross it back and forth every few frames. A track
/// that ends (or a video that ends) while its crossing settles still counts it.
const SETTLE_MS: u64 = 800;

/// Where a track stands with respect to the line.
#[derive(Debug, Clone, Copy)]
struct Side {
    /// The side it was last settled on: 1 or -1.
    side: i8,
    /// Where it was last seen on that side.
    at: Point,
    /// Since when it has been seen on the other side (without a frame in the band or back), and
    /// where it was last seen there.
    since: Option<(u64, Point)>,
}

impl Side {
    fn settled(side: i8, at: Point) -> Self {
        Self {
            side,
            at,
            since: None,
        }
    }
}

/// Crossings in each direction: "in" ends on the positive side.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    ins: u64,
    outs: u64,
}

impl Tally {
    /// Counts a walk from `from` to `to`, ending on `side`, when it meets the line itself and
    /// not only its extension.
    fn count(&mut self, (a, b): (Point, Point), from: Point, to: Point, side: i8) {
        if segments_intersect(from, to, a, b) {
            if side > 0 {
                self.ins += 1
            } else {
                self.outs += 1
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct LineState {
    a: Point,
    b: Point,
    /// Pixels from the line within which a foot does not change side.
    band: f32,
    sides: IdMap<Side>,
    tally: Tally,
}

impl LineState {
    pub fn new(a: Point, b: Point, band: f32) -> Self {
        Self {
            a,
            b,
            band,
            sides: IdMap::with_capacity(CROWD),
            tally: Tally::default(),
        }
    }

    pub fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
        let (a, b) = (self.a, self.b);
        for f in feet.iter().filter(|f| f.seen) {
            // The side of the line a point is on, or `None` within the band.
            let band = self.band.max(BAND_PER_HEIGHT * f.height);
            let d = signed_distance(a, b, f.at);
            if d.abs() <= band {
                // Back in the band: a change of side under way starts again.
                if let Some(known) = self.sides.get(f.id) {
                    self.sides.insert(
                        f.id,
                        Side {
                            since: None,
                            ..known
                        },
                    );
                }
                continue;
            }
            let here = Side::settled(if d > 0.0 { 1 } else { -1 }, f.at);
            // A track new to the line continues one lost nearby, or else starts from where it
            // was first detected, so a crossing made while it was being confirmed still counts.
            // The first point counts even within the band: someone first seen on the line (out
            // from behind another shopper) who walks off it has crossed, and nothing was counted
            // for them before that could be counted twice.
            let known = match self.sides.get(f.id) {
                Some(known) => known,
                None => self.take_over(f, feet).unwrap_or_else(|| {
                    let side = if signed_distance(a, b, f.origin) > 0.0 {
                        1
                    } else {
                        -1
                    };
                    Side::settled(side, f.origin)
                }),
            };
            let next = self.step(known, here, t_ms);
            self.sides.insert(f.id, next);
        }
        self.end_missing(feet);
    }

    /// Every track ends (the video is over): crossings under way count.
    pub fn end(&mut self) {
        self.end_missing(&[]);
    }

    /// Forgets the tracks not in `feet`. A track that ends on its new side crossed, however
    /// short its last stretch there.
    fn end_missing(&mut self, feet: &[Foot]) {
        let mut i = 0;
        while let Some((id, known)) = self.sides.nth(i) {
            if feet.iter().any(|f| f.id == id) {
                i += 1;
                continue;
            }
            self.sides.remove(id);
            if let Some((_, to)) = known.since {
                self.tally
                    .count((self.a, self.b), known.at, to, -known.side);
            }
        }
    }

    /// A track known at `known` seen at `here` at `t_ms`: counts a crossing once the new side
    /// has held for [`SETTLE_MS`], and returns the track's new state.
    fn step(&mut self, known: Side, here: Side, t_ms: u64) -> Side {
        if known.side == here.side {
            return here;
        }
        let since = known.since.map_or(t_ms, |(t, _)| t);
        if t_ms.saturating_sub(since) < SETTLE_MS {
            return Side {
                since: Some((since, here.at)),
                ..known
            };
        }
        self.tally
            .count((self.a, self.b), known.at, here.at, here.side);
        here
    }

    /// The state of the lost track nearest to where `new` started, within
    /// [`TAKE_OVER_PER_HEIGHT`] of its height, as `new`'s own. The lost track keeps its own: if
    /// it comes back, the tracker has found its person again, and `new` was someone else.
    fn take_over(&self, new: &Foot, feet: &[Foot]) -> Option<Side> {
        let reach = TAKE_OVER_PER_HEIGHT * new.height;
        feet.iter()
            .filter(|g| !g.seen)
            .filter_map(|g| {
                let known = self.sides.get(g.id)?;
                let d = (known.at.0 - new.origin.0).hypot(known.at.1 - new.origin.1);
                (d <= reach).then_some((known, d))
            })
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(known, _)| known)
    }

    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::In => Some(self.tally.ins as f64),
            Metric::Out => Some(self.tally.outs as f64),
            _ => None,
        }
    }

    pub fn metrics(&self) -> ZoneMetrics {
        ZoneMetrics::Line {
            r#in: self.tally.ins,
            out: self.tally.outs,
        }
    }

    pub fn roll(&mut self) {
        self.tally = Tally::default();
    }
}
