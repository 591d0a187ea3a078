//! Zones and their metrics. Each zone sees the visible tracks' foot points once per frame and
//! keeps what its summary and alert rules need: occupancy and congestion for areas, directional
//! crossings for lines, length, waits, service and abandonment for checkout queues.

use std::collections::VecDeque;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::geometry::{Point, contains, segments_intersect, self_intersects, signed_distance};
use super::id_map::IdMap;
use super::metric::Metric;
use super::tracker::CROWD;
pub use crate::events::{Level, ZoneMetrics};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// People per zone and a congestion level.
    Area,
    /// Directional in/out counts across a line.
    Line,
    /// A checkout queue: a queue area and a service line.
    Queue,
    /// A shelf face: its fill ratio and which of its cells are empty (`crate::shelf`).
    Shelf,
}

impl ZoneKind {
    /// The name configs and rules use (`queue`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Area => "area",
            Self::Line => "line",
            Self::Queue => "queue",
            Self::Shelf => "shelf",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        [Self::Area, Self::Line, Self::Queue, Self::Shelf]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// 0..1 of the frame's width and height: survives a camera resolution change.
    #[default]
    Normalized,
    Pixels,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Congestion {
    /// Occupancy at which the level becomes medium.
    pub medium: u32,
    /// Occupancy at which the level becomes high.
    pub high: u32,
    /// People below a threshold before the level drops back (so counts that flicker do not flap).
    #[serde(default = "one")]
    pub hysteresis: u32,
    /// Seconds a new level must hold before it is reported.
    #[serde(default = "ten")]
    pub min_duration_s: f64,
}

fn one() -> u32 {
    1
}
fn ten() -> f64 {
    10.0
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    pub kind: ZoneKind,
    #[serde(default)]
    pub units: Units,
    /// Area, queue and shelf outline.
    #[serde(default)]
    pub polygon: Vec<[f32; 2]>,
    /// Line zones: `[A, B]`. "in" is a crossing to the right-hand side of A → B as drawn on the
    /// image (for a line drawn left to right, walking down the image).
    #[serde(default)]
    pub line: Vec<[f32; 2]>,
    /// Queue zones: crossing this segment from inside the queue means served.
    #[serde(default)]
    pub service_line: Vec<[f32; 2]>,
    /// Line zones: distance from the line (in `units`) within which a foot point does not change
    /// side, so jitter on the line is not counted.
    pub band: Option<f32>,
    pub congestion: Option<Congestion>,
    /// Shelf zones: shelf levels, top to bottom (default 1). The polygon is the shelf face's four
    /// corners, top-left, top-right, bottom-right, bottom-left, as the camera sees them.
    pub rows: Option<u32>,
    /// Shelf zones: bays across each level, left to right (default 1).
    pub bays: Option<u32>,
}

/// Most levels or bays a shelf zone may have: a cell must stay large enough to read.
pub const MAX_SHELF_SPLIT: u32 = 16;

impl ZoneConfig {
    /// The factors from the zone's units to pixels of a `w`×`h` frame.
    pub fn scale(&self, w: u32, h: u32) -> (f32, f32) {
        match self.units {
            Units::Normalized => (w as f32, h as f32),
            Units::Pixels => (1.0, 1.0),
        }
    }

    /// `pts` (one of the zone's point lists) in pixels of a `w`×`h` frame.
    pub fn to_pixels(&self, pts: &[[f32; 2]], w: u32, h: u32) -> Vec<Point> {
        let (sx, sy) = self.scale(w, h);
        pts.iter().map(|&[x, y]| (x * sx, y * sy)).collect()
    }

    /// Every problem, each as (field suffix, reason).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut bad = |f: &str, r: String| p.push((f.to_string(), r));
        let outside = |pts: &[[f32; 2]]| {
            self.units == Units::Normalized
                && pts
                    .iter()
                    .any(|[x, y]| !(0.0..=1.0).contains(x) || !(0.0..=1.0).contains(y))
        };
        let needs_polygon = matches!(
            self.kind,
            ZoneKind::Area | ZoneKind::Queue | ZoneKind::Shelf
        );
        if needs_polygon {
            let pts: Vec<Point> = self.polygon.iter().map(|&[x, y]| (x, y)).collect();
            if pts.len() < 3 {
                bad(
                    "polygon",
                    format!(
                        "a {:?} zone needs a polygon of at least 3 points",
                        self.kind
                    )
                    .to_lowercase(),
                );
            } else if self_intersects(&pts) {
                bad("polygon", "is self-intersecting".into());
            }
            if outside(&self.polygon) {
                bad(
                    "polygon",
                    "lies outside the frame (normalized coordinates must be within 0..1)".into(),
                );
            }
        } else if !self.polygon.is_empty() {
            bad(
                "polygon",
                "only area, queue and shelf zones have a polygon".into(),
            );
        }
        let segment = |f: &str, pts: &[[f32; 2]], bad: &mut dyn FnMut(&str, String)| {
            if pts.len() != 2 || pts[0] == pts[1] {
                bad(f, "needs exactly two distinct points".into());
            } else if outside(pts) {
                bad(
                    f,
                    "lies outside the frame (normalized coordinates must be within 0..1)".into(),
                );
            }
        };
        match self.kind {
            ZoneKind::Line => segment("line", &self.line, &mut bad),
            _ if !self.line.is_empty() => bad("line", "only line zones have a line".into()),
            _ => {}
        }
        match self.kind {
            ZoneKind::Queue => segment("service_line", &self.service_line, &mut bad),
            _ if !self.service_line.is_empty() => bad(
                "service_line",
                "only queue zones have a service line".into(),
            ),
            _ => {}
        }
        if let Some(b) = self.band
            && (b.is_nan() || b < 0.0)
        {
            bad("band", format!("{b} must be 0 or more"));
        }
        if self.kind == ZoneKind::Shelf {
            if self.polygon.len() != 4 {
                bad(
                    "polygon",
                    format!(
                        "a shelf zone needs exactly 4 corners (top-left, top-right, bottom-right, bottom-left), found {}",
                        self.polygon.len()
                    ),
                );
            }
            for (f, v) in [("rows", self.rows), ("bays", self.bays)] {
                if let Some(n) = v
                    && !(1..=MAX_SHELF_SPLIT).contains(&n)
                {
                    bad(f, format!("{n} must be within 1..={MAX_SHELF_SPLIT}"));
                }
            }
        } else {
            for (f, v) in [("rows", self.rows), ("bays", self.bays)] {
                if v.is_some() {
                    bad(f, "only shelf zones have rows and bays".into());
                }
            }
        }
        if let Some(c) = &self.congestion {
            if self.kind != ZoneKind::Area {
                bad(
                    "congestion",
                    "only area zones have congestion levels".into(),
                );
            }
            if c.medium == 0 || c.medium >= c.high {
                bad(
                    "congestion",
                    format!("need 0 < medium ({}) < high ({})", c.medium, c.high),
                );
            }
            if c.hysteresis >= c.medium.max(1) {
                bad(
                    "congestion.hysteresis",
                    format!("{} must be below medium ({})", c.hysteresis, c.medium),
                );
            }
            if c.min_duration_s.is_nan() || c.min_duration_s < 0.0 {
                bad("congestion.min_duration_s", "must be 0 or more".into());
            }
        }
        p
    }
}

/// A confirmed track as zones see it: where it stands, where it was first detected, and whether
/// it counts this frame (seen, or lost only for the tracker's `coast_frames`; a track hidden for
/// longer keeps its place in a queue but is not counted).
#[derive(Debug, Clone, Copy)]
pub struct Foot {
    pub id: u64,
    pub at: Point,
    pub origin: Point,
    pub seen: bool,
}

/// Nearest-rank percentile of values already in ascending order; `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// Time-weighted mean, max and last of a count over a window.
#[derive(Debug, Clone, Default)]
struct CountWindow {
    weighted_ms: f64,
    span_ms: f64,
    max: u32,
    last: u32,
    last_t: Option<u64>,
}

impl CountWindow {
    fn observe(&mut self, t_ms: u64, count: u32) {
        if let Some(prev) = self.last_t {
            let dt = t_ms.saturating_sub(prev) as f64;
            self.weighted_ms += self.last as f64 * dt;
            self.span_ms += dt;
        }
        self.max = self.max.max(count);
        self.last = count;
        self.last_t = Some(t_ms);
    }

    fn mean(&self) -> f64 {
        if self.span_ms > 0.0 {
            self.weighted_ms / self.span_ms
        } else {
            self.last as f64
        }
    }

    /// Starts a new window that carries the current count over.
    fn roll(&mut self) {
        *self = Self {
            max: self.last,
            last: self.last,
            last_t: self.last_t,
            ..Self::default()
        };
    }
}

/// A shelf cell's name from its row-by-row index: `r{level}b{bay}`, from 1 at the top left, as
/// store staff count them.
pub fn cell_name(index: usize, bays: u32) -> String {
    let bays = bays.max(1) as usize;
    format!("r{}b{}", index / bays + 1, index % bays + 1)
}

/// What the shelf classifier, with the store's reference, says about one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CellState {
    Stocked,
    Low,
    Empty,
}

impl CellState {
    /// The cell's share in the fill ratio.
    pub fn fill(self) -> f64 {
        match self {
            CellState::Stocked => 1.0,
            CellState::Low => 0.5,
            CellState::Empty => 0.0,
        }
    }
}

#[derive(Debug, Clone)]
enum State {
    Area {
        poly: Vec<Point>,
        occupancy: CountWindow,
        level: Level,
        candidate: Option<(Level, u64)>,
        congestion: Option<Congestion>,
    },
    Line {
        a: Point,
        b: Point,
        band: f32,
        sides: IdMap<(i8, Point)>,
        ins: u64,
        outs: u64,
    },
    Queue(Box<QueueState>),
    Shelf(ShelfState),
}

/// A shelf zone's cells as last read; an occluded cell keeps its previous reading.
#[derive(Debug, Clone)]
struct ShelfState {
    bays: u32,
    cells: Vec<Option<CellState>>,
    fill_min: Option<f64>,
    samples: u64,
    occluded: u64,
}

impl ShelfState {
    fn fill(&self) -> Option<f64> {
        let read: Vec<f64> = self.cells.iter().flatten().map(|c| c.fill()).collect();
        (!read.is_empty()).then(|| read.iter().sum::<f64>() / read.len() as f64)
    }

    fn count(&self, state: CellState) -> usize {
        self.cells.iter().filter(|c| **c == Some(state)).count()
    }

    fn names(&self, state: CellState) -> Vec<String> {
        (0..self.cells.len())
            .filter(|&i| self.cells[i] == Some(state))
            .map(|i| cell_name(i, self.bays))
            .collect()
    }
}

#[derive(Debug, Clone)]
struct QueueState {
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

/// A zone resolved to a frame size, with its running state.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    state: State,
}

/// How long served times count towards the service rate behind the wait estimate.
const RATE_WINDOW_MS: u64 = 10 * 60 * 1000;

impl Zone {
    /// Resolves `cfg` to pixels of a `w`×`h` frame. Pixel-unit zones that do not fit the frame
    /// are an error naming the zone.
    pub fn new(cfg: &ZoneConfig, w: u32, h: u32) -> Result<Self, String> {
        let (sx, sy) = cfg.scale(w, h);
        let px = |pts: &[[f32; 2]]| cfg.to_pixels(pts, w, h);
        let all: Vec<Point> = [&cfg.polygon, &cfg.line, &cfg.service_line]
            .into_iter()
            .flat_map(|p| px(p))
            .collect();
        if all
            .iter()
            .any(|&(x, y)| x < 0.0 || y < 0.0 || x > w as f32 || y > h as f32)
        {
            return Err(format!(
                "zone {:?} lies outside the {w}x{h} frame",
                cfg.name
            ));
        }
        let default_band = match cfg.units {
            Units::Normalized => 0.01,
            Units::Pixels => 5.0,
        };
        let band = cfg.band.unwrap_or(default_band) * sx.max(sy);
        let state = match cfg.kind {
            ZoneKind::Area => State::Area {
                poly: px(&cfg.polygon),
                occupancy: CountWindow::default(),
                level: Level::Low,
                candidate: None,
                congestion: cfg.congestion.clone(),
            },
            ZoneKind::Line => {
                let l = px(&cfg.line);
                State::Line {
                    a: l[0],
                    b: l[1],
                    band,
                    sides: IdMap::with_capacity(CROWD),
                    ins: 0,
                    outs: 0,
                }
            }
            ZoneKind::Queue => {
                let s = px(&cfg.service_line);
                State::Queue(Box::new(QueueState {
                    poly: px(&cfg.polygon),
                    service: (s[0], s[1]),
                    inside: IdMap::with_capacity(CROWD),
                    length: CountWindow::default(),
                    waits_s: Vec::with_capacity(4 * CROWD),
                    served: 0,
                    abandoned: 0,
                    recent_served: VecDeque::new(),
                    rate_window_ms: RATE_WINDOW_MS,
                    started_ms: None,
                }))
            }
            ZoneKind::Shelf => {
                let (rows, bays) = (cfg.rows.unwrap_or(1), cfg.bays.unwrap_or(1));
                State::Shelf(ShelfState {
                    bays,
                    cells: vec![None; (rows * bays) as usize],
                    fill_min: None,
                    samples: 0,
                    occluded: 0,
                })
            }
        };
        Ok(Self {
            name: cfg.name.clone(),
            kind: cfg.kind,
            state,
        })
    }

    /// A shelf zone's cells, row by row, as last read (`None`: not read yet); `None` for other
    /// zones.
    pub fn shelf_cells(&self) -> Option<&[Option<CellState>]> {
        match &self.state {
            State::Shelf(s) => Some(&s.cells),
            _ => None,
        }
    }

    /// Takes one frame's visible tracks at time `t_ms`.
    pub fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
        match &mut self.state {
            State::Area {
                poly,
                occupancy,
                level,
                candidate,
                congestion,
            } => {
                let n = feet
                    .iter()
                    .filter(|f| f.seen && contains(poly, f.at))
                    .count() as u32;
                occupancy.observe(t_ms, n);
                if let Some(c) = congestion {
                    step_level(c, n, t_ms, level, candidate);
                }
            }
            State::Line {
                a,
                b,
                band,
                sides,
                ins,
                outs,
            } => {
                for f in feet.iter().filter(|f| f.seen) {
                    let d = signed_distance(*a, *b, f.at);
                    if d.abs() <= *band {
                        continue;
                    }
                    let side: i8 = if d > 0.0 { 1 } else { -1 };
                    // A new track starts from where it was first detected, so a crossing made
                    // while it was being confirmed still counts.
                    let first = || {
                        let d = signed_distance(*a, *b, f.origin);
                        (d.abs() > *band).then_some((if d > 0.0 { 1 } else { -1 }, f.origin))
                    };
                    match sides.insert(f.id, (side, f.at)).or_else(first) {
                        Some((prev, from))
                            if prev != side && segments_intersect(from, f.at, *a, *b) =>
                        {
                            if side > 0 { *ins += 1 } else { *outs += 1 }
                        }
                        _ => {}
                    }
                }
                sides.retain_ids(|id| feet.iter().any(|f| f.id == id));
            }
            State::Queue(q) => q.observe(t_ms, feet),
            State::Shelf(_) => {}
        }
    }

    /// One sample of a shelf zone's cells, row by row; `None` for a cell a person hid. Ignored
    /// by other zones, and when the count of cells does not match.
    pub fn observe_shelf(&mut self, readings: &[Option<CellState>]) {
        let State::Shelf(s) = &mut self.state else {
            return;
        };
        if readings.len() != s.cells.len() {
            return;
        }
        for (cell, r) in s.cells.iter_mut().zip(readings) {
            match r {
                Some(state) => *cell = Some(*state),
                None => s.occluded += 1,
            }
        }
        s.samples += 1;
        if let Some(f) = s.fill() {
            s.fill_min = Some(s.fill_min.map_or(f, |m| m.min(f)));
        }
    }

    /// A metric by the name rules use; `None` when it has no value (e.g. no wait measured yet).
    /// Called per rule per frame, so it reads the state directly; only a wait percentile copies
    /// the window's waits.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match (&self.state, metric) {
            (State::Area { occupancy, .. }, Metric::Occupancy) => Some(occupancy.last as f64),
            (State::Area { level, .. }, Metric::Congestion) => Some(level.value()),
            (State::Line { ins, .. }, Metric::In) => Some(*ins as f64),
            (State::Line { outs, .. }, Metric::Out) => Some(*outs as f64),
            (State::Queue(q), Metric::Length) => Some(q.length.last as f64),
            (State::Queue(q), Metric::WaitP50) => percentile(&q.waits_s, 0.5),
            (State::Queue(q), Metric::WaitP90) => percentile(&q.waits_s, 0.9),
            (State::Queue(q), Metric::EstimatedWait) => {
                let rate = q.service_rate_per_s();
                (rate > 0.0).then(|| q.length.last as f64 / rate)
            }
            (State::Queue(q), Metric::Served) => Some(q.served as f64),
            (State::Queue(q), Metric::Abandoned) => Some(q.abandoned as f64),
            (State::Queue(q), Metric::ServiceRate) => Some(q.service_rate_per_s() * 60.0),
            (State::Shelf(s), Metric::Fill) => s.fill(),
            (State::Shelf(s), Metric::Empty) => Some(s.count(CellState::Empty) as f64),
            (State::Shelf(s), Metric::Low) => Some(s.count(CellState::Low) as f64),
            _ => None,
        }
    }

    /// The metrics of the window so far.
    pub fn metrics(&self) -> ZoneMetrics {
        match &self.state {
            State::Area {
                occupancy, level, ..
            } => ZoneMetrics::Area {
                occupancy_mean: occupancy.mean(),
                occupancy_max: occupancy.max,
                occupancy_last: occupancy.last,
                congestion: *level,
            },
            State::Line { ins, outs, .. } => ZoneMetrics::Line {
                r#in: *ins,
                out: *outs,
            },
            State::Queue(q) => {
                let rate_per_s = q.service_rate_per_s();
                ZoneMetrics::Queue {
                    length_mean: q.length.mean(),
                    length_max: q.length.max,
                    length_last: q.length.last,
                    wait_p50_s: percentile(&q.waits_s, 0.5),
                    wait_p90_s: percentile(&q.waits_s, 0.9),
                    served: q.served,
                    abandoned: q.abandoned,
                    service_rate_per_min: rate_per_s * 60.0,
                    estimated_wait_s: (rate_per_s > 0.0).then(|| q.length.last as f64 / rate_per_s),
                }
            }
            State::Shelf(s) => ZoneMetrics::Shelf {
                fill: s.fill(),
                fill_min: s.fill_min,
                empty_cells: s.names(CellState::Empty),
                low_cells: s.names(CellState::Low),
                samples: s.samples,
                occluded: s.occluded,
            },
        }
    }

    /// Ends a summary window: counters restart, running state (levels, who is in the queue) stays.
    pub fn roll(&mut self) {
        match &mut self.state {
            State::Area { occupancy, .. } => occupancy.roll(),
            State::Line { ins, outs, .. } => (*ins, *outs) = (0, 0),
            State::Queue(q) => {
                q.length.roll();
                q.waits_s.clear();
                q.served = 0;
                q.abandoned = 0;
            }
            State::Shelf(s) => {
                s.fill_min = s.fill();
                s.samples = 0;
                s.occluded = 0;
            }
        }
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

impl QueueState {
    fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> Zone {
        let cfg: ZoneConfig = toml::from_str(text).unwrap();
        assert!(cfg.problems().is_empty(), "{:?}", cfg.problems());
        Zone::new(&cfg, 100, 100).unwrap()
    }

    #[test]
    fn a_shelf_keeps_hidden_cells_and_names_the_empty_ones() {
        let mut z = zone(
            "name = \"bay\"\nkind = \"shelf\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.5], [0.1, 0.5]]\nrows = 2\nbays = 2",
        );
        assert_eq!(z.metric(Metric::Fill), None, "nothing read yet");
        use CellState::*;
        z.observe_shelf(&[Some(Stocked), Some(Empty), Some(Low), Some(Stocked)]);
        assert_eq!(z.metric(Metric::Fill), Some(0.625));
        // A person hides the empty cell: it stays empty, and the hidden reading is counted.
        z.observe_shelf(&[Some(Stocked), None, Some(Stocked), Some(Stocked)]);
        assert_eq!(z.metric(Metric::Fill), Some(0.75));
        assert_eq!(z.metric(Metric::Empty), Some(1.0));
        match z.metrics() {
            ZoneMetrics::Shelf {
                fill_min,
                empty_cells,
                samples,
                occluded,
                ..
            } => {
                assert_eq!((fill_min, samples, occluded), (Some(0.625), 2, 1));
                assert_eq!(empty_cells, vec!["r1b2".to_string()]);
            }
            other => panic!("{other:?}"),
        }
        z.roll();
        assert!(
            matches!(z.metrics(), ZoneMetrics::Shelf { fill_min: Some(f), samples: 0, .. } if f == 0.75)
        );
    }

    #[test]
    fn shelf_zones_need_four_corners_and_a_sane_split() {
        let cfg: ZoneConfig = toml::from_str(
            "name = \"bay\"\nkind = \"shelf\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\nbays = 40",
        )
        .unwrap();
        let p = cfg.problems();
        assert!(
            p.iter()
                .any(|(f, r)| f == "polygon" && r.contains("exactly 4 corners")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|(f, r)| f == "bays" && r.contains("1..=16")),
            "{p:?}"
        );
        let area: ZoneConfig = toml::from_str(
            "name = \"floor\"\nkind = \"area\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\nrows = 2",
        )
        .unwrap();
        assert!(
            area.problems().iter().any(|(f, _)| f == "rows"),
            "{:?}",
            area.problems()
        );
    }

    fn seen(id: u64, x: f32, y: f32) -> Foot {
        Foot {
            id,
            at: (x, y),
            origin: (x, y),
            seen: true,
        }
    }

    #[test]
    fn line_counts_each_crossing_once_per_direction_despite_jitter() {
        // Horizontal line across the middle; "in" = walking down the image.
        let mut z =
            zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]\nband = 0.02");
        let mut t = 0;
        let mut walk = |z: &mut Zone, id: u64, ys: &[f32]| {
            for &y in ys {
                t += 100;
                z.observe(t, &[seen(id, 50.0, y)]);
            }
        };
        // Person 1 walks down, jittering on the line (within the band and across it).
        walk(&mut z, 1, &[30.0, 45.0, 49.5, 50.5, 49.0, 51.0, 60.0, 70.0]);
        // Person 2 walks up; person 3 walks down, turns back up and down again.
        walk(&mut z, 2, &[80.0, 60.0, 40.0, 20.0]);
        walk(&mut z, 3, &[20.0, 60.0, 40.0, 70.0]);
        // Person 4 crosses the infinite line but outside the segment: not counted.
        z.observe(t + 100, &[seen(4, 150.0, 20.0)]);
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 3, out: 2 });
    }

    #[test]
    fn a_crossing_made_before_confirmation_counts_from_the_origin() {
        let mut z = zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]");
        // First detected above the line, confirmed already below it: one "in".
        let mut f = seen(1, 50.0, 60.0);
        f.origin = (50.0, 30.0);
        z.observe(100, &[f]);
        z.observe(200, &[seen(1, 50.0, 70.0)]);
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
    }

    #[test]
    fn queue_waits_are_measured_from_entry_to_service() {
        // Queue area on the left, service line at x = 50.
        let mut z = zone(
            "name = \"till\"\nkind = \"queue\"\npolygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\nservice_line = [[0.5, 0.0], [0.5, 1.0]]",
        );
        // Person k enters at 10 s·k and is served 30 s + 10 s·k later; person 9 leaves by the side.
        let mut truth = Vec::new();
        for t in (0..=400).map(|s| s * 1000u64) {
            let mut feet = Vec::new();
            for k in 0..5u64 {
                let (enter, serve) = (10_000 * k, 10_000 * k + 30_000 + 10_000 * k);
                if t >= enter && t <= serve + 2_000 {
                    let x = if t < serve { 20.0 } else { 60.0 };
                    feet.push(seen(k + 1, x, 10.0 + 10.0 * k as f32));
                }
                if t == serve {
                    truth.push((serve - enter) as f64 / 1000.0);
                }
            }
            if (100_000..=120_000).contains(&t) {
                feet.push(seen(9, 20.0, if t < 115_000 { 50.0 } else { 101.0 }));
            }
            z.observe(t, &feet);
        }
        let ZoneMetrics::Queue {
            served,
            abandoned,
            wait_p50_s,
            wait_p90_s,
            ..
        } = z.metrics()
        else {
            panic!()
        };
        assert_eq!((served, abandoned), (5, 1));
        truth.sort_by(f64::total_cmp);
        let p50 = wait_p50_s.unwrap();
        let p90 = wait_p90_s.unwrap();
        assert!(
            (p50 - truth[2]).abs() <= 0.1 * truth[2],
            "p50 {p50} vs {truth:?}"
        );
        assert!(
            (p90 - truth[4]).abs() <= 0.1 * truth[4],
            "p90 {p90} vs {truth:?}"
        );
    }

    #[test]
    fn littles_law_estimate_follows_length_and_service_rate() {
        let mut z = zone(
            "name = \"till\"\nkind = \"queue\"\npolygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]\nservice_line = [[0.5, 0.0], [0.5, 1.0]]",
        );
        // One person served every 20 s for 10 minutes while 4 wait: rate 3/min, estimate 80 s.
        for s in 0..=600u64 {
            let mut feet: Vec<Foot> = (0..4)
                .map(|k| seen(1000 + k, 10.0, 10.0 + 20.0 * k as f32))
                .collect();
            let id = s / 20;
            feet.push(seen(id + 1, if s % 20 == 19 { 60.0 } else { 30.0 }, 90.0));
            z.observe(s * 1000, &feet);
        }
        let ZoneMetrics::Queue {
            service_rate_per_min,
            estimated_wait_s,
            length_last,
            ..
        } = z.metrics()
        else {
            panic!()
        };
        assert_eq!(length_last, 5);
        assert!(
            (service_rate_per_min - 3.0).abs() < 0.1,
            "{service_rate_per_min}"
        );
        let est = estimated_wait_s.unwrap();
        assert!(
            (est - 100.0).abs() <= 10.0,
            "5 in the queue at 3/min → 100 s, got {est}"
        );
    }

    #[test]
    fn occupancy_flicker_does_not_flap_the_congestion_level() {
        let mut z = zone(
            "name = \"floor\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\ncongestion = { medium = 3, high = 6, hysteresis = 1, min_duration_s = 5.0 }",
        );
        let crowd =
            |n: u64| -> Vec<Foot> { (0..n).map(|i| seen(i, 10.0 + i as f32, 50.0)).collect() };
        let mut levels = Vec::new();
        for s in 0..60u64 {
            // 3 people, with one dropping out every other second (detector flicker).
            let n = if s < 10 {
                0
            } else if s % 2 == 0 {
                3
            } else {
                2
            };
            z.observe(s * 1000, &crowd(n));
            levels.push(z.metric(Metric::Congestion).unwrap());
        }
        let changes = levels.windows(2).filter(|w| w[0] != w[1]).count();
        assert_eq!(changes, 1, "one rise to medium, no flapping: {levels:?}");
        assert_eq!(*levels.last().unwrap(), Level::Medium.value());
        let ZoneMetrics::Area { occupancy_max, .. } = z.metrics() else {
            panic!()
        };
        assert_eq!(occupancy_max, 3);
    }

    #[test]
    fn bad_zones_name_their_problem() {
        let problems = |t: &str| toml::from_str::<ZoneConfig>(t).unwrap().problems();
        let bow = problems(
            "name = \"a\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]",
        );
        assert!(bow[0].1.contains("self-intersecting"));
        let out = problems(
            "name = \"a\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.5, 0.0], [1.0, 1.0]]",
        );
        assert!(out[0].1.contains("outside the frame"));
        let line = problems("name = \"a\"\nkind = \"line\"\nline = [[0.0, 0.0]]");
        assert_eq!(line[0].0, "line");
        let queue = problems(
            "name = \"q\"\nkind = \"queue\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]",
        );
        assert_eq!(queue[0].0, "service_line");
        let pixels: ZoneConfig = toml::from_str("name = \"p\"\nkind = \"area\"\nunits = \"pixels\"\npolygon = [[0.0, 0.0], [500.0, 0.0], [500.0, 500.0]]").unwrap();
        assert!(
            Zone::new(&pixels, 100, 100)
                .unwrap_err()
                .contains("outside the 100x100 frame")
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.9), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
