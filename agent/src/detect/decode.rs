//! Output decoders: raw model tensors → candidate detections in source pixels.
//!
//! A decoder is planned once per model from the output shapes observed at load (the converted
//! graphs declare symbolic dims), so a mismatch with the manifest is caught before any frame and
//! the per-frame work is plain indexing with no shape logic.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::boxes::{BBox, Detection};
use super::geometry::Geometry;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecoderKind {
    /// NanoDet generalised-focal-loss head: per stride a `[1,N,C]` score map (already sigmoid) and a
    /// `[1,N,4*(reg_max+1)]` distance distribution.
    NanodetGfl,
    /// Ultralytics YOLOv8 export: `[1,4+C,N]`, centre-size boxes in input pixels, no objectness.
    Yolov8,
    /// YOLOv5 export: `[1,N,5+C]`, centre-size boxes, objectness times class score.
    Yolov5,
    /// YOLOX raw head: `[1,N,5+C]` grid offsets and log sizes per stride.
    Yolox,
    /// Already decoded rows `[x0,y0,x1,y1,score,class]` in input pixels.
    Boxes,
    /// MoveNet MultiPose: `[1,K,56]`, one row per person: 17 keypoints as (y, x, score), then
    /// `ymin, xmin, ymax, xmax` as fractions of the input and the person's score. Only the box
    /// and score are read: keypoints never leave the decoder.
    MovenetMultipose,
}

/// Floats in a MoveNet MultiPose row: 17 keypoints × (y, x, score), a box and a score.
const MOVENET_ROW: usize = 17 * 3 + 5;

impl DecoderKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::NanodetGfl => "nanodet-gfl",
            Self::Yolov8 => "yolov8",
            Self::Yolov5 => "yolov5",
            Self::Yolox => "yolox",
            Self::Boxes => "boxes",
            Self::MovenetMultipose => "movenet-multipose",
        }
    }
}

/// What the manifest says about the outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeParams {
    pub kind: DecoderKind,
    pub num_classes: usize,
    /// Class indices to report; others are never decoded.
    pub keep: Vec<u16>,
    pub strides: Vec<u32>,
    pub reg_max: usize,
    pub input_w: u32,
    pub input_h: u32,
}

#[derive(Debug, Error, PartialEq)]
pub enum DecoderError {
    #[error("decoder {decoder}: {what}; the model's outputs are {actual}")]
    Shape {
        decoder: &'static str,
        what: String,
        actual: String,
    },
}

#[derive(Debug, Clone)]
struct Level {
    stride: u32,
    cols: usize,
    cells: usize,
    scores: usize,
    dists: usize,
}

#[derive(Debug, Clone)]
enum Plan {
    Nanodet(Vec<Level>),
    Rows {
        output: usize,
        rows: usize,
        width: usize,
    },
    Yolov8 {
        output: usize,
        anchors: usize,
    },
    Yolox {
        output: usize,
        grid: Vec<(f32, f32, f32)>,
    },
}

#[derive(Debug, Clone)]
pub struct Decoder {
    params: DecodeParams,
    plan: Plan,
}

fn show(shapes: &[Vec<i64>]) -> String {
    let parts: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
    parts.join(", ")
}

impl Decoder {
    /// Plans decoding for outputs of the given shapes, or says which expectation they break.
    pub fn new(params: DecodeParams, shapes: &[Vec<i64>]) -> Result<Self, DecoderError> {
        let err = |what: String| DecoderError::Shape {
            decoder: params.kind.name(),
            what,
            actual: show(shapes),
        };
        let nc = params.num_classes as i64;
        let plan = match params.kind {
            DecoderKind::NanodetGfl => {
                let dist_w = 4 * (params.reg_max as i64 + 1);
                let mut levels = Vec::new();
                for &stride in &params.strides {
                    let cols = params.input_w.div_ceil(stride) as usize;
                    let cells = cols * params.input_h.div_ceil(stride) as usize;
                    let find = |width: i64| {
                        shapes
                            .iter()
                            .position(|s| s.len() == 3 && s[1] == cells as i64 && s[2] == width)
                    };
                    let scores = find(nc).ok_or_else(|| {
                        err(format!(
                            "stride {stride} needs a [1,{cells},{nc}] score output"
                        ))
                    })?;
                    let dists = find(dist_w).ok_or_else(|| {
                        err(format!(
                            "stride {stride} needs a [1,{cells},{dist_w}] box output"
                        ))
                    })?;
                    levels.push(Level {
                        stride,
                        cols,
                        cells,
                        scores,
                        dists,
                    });
                }
                Plan::Nanodet(levels)
            }
            DecoderKind::Yolov8 => match shapes {
                [s] if s.len() == 3 && s[1] == 4 + nc => Plan::Yolov8 {
                    output: 0,
                    anchors: s[2] as usize,
                },
                _ => return Err(err(format!("expected one [1,{},N] output", 4 + nc))),
            },
            DecoderKind::Yolov5 => match shapes {
                [s] if s.len() == 3 && s[2] == 5 + nc => Plan::Rows {
                    output: 0,
                    rows: s[1] as usize,
                    width: s[2] as usize,
                },
                _ => return Err(err(format!("expected one [1,N,{}] output", 5 + nc))),
            },
            DecoderKind::Yolox => {
                let mut grid = Vec::new();
                for &stride in &params.strides {
                    let (gw, gh) = (
                        params.input_w.div_ceil(stride),
                        params.input_h.div_ceil(stride),
                    );
                    for gy in 0..gh {
                        for gx in 0..gw {
                            grid.push((gx as f32, gy as f32, stride as f32));
                        }
                    }
                }
                match shapes {
                    [s] if s.len() == 3 && s[1] == grid.len() as i64 && s[2] == 5 + nc => {
                        Plan::Yolox { output: 0, grid }
                    }
                    _ => {
                        return Err(err(format!(
                            "expected one [1,{},{}] output for strides {:?}",
                            grid.len(),
                            5 + nc,
                            params.strides
                        )));
                    }
                }
            }
            DecoderKind::Boxes => match shapes {
                [s] if s.len() >= 2 && s[s.len() - 1] == 6 => {
                    let rows = s[..s.len() - 1].iter().product::<i64>() as usize;
                    Plan::Rows {
                        output: 0,
                        rows,
                        width: 6,
                    }
                }
                _ => {
                    return Err(err(
                        "expected one [..,N,6] output of x0,y0,x1,y1,score,class".into(),
                    ));
                }
            },
            DecoderKind::MovenetMultipose => match shapes {
                [s] if s.len() == 3 && s[2] == MOVENET_ROW as i64 && nc == 1 => Plan::Rows {
                    output: 0,
                    rows: s[1] as usize,
                    width: MOVENET_ROW,
                },
                _ => {
                    return Err(err(format!(
                        "expected one [1,K,{MOVENET_ROW}] output (17 keypoints, box, score) and \
                         one label, got {nc} labels"
                    )));
                }
            },
        };
        Ok(Self { params, plan })
    }

    /// Number of output tensors decoding reads.
    pub fn outputs_used(&self) -> usize {
        match &self.plan {
            Plan::Nanodet(levels) => levels
                .iter()
                .map(|l| l.scores.max(l.dists) + 1)
                .max()
                .unwrap_or(0),
            Plan::Rows { output, .. }
            | Plan::Yolov8 { output, .. }
            | Plan::Yolox { output, .. } => output + 1,
        }
    }

    /// Appends every candidate with a kept class scoring at least `threshold` to `out`.
    pub fn decode(
        &self,
        outputs: &[&[f32]],
        geo: &Geometry,
        threshold: f32,
        out: &mut Vec<Detection>,
    ) {
        let nc = self.params.num_classes;
        let keep = &self.params.keep;
        let mut push = |class: u16, score: f32, b: BBox| {
            if score.is_finite() && b.x0.is_finite() && b.y1.is_finite() {
                out.push(Detection {
                    class,
                    score,
                    bbox: geo.to_source(b),
                });
            }
        };
        match &self.plan {
            Plan::Nanodet(levels) => {
                let bins = self.params.reg_max + 1;
                for l in levels {
                    let (scores, dists) = (outputs[l.scores], outputs[l.dists]);
                    for cell in 0..l.cells {
                        for &k in keep {
                            let s = scores[cell * nc + k as usize];
                            if s < threshold {
                                continue;
                            }
                            let d = &dists[cell * 4 * bins..][..4 * bins];
                            let side =
                                |j: usize| expectation(&d[j * bins..][..bins]) * l.stride as f32;
                            let cx = (cell % l.cols) as f32 * l.stride as f32;
                            let cy = (cell / l.cols) as f32 * l.stride as f32;
                            push(
                                k,
                                s,
                                BBox::new(cx - side(0), cy - side(1), cx + side(2), cy + side(3)),
                            );
                        }
                    }
                }
            }
            Plan::Yolov8 { output, anchors } => {
                let t = outputs[*output];
                let at = |r: usize, n: usize| t[r * anchors + n];
                for n in 0..*anchors {
                    for &k in keep {
                        let s = at(4 + k as usize, n);
                        if s >= threshold {
                            push(
                                k,
                                s,
                                BBox::from_center(at(0, n), at(1, n), at(2, n), at(3, n)),
                            );
                        }
                    }
                }
            }
            Plan::Rows {
                output,
                rows,
                width,
            } => {
                let t = outputs[*output];
                let (w, h) = (self.params.input_w as f32, self.params.input_h as f32);
                for r in t.chunks_exact(*width).take(*rows) {
                    if self.params.kind == DecoderKind::MovenetMultipose {
                        if let &[y0, x0, y1, x1, score] = &r[MOVENET_ROW - 5..]
                            && keep.contains(&0)
                            && score >= threshold
                        {
                            push(0, score, BBox::new(x0 * w, y0 * h, x1 * w, y1 * h));
                        }
                        continue;
                    }
                    if self.params.kind == DecoderKind::Boxes {
                        let class = r[5];
                        if class >= 0.0 && keep.contains(&(class as u16)) && r[4] >= threshold {
                            push(class as u16, r[4], BBox::new(r[0], r[1], r[2], r[3]));
                        }
                        continue;
                    }
                    for &k in keep {
                        let s = r[4] * r[5 + k as usize];
                        if s >= threshold {
                            push(k, s, BBox::from_center(r[0], r[1], r[2], r[3]));
                        }
                    }
                }
            }
            Plan::Yolox { output, grid } => {
                let t = outputs[*output];
                for (r, &(gx, gy, s)) in t.chunks_exact(5 + nc).zip(grid) {
                    for &k in keep {
                        let score = r[4] * r[5 + k as usize];
                        if score >= threshold {
                            let b = BBox::from_center(
                                (r[0] + gx) * s,
                                (r[1] + gy) * s,
                                r[2].exp() * s,
                                r[3].exp() * s,
                            );
                            push(k, score, b);
                        }
                    }
                }
            }
        }
    }
}

/// Softmax expectation over distance bins: `sum(i * softmax(x)_i)`.
fn expectation(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (i, &v) in logits.iter().enumerate() {
        let e = (v - max).exp();
        num += e * i as f32;
        den += e;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::geometry::ResizeMode;

    fn params(kind: DecoderKind, nc: usize, strides: Vec<u32>, w: u32, h: u32) -> DecodeParams {
        DecodeParams {
            kind,
            num_classes: nc,
            keep: vec![0],
            strides,
            reg_max: 3,
            input_w: w,
            input_h: h,
        }
    }

    fn identity(w: u32, h: u32) -> Geometry {
        Geometry::new(ResizeMode::Stretch, w, h, w, h)
    }

    #[test]
    fn expectation_of_a_peaked_distribution_is_its_bin() {
        assert!((expectation(&[0.0, 0.0, 50.0, 0.0]) - 2.0).abs() < 1e-4);
        assert!((expectation(&[1.0, 1.0]) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn nanodet_decodes_distances_from_the_cell_point() {
        // 16x16 input, strides 8 → 2x2 cells; one confident person in cell (col 1,row 0).
        let p = params(DecoderKind::NanodetGfl, 2, vec![8], 16, 16);
        let shapes = vec![vec![1, 4, 2], vec![1, 4, 16]];
        let dec = Decoder::new(p, &shapes).unwrap();
        let mut scores = vec![0.0f32; 8];
        scores[2] = 0.9; // cell 1, class 0
        scores[3] = 0.95; // cell 1, class 1: not kept
        let mut dists = vec![0.0f32; 64];
        for (side, bin) in [1usize, 2, 1, 3].into_iter().enumerate() {
            dists[16 + side * 4 + bin] = 60.0;
        }
        let mut out = Vec::new();
        dec.decode(&[&scores, &dists], &identity(16, 16), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        let b = out[0].bbox;
        // cell point (8, 0); left 8, top 16, right 8, bottom 24 → clipped to the 16x16 frame.
        assert_eq!((out[0].class, out[0].score), (0, 0.9));
        assert!((b.x0 - 0.0).abs() < 1e-3 && (b.x1 - 16.0).abs() < 1e-3);
        assert!((b.y0 - 0.0).abs() < 1e-3 && (b.y1 - 16.0).abs() < 1e-3);
    }

    #[test]
    fn nanodet_shape_mismatch_names_the_stride_and_the_actual_shapes() {
        let p = params(DecoderKind::NanodetGfl, 80, vec![8, 16], 416, 416);
        let e = Decoder::new(p, &[vec![1, 2704, 80], vec![1, 2704, 16]]).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("stride 16") && msg.contains("[1, 2704, 80]"),
            "{msg}"
        );
    }

    #[test]
    fn yolov8_reads_the_transposed_layout() {
        let p = params(DecoderKind::Yolov8, 1, vec![], 100, 100);
        let dec = Decoder::new(p, &[vec![1, 5, 2]]).unwrap();
        // rows: cx, cy, w, h, score; two anchors.
        let t = [50.0, 10.0, 40.0, 10.0, 20.0, 4.0, 40.0, 4.0, 0.8, 0.1];
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(100, 100), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, BBox::new(40.0, 20.0, 60.0, 60.0));
    }

    #[test]
    fn yolov5_multiplies_objectness_and_class() {
        let p = params(DecoderKind::Yolov5, 2, vec![], 100, 100);
        let dec = Decoder::new(p, &[vec![1, 2, 7]]).unwrap();
        let t = [
            50.0, 50.0, 10.0, 10.0, 0.9, 0.9, 0.1, 50.0, 50.0, 10.0, 10.0, 0.5, 0.9, 0.1,
        ];
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(100, 100), 0.6, &mut out);
        assert_eq!(out.len(), 1);
        assert!((out[0].score - 0.81).abs() < 1e-6);
    }

    #[test]
    fn yolox_adds_the_grid_and_exponentiates_sizes() {
        let p = params(DecoderKind::Yolox, 1, vec![8], 16, 8);
        let dec = Decoder::new(p, &[vec![1, 2, 6]]).unwrap();
        let t = [0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.5, 0.5, 0.0, 0.0, 1.0, 0.9];
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(16, 8), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        // grid cell (1,0) at stride 8: centre (12, 4), size 8x8.
        assert_eq!(out[0].bbox, BBox::new(8.0, 0.0, 16.0, 8.0));
    }

    #[test]
    fn boxes_keeps_rows_of_kept_classes_above_threshold() {
        let p = params(DecoderKind::Boxes, 2, vec![], 100, 100);
        let dec = Decoder::new(p, &[vec![1, 3, 6]]).unwrap();
        let t = [
            1.0, 2.0, 3.0, 4.0, 0.9, 0.0, 1.0, 2.0, 3.0, 4.0, 0.9, 1.0, 1.0, 2.0, 3.0, 4.0, 0.2,
            0.0,
        ];
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(100, 100), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bbox, BBox::new(1.0, 2.0, 3.0, 4.0));
    }

    #[test]
    fn movenet_reads_the_normalised_box_after_the_keypoints() {
        let p = params(DecoderKind::MovenetMultipose, 1, vec![], 200, 100);
        let dec = Decoder::new(p, &[vec![1, 2, 56]]).unwrap();
        let mut t = vec![0.7f32; 2 * 56];
        t[51..56].copy_from_slice(&[0.1, 0.25, 0.9, 0.5, 0.3]);
        t[56 + 55] = 0.05;
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(200, 100), 0.1, &mut out);
        assert_eq!(out.len(), 1, "the second person scores under the threshold");
        assert_eq!(out[0].bbox, BBox::new(50.0, 10.0, 100.0, 90.0));
        assert!((out[0].score - 0.3).abs() < 1e-6);
    }

    #[test]
    fn movenet_refuses_other_row_widths_and_several_labels() {
        let one = params(DecoderKind::MovenetMultipose, 1, vec![], 256, 256);
        let err = Decoder::new(one, &[vec![1, 6, 51]])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[1,K,56]") && err.contains("[1, 6, 51]"),
            "{err}"
        );
        let many = params(DecoderKind::MovenetMultipose, 80, vec![], 256, 256);
        assert!(Decoder::new(many, &[vec![1, 6, 56]]).is_err());
    }

    #[test]
    fn non_finite_outputs_are_dropped() {
        let p = params(DecoderKind::Boxes, 1, vec![], 100, 100);
        let dec = Decoder::new(p, &[vec![1, 1, 6]]).unwrap();
        let t = [f32::NAN, 2.0, 3.0, 4.0, 0.9, 0.0];
        let mut out = Vec::new();
        dec.decode(&[&t], &identity(100, 100), 0.5, &mut out);
        assert!(out.is_empty());
    }
}
