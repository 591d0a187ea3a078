//! Scoring a person detector frame by frame against annotated boxes, the way the COCO
//! evaluation does: detections of all frames ranked by score, each matched greedily in its frame
//! to the unmatched ground-truth box it overlaps most (IoU at or above the threshold), average
//! precision as the area under the precision envelope (all-point interpolation), and AP[.5:.95]
//! as the mean over ten IoU thresholds. At the operating threshold: precision, recall, F1 and the
//! per-frame count error, which is what store ops feel. Pure: boxes in, numbers out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::detect::{BBox, Detection};

/// The ten IoU thresholds of AP[.5:.95].
pub const COCO_IOUS: [f32; 10] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95];

/// One frame: its annotated people and what the detector reported (any score).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub truth: Vec<BBox>,
    pub detections: Vec<Detection>,
}

/// A point of the precision-recall curve: the detections scored at least `score`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrPoint {
    pub score: f32,
    pub precision: f64,
    pub recall: f64,
}

/// The figures at one score threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtThreshold {
    pub score: f32,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Mean over frames of |detections − people|.
    pub count_mae: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scores {
    pub frames: usize,
    pub truth: usize,
    pub ap50: f64,
    pub ap50_95: f64,
    pub operating: AtThreshold,
    /// The threshold with the highest F1 on this data.
    pub best_f1: AtThreshold,
    /// At IoU 0.5, one point per distinct score.
    pub curve: Vec<PrPoint>,
}

/// Each detection's score and whether it matched a person, best score first, at `iou`.
fn ranked(frames: &[Frame], iou: f32) -> Vec<(f32, bool)> {
    let mut out = Vec::new();
    for f in frames {
        let mut order: Vec<&Detection> = f.detections.iter().collect();
        order.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut taken = vec![false; f.truth.len()];
        for d in order {
            let best = f
                .truth
                .iter()
                .enumerate()
                .filter(|(i, _)| !taken[*i])
                .map(|(i, t)| (i, d.bbox.iou(t)))
                .filter(|(_, o)| *o >= iou)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((i, _)) = best {
                taken[i] = true;
            }
            out.push((d.score, best.is_some()));
        }
    }
    // Stable: equal scores keep frame order, so results do not depend on sort internals.
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out
}

/// Precision and recall after each distinct score, highest score first.
fn curve(ranked: &[(f32, bool)], truth: usize) -> Vec<PrPoint> {
    let mut points = Vec::new();
    let (mut tp, mut fp) = (0usize, 0usize);
    for (i, (score, hit)) in ranked.iter().enumerate() {
        if *hit {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_score = ranked.get(i + 1).is_none_or(|next| next.0 != *score);
        if last_of_score {
            points.push(PrPoint {
                score: *score,
                precision: tp as f64 / (tp + fp) as f64,
                recall: if truth == 0 {
                    0.0
                } else {
                    tp as f64 / truth as f64
                },
            });
        }
    }
    points
}

/// Area under the precision envelope (precision made non-increasing in recall).
fn average_precision(points: &[PrPoint]) -> f64 {
    let mut envelope: Vec<(f64, f64)> = points.iter().map(|p| (p.recall, p.precision)).collect();
    for i in (0..envelope.len().saturating_sub(1)).rev() {
        envelope[i].1 = envelope[i].1.max(envelope[i + 1].1);
    }
    let mut ap = 0.0;
    let mut last_recall = 0.0;
    for (recall, precision) in envelope {
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    ap
}

/// Precision, recall, F1 and count error counting only detections scored at least `score`.
pub fn at_threshold(frames: &[Frame], score: f32) -> AtThreshold {
    let kept: Vec<Frame> = frames
        .iter()
        .map(|f| Frame {
            truth: f.truth.clone(),
            detections: f
                .detections
                .iter()
                .copied()
                .filter(|d| d.score >= score)
                .collect(),
        })
        .collect();
    let hits = ranked(&kept, 0.5);
    let tp = hits.iter().filter(|h| h.1).count() as f64;
    let detected = hits.len() as f64;
    let truth: usize = frames.iter().map(|f| f.truth.len()).sum();
    let precision = if detected > 0.0 { tp / detected } else { 1.0 };
    let recall = if truth > 0 { tp / truth as f64 } else { 1.0 };
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    let count_mae = kept
        .iter()
        .map(|f| (f.detections.len() as f64 - f.truth.len() as f64).abs())
        .sum::<f64>()
        / frames.len().max(1) as f64;
    AtThreshold {
        score,
        precision,
        recall,
        f1,
        count_mae,
    }
}

/// Scores `frames` with `operating` as the detector's score threshold.
pub fn score(frames: &[Frame], operating: f32) -> Scores {
    let truth: usize = frames.iter().map(|f| f.truth.len()).sum();
    let points = curve(&ranked(frames, 0.5), truth);
    let ap50 = average_precision(&points);
    let ap50_95 = COCO_IOUS
        .iter()
        .map(|&iou| average_precision(&curve(&ranked(frames, iou), truth)))
        .sum::<f64>()
        / COCO_IOUS.len() as f64;
    let best_f1 = points
        .iter()
        .map(|p| at_threshold(frames, p.score))
        .max_by(|a, b| a.f1.total_cmp(&b.f1))
        .unwrap_or_else(|| at_threshold(frames, operating));
    Scores {
        frames: frames.len(),
        truth,
        ap50,
        ap50_95,
        operating: at_threshold(frames, operating),
        best_f1,
        curve: points,
    }
}

/// Ground truth from MOT rows, by 1-based frame; rows with `conf` 0 (MOT's "ignore") are left
/// out. Frames from 1 to `frames` exist even when nobody is in them.
pub fn truth_by_frame(rows: &[crate::analytics::mot::MotRow], frames: u64) -> Vec<Vec<BBox>> {
    let mut by: BTreeMap<u64, Vec<BBox>> = (1..=frames).map(|f| (f, Vec::new())).collect();
    for r in rows.iter().filter(|r| r.conf != 0.0) {
        by.entry(r.frame).or_default().push(r.bbox);
    }
    by.into_values().collect()
}

/// The precision-recall curve as a small standalone SVG, with the operating point marked.
pub fn pr_svg(s: &Scores, title: &str) -> String {
    let (w, h, m) = (480.0, 400.0, 50.0);
    let x = |r: f64| m + r * (w - 2.0 * m);
    let y = |p: f64| h - m - p * (h - 2.0 * m);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"20\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
        w / 2.0,
        escape(title)
    );
    for i in 0..=10 {
        let v = f64::from(i) / 10.0;
        svg.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n\
             <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{v:.1}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>\n",
            x(v),
            y(0.0),
            x(v),
            y(1.0),
            x(0.0),
            y(v),
            x(1.0),
            y(v),
            x(v),
            h - m + 16.0,
            m - 6.0,
            y(v) + 4.0
        ));
    }
    let points: Vec<String> = s
        .curve
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.recall), y(p.precision)))
        .collect();
    svg.push_str(&format!(
        "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>\n\
         <circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"#d62728\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\">score {:.2}: P {:.2}, R {:.2}</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">recall</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">precision</text>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">AP50 {:.3}, AP[.5:.95] {:.3}</text>\n</svg>\n",
        points.join(" "),
        x(s.operating.recall),
        y(s.operating.precision),
        x(s.operating.recall) + 8.0,
        y(s.operating.precision) - 8.0,
        s.operating.score,
        s.operating.precision,
        s.operating.recall,
        w / 2.0,
        h - 14.0,
        h / 2.0,
        h / 2.0,
        w - m,
        m + 16.0,
        s.ap50,
        s.ap50_95
    ));
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, y: f32) -> BBox {
        BBox {
            x0: x,
            y0: y,
            x1: x + 10.0,
            y1: y + 10.0,
        }
    }

    fn d(x: f32, y: f32, score: f32) -> Detection {
        Detection {
            class: 0,
            score,
            bbox: b(x, y),
        }
    }

    /// Two frames, three people. Ranked: 0.9 hit, 0.8 miss, 0.7 hit, 0.6 hit (a second box on
    /// an already matched person is a miss: 0.5).
    fn fixture() -> Vec<Frame> {
        vec![
            Frame {
                truth: vec![b(0.0, 0.0), b(100.0, 0.0)],
                detections: vec![d(0.0, 0.0, 0.9), d(50.0, 50.0, 0.8), d(101.0, 0.0, 0.7)],
            },
            Frame {
                truth: vec![b(0.0, 0.0)],
                detections: vec![d(0.0, 1.0, 0.6), d(0.0, 0.0, 0.5)],
            },
        ]
    }

    #[test]
    fn average_precision_matches_the_hand_computation() {
        let s = score(&fixture(), 0.65);
        // PR points: (R 1/3, P 1), (1/3, 1/2), (2/3, 2/3), (1, 3/4), (1, 3/5).
        // Envelope: 1, 3/4, 3/4, 3/4, 3/5 → AP = 1/3·1 + 0 + 1/3·3/4 + 1/3·3/4 + 0 = 5/6.
        assert!((s.ap50 - 5.0 / 6.0).abs() < 1e-12, "{}", s.ap50);
        assert_eq!(s.truth, 3);
        assert_eq!(s.curve.len(), 5);
        // At 0.65: 3 kept, 2 hits; frame counts 3 vs 2 and 0 vs 1 → MAE 1.
        let o = s.operating;
        assert!((o.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.count_mae - 1.0).abs() < 1e-12);
        // Best F1 keeps 0.6 and up: P 3/4, R 1, F1 6/7.
        assert!((s.best_f1.f1 - 6.0 / 7.0).abs() < 1e-12, "{:?}", s.best_f1);
        assert_eq!(s.best_f1.score, 0.6);
    }

    #[test]
    fn stricter_overlaps_lower_ap50_95_and_shifted_boxes_fail_them() {
        // Shifted by 1 px of 10: IoU 90/110 = 0.818, a hit up to IoU 0.8 only.
        let frames = vec![Frame {
            truth: vec![b(0.0, 0.0)],
            detections: vec![d(1.0, 0.0, 0.9)],
        }];
        let s = score(&frames, 0.5);
        assert_eq!(s.ap50, 1.0);
        // Hits at 0.5 … 0.8 (7 of 10 thresholds).
        assert!((s.ap50_95 - 0.7).abs() < 1e-12, "{}", s.ap50_95);
    }

    #[test]
    fn empty_detections_and_empty_frames_are_defined() {
        let frames = vec![
            Frame {
                truth: vec![b(0.0, 0.0)],
                detections: vec![],
            },
            Frame::default(),
        ];
        let s = score(&frames, 0.5);
        assert_eq!(
            (s.ap50, s.operating.recall, s.operating.count_mae),
            (0.0, 0.0, 0.5)
        );
        assert!(pr_svg(&s, "a <b>").contains("a &lt;b&gt;"));
    }

    #[test]
    fn ignored_truth_rows_are_left_out_and_empty_frames_kept() {
        let rows =
            crate::analytics::mot::parse("1,1,0,0,10,10,1\n1,2,0,0,10,10,0\n3,1,0,0,10,10,-1\n")
                .unwrap();
        let t = truth_by_frame(&rows, 3);
        assert_eq!(t.iter().map(Vec::len).collect::<Vec<_>>(), [1, 0, 1]);
    }
}
