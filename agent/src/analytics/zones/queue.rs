//! A checkout queue: who waits in it, how long until served (crossing the service line),
//! who gives up, and the wait a newcomer can expect.

use std::collections::VecDeque;

use super::window::CountWindow;
use super::{Foot, ZoneMetrics, percentile};
use crate::analytics::geometry::{Point, contains, segments_intersect};
use crate::analytics::id_map::IdMap;
use crate::analytics::metric::Metric;
use crate::analytics::tracker::CROWD;

/// How long served times count towards the service rate behind the wait estimate.
const RATE_WINDOW_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Clone)]
pub(super) struct QueueState {
    poly: Vec<Point>,
    service: (Point, Point),
    /// Tracks in the queue: when they entered and where they were last seen.
    inside: IdMap<(u64, Point)>,
    length: CountWindow,
    /// Waits of the tracks served this window, kept sorted so percentiles read without copying.
    waits_s: Vec<f64>,
    served: u64,
    abandoned: u64,
    /// Service times in the rate window, for the service rate behind the wait estimate.
    recent_served: VecDeque<u64>,
    rate_window_ms: u64,
    /// First observation, so a young zone's rate is not diluted by time it did not watch.
    started_ms: Option<u64>,
}

impl QueueState {
    pub fn new(poly: Vec<Point>, service: (Point, Point)) -> Self {
        Self {
            poly,
            service,
            inside: IdMap::with_capacity(CROWD),
            length: CountWindow::default(),
            waits_s: Vec::with_capacity(4 * CROWD),
            served: 0,
            abandoned: 0,
            recent_served: VecDeque::new(),
            rate_window_ms: RATE_WINDOW_MS,
            started_ms: None,
        }
    }

    pub fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
        self.started_ms.get_or_insert(t_ms);
        let (a, b) = self.service;
        for f in feet.iter().filter(|f| f.seen) {
            let inside = contains(&self.poly, f.at);
            match self.inside.get(f.id) {
                Some((entered, from)) if segments_intersect(from, f.at, a, b) => {
                    self.inside.remove(f.id);
                    let wait = t_ms.saturating_sub(entered) as f64 / 1000.0;
                    let at = self.waits_s.partition_point(|&w| w <= wait);
                    self.waits_s.insert(at, wait);
                    self.served += 1;
                    self.recent_served.push_back(t_ms);
                }
                Some(_) if !inside => {
                    self.inside.remove(f.id);
                    self.abandoned += 1;
                }
                Some((entered, _)) => {
                    self.inside.insert(f.id, (entered, f.at));
                }
                None if inside => {
                    self.inside.insert(f.id, (t_ms, f.at));
                }
                None => {}
            }
        }
        // A track the tracker dropped is neither served nor abandoned: we did not see which.
        self.inside.retain_ids(|id| feet.iter().any(|f| f.id == id));
        while self
            .recent_served
            .front()
            .is_some_and(|&s| t_ms.saturating_sub(s) > self.rate_window_ms)
        {
            self.recent_served.pop_front();
        }
        self.length.observe(t_ms, self.inside.len() as u32);
    }

    /// Services per second over the recent window (or the zone's life, if shorter).
    fn service_rate_per_s(&self) -> f64 {
        let (Some(start), Some(now)) = (self.started_ms, self.length.last_t) else {
            return 0.0;
        };
        let span_s = now.saturating_sub(start).min(self.rate_window_ms) as f64 / 1000.0;
        if span_s <= 0.0 {
            0.0
        } else {
            self.recent_served.len() as f64 / span_s
        }
    }

    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::Length => Some(self.length.last as f64),
            Metric::WaitP50 => percentile(&self.waits_s, 0.5),
            Metric::WaitP90 => percentile(&self.waits_s, 0.9),
            Metric::EstimatedWait => self.estimated_wait_s(),
            Metric::Served => Some(self.served as f64),
            Metric::Abandoned => Some(self.abandoned as f64),
            Metric::ServiceRate => Some(self.service_rate_per_s() * 60.0),
            _ => None,
        }
    }

    /// Little's law: who waits now over how fast they are served; `None` before a service.
    fn estimated_wait_s(&self) -> Option<f64> {
        let rate = self.service_rate_per_s();
        (rate > 0.0).then(|| self.length.last as f64 / rate)
    }

    pub fn metrics(&self) -> ZoneMetrics {
        ZoneMetrics::Queue {
            length_mean: self.length.mean(),
            length_max: self.length.max,
            length_last: self.length.last,
            wait_p50_s: percentile(&self.waits_s, 0.5),
            wait_p90_s: percentile(&self.waits_s, 0.9),
            served: self.served,
            abandoned: self.abandoned,
            service_rate_per_min: self.service_rate_per_s() * 60.0,
            estimated_wait_s: self.estimated_wait_s(),
        }
    }

    pub fn roll(&mut self) {
        self.length.roll();
        self.waits_s.clear();
        self.served = 0;
        self.abandoned = 0;
    }
}
