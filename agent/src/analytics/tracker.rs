//! ByteTrack-style multi-object tracking: a constant-velocity Kalman filter per track, optimal
//! (Hungarian, see `assignment`) IoU assignment in two stages — confident detections first, then weak ones
//! against tracks the first stage left over — confirmation after a number of hits, and a buffer
//! that keeps lost tracks alive for a while so a person hidden for a few frames keeps their id.
//!
//! The filter's state is (cx, cy, w, h) with a velocity each. ByteTrack's 8-state filter has
//! block-diagonal transition and observation matrices and diagonal noise, so it is exactly four
//! independent 2-state filters; that is how it is written here.

use serde::{Deserialize, Serialize};

use super::assignment::Assignment;
use crate::detect::{BBox, Detection};

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score take part in the first association and may start tracks.
    pub high_score: f32,
    /// Detections between this and `high_score` only extend existing tracks (second stage).
    pub low_score: f32,
    /// Minimum score of an unmatched detection to start a new track.
    pub new_track_score: f32,
    /// Minimum IoU for a match in the first stage.
    pub match_iou: f32,
    /// Minimum IoU for a match in the second (weak detection) stage.
    pub second_iou: f32,
    /// Consecutive hits before a track is confirmed and counted anywhere.
    pub min_hits: u32,
    /// Frames a confirmed track may go unseen before it is dropped.
    pub max_lost_frames: u32,
    /// Frames a lost track still counts where the filter predicts it (occupancy, queues, lines):
    /// a missed detection or a brief occlusion does not make a person vanish from the counts.
    pub coast_frames: u32,
    /// Share of a box's size added on every side before IoU is taken (buffered IoU, as in
    /// C-BIoU): at 5 fps a walking person moves about half their width between frames, and
    /// plain boxes stop overlapping after one missed frame.
    pub match_buffer: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: crate::detect::CONFIDENT_SCORE,
            low_score: 0.1,
            new_track_score: 0.6,
            match_iou: 0.15,
            second_iou: 0.3,
            min_hits: 2,
            max_lost_frames: 30,
            coast_frames: 3,
            match_buffer: 0.0,
        }
    }
}

impl TrackerConfig {
    pub fn problems(&self, prefix: &str) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        for (k, v) in [
            ("high_score", self.high_score),
            ("low_score", self.low_score),
            ("new_track_score", self.new_track_score),
            ("match_iou", self.match_iou),
            ("second_iou", self.second_iou),
        ] {
            if !unit(v) {
                p.push((format!("{prefix}.{k}"), format!("{v} is outside 0..=1")));
            }
        }
        if self.low_score > self.high_score {
            p.push((
                format!("{prefix}.low_score"),
                "must not exceed high_score".into(),
            ));
        }
        if !(0.0..=2.0).contains(&self.match_buffer) {
            p.push((
                format!("{prefix}.match_buffer"),
                format!("{} is outside 0..=2", self.match_buffer),
            ));
        }
        if self.min_hits == 0 {
            p.push((format!("{prefix}.min_hits"), "must be at least 1".into()));
        }
        p
    }
}

/// Frames an unconfirmed track may miss and still be confirmed: with one detection in ten
/// missed or weak, three strictly consecutive hits fail half the time, and each restart moves
/// the track's origin past a line the person was crossing. A random false box does not come
/// back to the same place, so this does not confirm noise.
const TENTATIVE_GRACE_FRAMES: u32 = 2;

const W_POS: f32 = 1.0 / 20.0;
const W_VEL: f32 = 1.0 / 160.0;

/// One coordinate with its velocity: `x' = x + v`, observed directly.
#[derive(Debug, Clone, Copy)]
struct Axis {
    x: f32,
    v: f32,
    p: [[f32; 2]; 2],
}

impl Axis {
    fn new(x: f32, scale: f32) -> Self {
        let (sp, sv) = (2.0 * W_POS * scale, 10.0 * W_VEL * scale);
        Self {
            x,
            v: 0.0,
            p: [[sp * sp, 0.0], [0.0, sv * sv]],
        }
    }

    fn predict(&mut self, scale: f32) {
        let (qp, qv) = ((W_POS * scale).powi(2), (W_VEL * scale).powi(2));
        let [[a, b], [c, d]] = self.p;
        self.x += self.v;
        // P = F P Fᵀ + Q with F = [[1,1],[0,1]].
        self.p = [[a + b + c + d + qp, b + d], [c + d, d + qv]];
    }

    fn update(&mut self, z: f32, scale: f32) {
        let r = (W_POS * scale).powi(2);
        let [[a, b], [c, d]] = self.p;
        let s = a + r;
        let (k0, k1) = (a / s, c / s);
        let y = z - self.x;
        self.x += k0 * y;
        self.v += k1 * y;
        self.p = [[(1.0 - k0) * a, (1.0 - k0) * b], [c - k1 * a, d - k1 * b]];
    }
}

#[derive(Debug, Clone)]
pub struct Track {
    /// Unique for the tracker's lifetime; never leaves the box.
    pub id: u64,
    pub score: f32,
    pub hits: u32,
    pub confirmed: bool,
    /// Frames since the last matched detection (0 = seen this frame).
    pub lost_frames: u32,
    /// Where the person stood when first detected: lines count a crossing made before the
    /// track was confirmed.
    pub origin: (f32, f32),
    axes: [Axis; 4],
}

impl Track {
    fn new(id: u64, d: &Detection) -> Self {
        let b = d.bbox;
        let h = b.height().max(1.0);
        let z = [
            (b.x0 + b.x1) / 2.0,
            (b.y0 + b.y1) / 2.0,
            b.width(),
            b.height(),
        ];
        Self {
            id,
            score: d.score,
            hits: 1,
            confirmed: false,
            lost_frames: 0,
            origin: b.foot(),
            axes: z.map(|v| Axis::new(v, h)),
        }
    }

    fn scale(&self) -> f32 {
        self.axes[3].x.max(1.0)
    }

    /// The filter's current box estimate.
    pub fn bbox(&self) -> BBox {
        let [cx, cy, w, h] = self.axes.map(|a| a.x);
        BBox::from_center(cx, cy, w.max(1.0), h.max(1.0))
    }

    /// Bottom-centre of the box: where the person stands, which is what zones test.
    pub fn foot(&self) -> (f32, f32) {
        self.bbox().foot()
    }

    /// Confirmed and matched this frame: what the analytics count.
    pub fn visible(&self) -> bool {
        self.confirmed && self.lost_frames == 0
    }

    fn predict(&mut self) {
        let s = self.scale();
        self.axes.iter_mut().for_each(|a| a.predict(s));
    }

    fn update(&mut self, d: &Detection, min_hits: u32) {
        let b = d.bbox;
        let z = [
            (b.x0 + b.x1) / 2.0,
            (b.y0 + b.y1) / 2.0,
            b.width(),
            b.height(),
        ];
        let s = b.height().max(1.0);
        for (a, z) in self.axes.iter_mut().zip(z) {
            a.update(z, s);
        }
        self.score = d.score;
        self.hits += 1;
        self.lost_frames = 0;
        self.confirmed |= self.hits >= min_hits;
    }
}

#[derive(Debug, Clone)]
pub struct Tracker {
    cfg: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
    scratch: Scratch,
}

/// People in view the per-frame buffers are sized for at start; a larger crowd grows them once.
pub const CROWD: usize = 64;

/// Per-frame working lists, kept between frames so that tracking allocates nothing once the
/// crowd has been seen at its largest.
#[derive(Debug, Clone)]
struct Scratch {
    boxes: Vec<BBox>,
    high: Vec<usize>,
    low: Vec<usize>,
    established: Vec<usize>,
    tentative: Vec<usize>,
    recent: Vec<usize>,
    unmatched_high: Vec<usize>,
    matched_track: Vec<bool>,
    matched_det: Vec<bool>,
    matches: Vec<(usize, usize)>,
    assignment: Assignment,
}

impl Scratch {
    fn new() -> Self {
        let list = || Vec::with_capacity(CROWD);
        let flags = || Vec::with_capacity(CROWD);
        Self {
            boxes: Vec::with_capacity(CROWD),
            high: list(),
            low: list(),
            established: list(),
            tentative: list(),
            recent: list(),
            unmatched_high: list(),
            matched_track: flags(),
            matched_det: flags(),
            matches: Vec::with_capacity(CROWD),
            assignment: Assignment::with_capacity(CROWD, CROWD),
        }
    }
}

/// Appends to `out` the optimal one-to-one (track, detection) matching maximising total IoU;
/// pairs below `min_iou` are not matched.
fn assign(
    solver: &mut Assignment,
    tracks: &[usize],
    dets: &[usize],
    iou: impl Fn(usize, usize) -> f32,
    min_iou: f32,
    out: &mut Vec<(usize, usize)>,
) {
    let weight = |r: usize, c: usize| {
        let v = iou(tracks[r], dets[c]);
        if v >= min_iou {
            (v * 1_000_000.0) as i64
        } else {
            0
        }
    };
    let first = out.len();
    solver.solve(tracks.len(), dets.len(), weight, out);
    for pair in &mut out[first..] {
        *pair = (tracks[pair.0], dets[pair.1]);
    }
}

/// Clears `v` and refills it with the indices below `n` that pass `keep`.
fn select(v: &mut Vec<usize>, n: usize, keep: impl Fn(usize) -> bool) {
    v.clear();
    v.extend((0..n).filter(|&i| keep(i)));
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::with_capacity(CROWD),
            next_id: 1,
            scratch: Scratch::new(),
        }
    }

    pub fn config(&self) -> TrackerConfig {
        self.cfg
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Advances one frame with that frame's person detections.
    pub fn update(&mut self, detections: &[Detection]) {
        let cfg = self.cfg;
        let Scratch {
            boxes,
            high,
            low,
            established,
            tentative,
            recent,
            unmatched_high,
            matched_track,
            matched_det,
            matches,
            assignment,
        } = &mut self.scratch;
        let tracks = &mut self.tracks;
        tracks.iter_mut().for_each(Track::predict);
        boxes.clear();
        boxes.extend(tracks.iter().map(|t| t.bbox().expanded(cfg.match_buffer)));
        let iou = |t: usize, d: usize| boxes[t].iou(&detections[d].bbox.expanded(cfg.match_buffer));

        let n = detections.len();
        select(high, n, |i| detections[i].score >= cfg.high_score);
        select(low, n, |i| {
            detections[i].score >= cfg.low_score && detections[i].score < cfg.high_score
        });
        select(established, tracks.len(), |t| tracks[t].confirmed);
        select(tentative, tracks.len(), |t| !tracks[t].confirmed);

        matched_track.clear();
        matched_track.resize(tracks.len(), false);
        matched_det.clear();
        matched_det.resize(n, false);
        matches.clear();
        let mark = |m: &[(usize, usize)], mt: &mut [bool], md: &mut [bool]| {
            for &(t, d) in m {
                mt[t] = true;
                md[d] = true;
            }
        };
        assign(assignment, established, high, iou, cfg.match_iou, matches);
        mark(matches, matched_track, matched_det);
        // Second stage: weak detections keep recently seen tracks alive through occlusion.
        recent.clear();
        recent.extend(
            established
                .iter()
                .copied()
                .filter(|&t| !matched_track[t] && tracks[t].lost_frames == 0),
        );
        let stage = matches.len();
        assign(assignment, recent, low, iou, cfg.second_iou, matches);
        mark(&matches[stage..], matched_track, matched_det);
        unmatched_high.clear();
        unmatched_high.extend(high.iter().copied().filter(|&d| !matched_det[d]));
        let stage = matches.len();
        assign(
            assignment,
            tentative,
            unmatched_high,
            iou,
            cfg.match_iou,
            matches,
        );
        mark(&matches[stage..], matched_track, matched_det);

        for &(t, d) in matches.iter() {
            tracks[t].update(&detections[d], cfg.min_hits);
        }
        for (t, track) in tracks.iter_mut().enumerate() {
            if !matched_track[t] {
                track.lost_frames += 1;
            }
        }
        tracks.retain(|t| {
            if t.confirmed {
                t.lost_frames <= cfg.max_lost_frames
            } else {
                t.lost_frames <= TENTATIVE_GRACE_FRAMES
            }
        });
        for &d in unmatched_high.iter() {
            if !matched_det[d] && detections[d].score >= cfg.new_track_score {
                let mut track = Track::new(self.next_id, &detections[d]);
                track.confirmed = cfg.min_hits <= 1;
                tracks.push(track);
                self.next_id += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    fn det(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            class: 0,
            score,
            bbox: BBox::new(x, y, x + 20.0, y + 50.0),
        }
    }

    #[test]
    fn a_walking_person_keeps_one_id_and_is_confirmed_after_min_hits() {
        let mut t = Tracker::new(TrackerConfig::default());
        for f in 0..10 {
            t.update(&[det(10.0 + 5.0 * f as f32, 100.0, 0.9)]);
            let visible: Vec<u64> = t
                .tracks()
                .iter()
                .filter(|t| t.visible())
                .map(|t| t.id)
                .collect();
            if f + 1 < TrackerConfig::default().min_hits {
                assert!(visible.is_empty(), "frame {f}: not confirmed yet");
            } else {
                assert_eq!(visible, vec![1], "frame {f}");
            }
        }
        let foot = t.tracks()[0].foot();
        assert!(
            (foot.0 - 65.0).abs() < 3.0 && (foot.1 - 150.0).abs() < 3.0,
            "{foot:?}"
        );
    }

    #[test]
    fn a_weak_detection_keeps_an_occluded_track_alive() {
        let mut t = Tracker::new(TrackerConfig::default());
        for f in 0..5 {
            t.update(&[det(10.0 + 2.0 * f as f32, 100.0, 0.9)]);
        }
        t.update(&[det(20.0, 100.0, 0.3)]);
        assert!(t.tracks()[0].visible(), "matched by the second stage");
        assert_eq!(t.tracks().len(), 1);
    }

    #[test]
    fn a_lost_track_is_dropped_after_the_buffer() {
        let cfg = TrackerConfig {
            max_lost_frames: 3,
            ..TrackerConfig::default()
        };
        let mut t = Tracker::new(cfg);
        for _ in 0..4 {
            t.update(&[det(10.0, 100.0, 0.9)]);
        }
        for _ in 0..3 {
            t.update(&[]);
            assert_eq!(t.tracks().len(), 1);
        }
        t.update(&[]);
        assert!(t.tracks().is_empty());
    }

    #[test]
    fn a_buffer_keeps_a_fast_walker_through_a_missed_frame() {
        // 16 px a frame with 20 px wide boxes: plain boxes of consecutive frames overlap too little,
        // and after a missed frame not at all, while the track has not learnt its speed yet.
        let ids = |buffer: f32| {
            let mut t = Tracker::new(TrackerConfig {
                match_buffer: buffer,
                min_hits: 1,
                ..TrackerConfig::default()
            });
            let mut ids = HashSet::new();
            for f in 0..8 {
                let dets = if f == 2 {
                    vec![]
                } else {
                    vec![det(16.0 * f as f32, 100.0, 0.9)]
                };
                t.update(&dets);
                ids.extend(t.tracks().iter().filter(|t| t.visible()).map(|t| t.id));
            }
            ids.len()
        };
        assert!(ids(0.0) > 1);
        assert_eq!(ids(0.6), 1);
    }

    #[test]
    fn a_tentative_track_survives_one_missed_frame() {
        let mut t = Tracker::new(TrackerConfig::default());
        for dets in [
            vec![det(10.0, 100.0, 0.9)],
            vec![],
            vec![det(12.0, 100.0, 0.9)],
        ] {
            t.update(&dets);
        }
        t.update(&[det(14.0, 100.0, 0.9)]);
        assert_eq!(t.tracks().len(), 1);
        assert!(t.tracks()[0].confirmed);
        assert_eq!(t.tracks()[0].origin, (20.0, 150.0));
    }

    #[test]
    fn assignment_is_optimal_not_greedy() {
        // Greedy would give track 0 the detection it overlaps most (IoU 0.6) and leave track 1
        // with nothing; the optimum matches both.
        let ious = [[0.6f32, 0.5], [0.55, 0.0]];
        let mut m = Vec::new();
        assign(
            &mut Assignment::default(),
            &[0, 1],
            &[0, 1],
            |t, d| ious[t][d],
            0.2,
            &mut m,
        );
        m.sort();
        assert_eq!(m, vec![(0, 1), (1, 0)]);
    }

    fn scenes() -> impl Strategy<Value = Vec<Vec<(f32, f32, f32)>>> {
        prop::collection::vec(
            prop::collection::vec((0.0f32..600.0, 0.0f32..400.0, 0.0f32..1.0), 0..8),
            1..40,
        )
    }

    proptest! {
        #[test]
        fn ids_are_unique_and_each_detection_feeds_at_most_one_track(frames in scenes()) {
            let mut t = Tracker::new(TrackerConfig::default());
            let mut max_id = 0;
            for frame in frames {
                let dets: Vec<Detection> = frame.iter().map(|&(x, y, s)| det(x, y, s)).collect();
                t.update(&dets);
                let ids: HashSet<u64> = t.tracks().iter().map(|t| t.id).collect();
                prop_assert_eq!(ids.len(), t.tracks().len(), "duplicate id");
                let seen = t.tracks().iter().filter(|t| t.lost_frames == 0).count();
                prop_assert!(seen <= dets.len(), "more tracks seen than detections");
                for tr in t.tracks() {
                    prop_assert!(tr.id >= 1 && (tr.id > max_id || ids.contains(&tr.id)));
                }
                max_id = max_id.max(ids.iter().copied().max().unwrap_or(0));
            }
        }

        #[test]
        fn confirmed_tracks_survive_one_missed_frame(x in 0.0f32..500.0, y in 0.0f32..300.0, steps in 3usize..10) {
            let mut t = Tracker::new(TrackerConfig::default());
            for f in 0..steps {
                t.update(&[det(x + f as f32, y, 0.9)]);
            }
            let id = t.tracks()[0].id;
            t.update(&[]);
            t.update(&[det(x + steps as f32 + 1.0, y, 0.9)]);
            prop_assert_eq!(t.tracks().len(), 1);
            prop_assert_eq!(t.tracks()[0].id, id);
            prop_assert!(t.tracks()[0].visible());
        }
    }
}
