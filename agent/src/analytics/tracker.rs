//! ByteTrack-style multi-object tracking: a constant-velocity Kalman filter per track, optimal
//! (Kuhn–Munkres) IoU assignment in two stages — confident detections first, then weak ones
//! against tracks the first stage left over — confirmation after a number of hits, and a buffer
//! that keeps lost tracks alive for a while so a person hidden for a few frames keeps their id.
//!
//! The filter's state is (cx, cy, w, h) with a velocity each. ByteTrack's 8-state filter has
//! block-diagonal transition and observation matrices and diagonal noise, so it is exactly four
//! independent 2-state filters; that is how it is written here.

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::{Deserialize, Serialize};

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
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.5,
            low_score: 0.1,
            new_track_score: 0.6,
            match_iou: 0.2,
            second_iou: 0.5,
            min_hits: 3,
            max_lost_frames: 30,
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
        if self.min_hits == 0 {
            p.push((format!("{prefix}.min_hits"), "must be at least 1".into()));
        }
        p
    }
}

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
        let b = self.bbox();
        ((b.x0 + b.x1) / 2.0, b.y1)
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
}

/// Optimal one-to-one matching maximising total IoU; pairs below `min_iou` are not matched.
fn assign(
    tracks: &[usize],
    dets: &[usize],
    iou: impl Fn(usize, usize) -> f32,
    min_iou: f32,
) -> Vec<(usize, usize)> {
    if tracks.is_empty() || dets.is_empty() {
        return Vec::new();
    }
    let transpose = tracks.len() > dets.len();
    let (rows, cols) = if transpose {
        (dets, tracks)
    } else {
        (tracks, dets)
    };
    let pair = |r: usize, c: usize| {
        if transpose {
            (cols[c], rows[r])
        } else {
            (rows[r], cols[c])
        }
    };
    let weight = |r: usize, c: usize| {
        let (t, d) = pair(r, c);
        let v = iou(t, d);
        if v >= min_iou {
            (v * 1_000_000.0) as i64
        } else {
            0
        }
    };
    let values: Vec<i64> = (0..rows.len())
        .flat_map(|r| (0..cols.len()).map(move |c| (r, c)))
        .map(|(r, c)| weight(r, c))
        .collect();
    let Ok(matrix) = Matrix::from_vec(rows.len(), cols.len(), values) else {
        return Vec::new();
    };
    let (_, assignment) = kuhn_munkres(&matrix);
    assignment
        .into_iter()
        .enumerate()
        .filter(|&(r, c)| matrix[(r, c)] > 0)
        .map(|(r, c)| pair(r, c))
        .collect()
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Advances one frame with that frame's person detections.
    pub fn update(&mut self, detections: &[Detection]) {
        let cfg = self.cfg;
        self.tracks.iter_mut().for_each(Track::predict);
        let boxes: Vec<BBox> = self.tracks.iter().map(Track::bbox).collect();
        let iou = |t: usize, d: usize| boxes[t].iou(&detections[d].bbox);

        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= cfg.high_score)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| {
                detections[i].score >= cfg.low_score && detections[i].score < cfg.high_score
            })
            .collect();
        let established: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].confirmed)
            .collect();
        let tentative: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| !self.tracks[t].confirmed)
            .collect();

        let mut matched_track = vec![false; self.tracks.len()];
        let mut matched_det = vec![false; detections.len()];
        let mut matches = assign(&established, &high, iou, cfg.match_iou);
        let mark = |m: &[(usize, usize)], mt: &mut Vec<bool>, md: &mut Vec<bool>| {
            for &(t, d) in m {
                mt[t] = true;
                md[d] = true;
            }
        };
        mark(&matches, &mut matched_track, &mut matched_det);
        // Second stage: weak detections keep recently seen tracks alive through occlusion.
        let recent: Vec<usize> = established
            .iter()
            .copied()
            .filter(|&t| !matched_track[t] && self.tracks[t].lost_frames == 0)
            .collect();
        let second = assign(&recent, &low, iou, cfg.second_iou);
        mark(&second, &mut matched_track, &mut matched_det);
        matches.extend(second);
        let unmatched_high: Vec<usize> =
            high.iter().copied().filter(|&d| !matched_det[d]).collect();
        let third = assign(&tentative, &unmatched_high, iou, cfg.match_iou);
        mark(&third, &mut matched_track, &mut matched_det);
        matches.extend(third);

        for &(t, d) in &matches {
            self.tracks[t].update(&detections[d], cfg.min_hits);
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            if !matched_track[t] {
                track.lost_frames += 1;
            }
        }
        self.tracks.retain(|t| {
            if t.confirmed {
                t.lost_frames <= cfg.max_lost_frames
            } else {
                t.lost_frames == 0
            }
        });
        for d in unmatched_high {
            if !matched_det[d] && detections[d].score >= cfg.new_track_score {
                let mut track = Track::new(self.next_id, &detections[d]);
                track.confirmed = cfg.min_hits <= 1;
                self.tracks.push(track);
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
            if f < 2 {
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
    fn assignment_is_optimal_not_greedy() {
        // Greedy would give track 0 the detection it overlaps most (IoU 0.6) and leave track 1
        // with nothing; the optimum matches both.
        let ious = [[0.6f32, 0.5], [0.55, 0.0]];
        let m = assign(&[0, 1], &[0, 1], |t, d| ious[t][d], 0.2);
        let mut m = m;
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
