//! Zones and their metrics. Each zone sees the visible tracks' foot points once per frame and
//! keeps what its summary and alert rules need: occupancy and congestion for areas, directional
//! crossings for lines, length, waits, service and abandonment for checkout queues, the fill of
//! a shelf face. One file per kind; `config` is how configs write them.

mod area;
mod config;
mod line;
mod queue;
mod shelf;
mod window;

use super::geometry::Point;
use super::metric::Metric;
pub use crate::events::{Level, ZoneMetrics};
pub use config::{
    AreaShape, Congestion, LineShape, MAX_SHELF_SPLIT, QueueShape, Shape, ShelfShape, Units,
    ZoneConfig, ZoneKind,
};
pub use shelf::{CellState, cell_name};

/// A confirmed track as zones see it: where it stands, where it was first detected, and whether
/// it counts this frame (seen, or lost only for the tracker's `coast_frames`; a track hidden for
/// longer keeps its place in a queue but is not counted).
#[derive(Debug, Clone, Copy)]
pub struct Foot {
    pub id: u64,
    pub at: Point,
    pub origin: Point,
    pub seen: bool,
    /// The person's height in pixels: how far a foot may wander on a line before it has crossed.
    pub height: f32,
}

/// Nearest-rank percentile of values already in ascending order; `None` when empty.
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

#[derive(Debug, Clone)]
enum State {
    Area(area::AreaState),
    Line(line::LineState),
    Queue(Box<queue::QueueState>),
    Shelf(shelf::ShelfState),
}

/// A zone resolved to a frame size, with its running state.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub kind: ZoneKind,
    state: State,
}

impl Zone {
    /// Resolves `cfg` to pixels of a `w`×`h` frame. Pixel-unit zones that do not fit the frame
    /// are an error naming the zone.
    pub fn new(cfg: &ZoneConfig, w: u32, h: u32) -> Result<Self, String> {
        let (sx, sy) = cfg.scale(w, h);
        let px = |pts: &[[f32; 2]]| cfg.to_pixels(pts, w, h);
        let all: Vec<Point> = [cfg.polygon(), cfg.line(), cfg.service_line()]
            .into_iter()
            .flat_map(px)
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
        let state = match &cfg.shape {
            Shape::Area(a) => {
                State::Area(area::AreaState::new(px(&a.polygon), a.congestion.clone()))
            }
            Shape::Line(l) => {
                let default_band = match cfg.units {
                    Units::Normalized => 0.01,
                    Units::Pixels => 5.0,
                };
                let band = l.band.unwrap_or(default_band) * sx.max(sy);
                let ends = px(&l.line);
                State::Line(line::LineState::new(ends[0], ends[1], band))
            }
            Shape::Queue(q) => {
                let s = px(&q.service_line);
                State::Queue(Box::new(queue::QueueState::new(
                    px(&q.polygon),
                    (s[0], s[1]),
                )))
            }
            Shape::Shelf(s) => State::Shelf(shelf::ShelfState::new(s.rows, s.bays)),
        };
        Ok(Self {
            name: cfg.name.clone(),
            kind: cfg.kind(),
            state,
        })
    }

    /// A shelf zone's cells, row by row, as last read (`None`: not read yet); `None` for other
    /// zones.
    pub fn shelf_cells(&self) -> Option<&[Option<CellState>]> {
        match &self.state {
            State::Shelf(s) => Some(s.cells()),
            _ => None,
        }
    }

    /// Takes one frame's visible tracks at time `t_ms`.
    pub fn observe(&mut self, t_ms: u64, feet: &[Foot]) {
        match &mut self.state {
            State::Area(a) => a.observe(t_ms, feet),
            State::Line(l) => l.observe(t_ms, feet),
            State::Queue(q) => q.observe(t_ms, feet),
            State::Shelf(_) => {}
        }
    }

    /// The video is over: every track ends here (a line counts the crossings under way).
    pub fn end(&mut self) {
        if let State::Line(l) = &mut self.state {
            l.end();
        }
    }

    /// One sample of a shelf zone's cells, row by row; `None` for a cell a person hid. Ignored
    /// by other zones, and when the count of cells does not match.
    pub fn observe_shelf(&mut self, readings: &[Option<CellState>]) {
        if let State::Shelf(s) = &mut self.state {
            s.observe(readings);
        }
    }

    /// A metric's value; `None` when it has none (e.g. no wait measured yet) or belongs to
    /// another kind. Called per rule per frame, so it reads the state directly; only a wait
    /// percentile copies the window's waits.
    pub fn metric(&self, metric: Metric) -> Option<f64> {
        match &self.state {
            State::Area(a) => a.metric(metric),
            State::Line(l) => l.metric(metric),
            State::Queue(q) => q.metric(metric),
            State::Shelf(s) => s.metric(metric),
        }
    }

    /// The metrics of the window so far.
    pub fn metrics(&self) -> ZoneMetrics {
        match &self.state {
            State::Area(a) => a.metrics(),
            State::Line(l) => l.metrics(),
            State::Queue(q) => q.metrics(),
            State::Shelf(s) => s.metrics(),
        }
    }

    /// Ends a summary window: counters restart, running state (levels, who is in the queue) stays.
    pub fn roll(&mut self) {
        match &mut self.state {
            State::Area(a) => a.roll(),
            State::Line(l) => l.roll(),
            State::Queue(q) => q.roll(),
            State::Shelf(s) => s.roll(),
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
        // Another kind's field is refused where the config is read, like an unknown field.
        let e = toml::from_str::<ZoneConfig>(
            "name = \"floor\"\nkind = \"area\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.5, 0.5]]\nrows = 2\nband = 0.1",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("zone \"floor\" is an area zone and cannot have `band` (only line zones have it), `rows` (only shelf zones have it)"),
            "{e}"
        );
    }

    fn seen(id: u64, x: f32, y: f32) -> Foot {
        Foot {
            id,
            at: (x, y),
            origin: (x, y),
            seen: true,
            height: 0.0,
        }
    }

    #[test]
    fn line_counts_each_crossing_once_per_direction_despite_jitter() {
        // Horizontal line across the middle; "in" = walking down the image.
        let mut z =
            zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]\nband = 0.02");
        let mut t = 0;
        // Each position held for `hold` frames of 100 ms.
        let mut walk = |z: &mut Zone, id: u64, hold: usize, ys: &[f32]| {
            for &y in ys {
                for _ in 0..hold {
                    t += 100;
                    z.observe(t, &[seen(id, 50.0, y)]);
                }
            }
        };
        // Person 1 walks down, jittering on the line (within the band and across it).
        walk(
            &mut z,
            1,
            1,
            &[30.0, 45.0, 49.5, 50.5, 49.0, 51.0, 60.0, 70.0],
        );
        // Person 2 walks up; person 3 walks down, turns back up and down again, a second on each
        // side; person 5 steps over and back within a frame, which is a wobble, not a crossing.
        walk(&mut z, 2, 1, &[80.0, 60.0, 40.0, 20.0]);
        walk(&mut z, 3, 10, &[20.0, 60.0, 40.0, 70.0]);
        walk(&mut z, 5, 1, &[30.0, 30.0, 60.0, 30.0, 30.0]);
        // Person 4 crosses the infinite line but outside the segment: not counted.
        z.observe(t + 100, &[seen(4, 150.0, 20.0)]);
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 3, out: 2 });
    }

    #[test]
    fn a_foot_jittering_within_a_tenth_of_the_persons_height_does_not_cross() {
        // The configured band is 1 px on a 100 px frame; the person is 40 px tall, so their
        // foot must be 4 px past the line to change side.
        let mut z =
            zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]\nband = 0.01");
        let tall = |id: u64, y: f32| Foot {
            height: 40.0,
            ..seen(id, 50.0, y)
        };
        // Person 1 walks along the line, its foot 2-3 px either side of it.
        for (i, y) in [42.0, 47.0, 52.5, 47.5, 53.0, 47.0, 52.0]
            .into_iter()
            .enumerate()
        {
            z.observe(100 * i as u64, &[tall(1, y)]);
        }
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 0, out: 0 });
        // Person 2 walks across and stays past the line: one "in".
        for (i, y) in [
            40.0, 48.0, 52.0, 60.0, 60.0, 62.0, 64.0, 66.0, 68.0, 70.0, 72.0, 74.0, 76.0,
        ]
        .into_iter()
        .enumerate()
        {
            z.observe(1_000 + 100 * i as u64, &[tall(2, y)]);
        }
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
    }

    #[test]
    fn a_crossing_made_before_confirmation_counts_from_the_origin() {
        let mut z = zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]");
        // First detected above the line, confirmed already below it: one "in".
        let mut f = seen(1, 50.0, 60.0);
        f.origin = (50.0, 30.0);
        z.observe(100, &[f]);
        z.observe(200, &[seen(1, 50.0, 70.0)]);
        assert_eq!(
            z.metrics(),
            ZoneMetrics::Line { r#in: 0, out: 0 },
            "not settled yet"
        );
        z.observe(900, &[seen(1, 50.0, 75.0)]);
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
    }

    #[test]
    fn a_track_that_breaks_at_the_line_is_counted_by_the_track_that_continues_it() {
        let mut z = zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]");
        let tall = |id: u64, y: f32| Foot {
            height: 20.0,
            ..seen(id, 50.0, y)
        };
        let lost = |id: u64, y: f32| Foot {
            seen: false,
            ..tall(id, y)
        };
        z.observe(0, &[tall(1, 30.0)]);
        z.observe(100, &[tall(1, 40.0)]);
        // Track 1 is lost just before the line; track 2 starts just past it, 15 px away.
        let mut born = tall(2, 55.0);
        born.origin = (50.0, 55.0);
        for t in (200..=1_500).step_by(100) {
            z.observe(t, &[lost(1, 40.0), born]);
            born.at.1 += 1.0;
        }
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
        // Track 1 comes back where it was lost: the tracker found its person again, track 2
        // was someone else, and nobody crossed twice.
        for t in (1_600..=3_000).step_by(100) {
            z.observe(t, &[tall(1, 38.0), born]);
        }
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
    }

    #[test]
    fn someone_first_seen_on_the_line_who_walks_off_it_has_crossed() {
        let mut z =
            zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]\nband = 0.05");
        // Out from behind another shopper 2 px above the line (inside the 5 px band), then down.
        let mut f = seen(1, 50.0, 48.0);
        for t in (0..=1_500).step_by(100) {
            z.observe(t, &[f]);
            f.at.1 += 2.0;
        }
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
    }

    #[test]
    fn a_crossing_under_way_when_the_track_or_the_video_ends_counts() {
        let mut z = zone("name = \"door\"\nkind = \"line\"\nline = [[0.0, 0.5], [1.0, 0.5]]");
        z.observe(0, &[seen(1, 50.0, 30.0)]);
        z.observe(100, &[seen(1, 50.0, 70.0)]);
        z.observe(200, &[]);
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 0 });
        z.observe(300, &[seen(2, 50.0, 70.0)]);
        z.observe(400, &[seen(2, 50.0, 30.0)]);
        z.end();
        assert_eq!(z.metrics(), ZoneMetrics::Line { r#in: 1, out: 1 });
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
    fn every_kind_writes_back_as_it_was_read() {
        for text in [
            "name = \"a\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]\ncongestion = { medium = 2, high = 4 }",
            "name = \"l\"\nkind = \"line\"\nunits = \"pixels\"\nline = [[0.0, 5.0], [9.0, 5.0]]\nband = 2.0",
            "name = \"q\"\nkind = \"queue\"\npolygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]]\nservice_line = [[0.5, 0.0], [0.5, 1.0]]",
            "name = \"s\"\nkind = \"shelf\"\npolygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.5], [0.1, 0.5]]\nrows = 3\nbays = 2",
        ] {
            let zone: ZoneConfig = toml::from_str(text).unwrap();
            let again: ZoneConfig = toml::from_str(&toml::to_string(&zone).unwrap()).unwrap();
            assert_eq!(zone, again, "{text}");
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.9), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
