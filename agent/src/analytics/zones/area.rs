//! An area zone: how many people stand in it, and a congestion level that does not flap.

use super::window::CountWindow;
use super::{Congestion, Foot, Level, ZoneMetrics};
use crate::analytics::geometry::{Point, contains};
use crate::analytics::metric::Metric;

#[derive(Debug, Clone)]
pub(super) struct AreaState {
    poly: Vec<Point>,
    occupancy: CountWindow,
    level: Level,
    /// A level waiting out `min_duration_s`, and since when.
    candidate: Option<(Level, u64)>,
    congestion: Option<Congestion>,
}

impl AreaState {
    pub fn new(poly: Vec<Point>, congestion: Option<Congestion>) -> Self {
        Self {
            poly,
            occupancy: CountWindow::default(),
            level: Level::Low,
            candidate: None,
            congestion,
        }
    }

    pub fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
        let n = feet
            .iter()
            .filter(|f| f.seen && contains(&self.poly, f.at))
            .count() as u32;
        self.occupancy.observe(t_ms, n);
        if let Some(c) = &self.congestion {
            step_level(c, n, t_ms, &mut self.level, &mut self.candidate);
        }
    }

    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Occupancy => Some(self.occupancy.last as f64),
            Metric::Congestion => Some(self.level.value()),
            _ => None,
        }
    }

    pub fn metrics(&self) -> ZoneMetrics {
        ZoneMetrics::Area {
            occupancy_mean: self.occupancy.mean(),
            occupancy_max: self.occupancy.max,
            occupancy_last: self.occupancy.last,
            congestion: self.level,
        }
    }

    pub fn roll(&mut self) {
        self.occupancy.roll();
    }
}

/// Moves the congestion level with hysteresis and a minimum holding time. A level is reached
/// at its threshold and held (committed or pending) until the count falls more than
/// `hysteresis` below it; a change is committed once it has been pending for `min_duration_s`.
fn step_level(
    c: &Congestion,
    n: u32,
    t_ms: u64,
    level: &mut Level,
    candidate: &mut Option<(Level, u64)>,
) {
    let threshold = |l: Level| match l {
        Level::High => c.high,
        Level::Medium => c.medium,
        Level::Low => 0,
    };
    let reference = candidate.map_or(*level, |(l, _)| l.max(*level));
    let target = [Level::High, Level::Medium]
        .into_iter()
        .find(|&l| n >= threshold(l) || (l <= reference && n + c.hysteresis >= threshold(l)))
        .unwrap_or(Level::Low);
    if target == *level {
        *candidate = None;
        return;
    }
    let since = match *candidate {
        Some((l, since)) if l == target => since,
        _ => {
            *candidate = Some((target, t_ms));
            t_ms
        }
    };
    if t_ms.saturating_sub(since) as f64 >= c.min_duration_s * 1000.0 {
        *level = target;
        *candidate = None;
    }
}
