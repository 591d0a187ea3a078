//! Tiling: a frame cut into overlapping slices, each run through the model on its own.
//!
//! A model sees a whole frame at its input size, so in a frame much taller (or wider) than the
//! input, people reach it small, below the size it finds them at: a portrait camera loses a
//! twentieth of its people's recall (docs/models.md). Slicing the frame keeps each slice near the
//! input's shape and people near their size, at one inference per slice. Slices overlap so that
//! most people lie whole inside one; the parts of people cut at a slice's edge are merged back by
//! [`merge_across_tiles`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::boxes::{BBox, Detection};

/// Columns × rows of slices, written `"2x1"`. `1x1` is the whole frame in one inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TileGrid {
    pub cols: u32,
    pub rows: u32,
}

/// The most slices along one axis: 4×4 is already 16 inferences a frame.
pub const MAX_TILES: u32 = 4;

impl TileGrid {
    pub const WHOLE: TileGrid = TileGrid { cols: 1, rows: 1 };

    pub fn count(self) -> usize {
        (self.cols * self.rows) as usize
    }
}

impl Default for TileGrid {
    fn default() -> Self {
        Self::WHOLE
    }
}

impl fmt::Display for TileGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.cols, self.rows)
    }
}

impl FromStr for TileGrid {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("tiles {s:?}: expected COLSxROWS, each 1..={MAX_TILES}, e.g. \"2x1\"");
        let (c, r) = s.split_once(['x', 'X']).ok_or_else(bad)?;
        let cols: u32 = c.trim().parse().map_err(|_| bad())?;
        let rows: u32 = r.trim().parse().map_err(|_| bad())?;
        if !(1..=MAX_TILES).contains(&cols) || !(1..=MAX_TILES).contains(&rows) {
            return Err(bad());
        }
        Ok(Self { cols, rows })
    }
}

impl TryFrom<String> for TileGrid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<TileGrid> for String {
    fn from(g: TileGrid) -> String {
        g.to_string()
    }
}

/// A grid and the share of a slice that overlaps its neighbour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiling {
    pub grid: TileGrid,
    pub overlap: f32,
}

/// A slice of a frame, in the frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Tiling {
    pub const WHOLE: Tiling = Tiling {
        grid: TileGrid::WHOLE,
        overlap: 0.0,
    };

    /// Slices per axis once overlaps are taken out: a frame spans this many slice widths.
    fn spans(&self) -> (f32, f32) {
        let span = |n: u32| n as f32 - (n - 1) as f32 * self.overlap;
        (span(self.grid.cols), span(self.grid.rows))
    }

    /// The box a source scales frames into so that each slice comes out at the model's input
    /// size and needs no further resizing.
    pub fn fit(&self, input_w: u32, input_h: u32) -> (u32, u32) {
        let (sx, sy) = self.spans();
        (
            (input_w as f32 * sx).round() as u32,
            (input_h as f32 * sy).round() as u32,
        )
    }

    /// Slice `i` (row-major) of a `width`×`height` frame. Slices are spread evenly, the first at
    /// the top-left corner and the last at the bottom-right one.
    pub fn tile(&self, i: usize, width: u32, height: u32) -> Rect {
        let (sx, sy) = self.spans();
        let (col, row) = (i as u32 % self.grid.cols, i as u32 / self.grid.cols);
        let axis = |n: u32, k: u32, len: u32, span: f32| {
            let size = ((len as f32 / span).ceil() as u32).clamp(1, len);
            let start = if n == 1 {
                0
            } else {
                ((len - size) as f32 * k as f32 / (n - 1) as f32).round() as u32
            };
            (start, size)
        };
        let (x, w) = axis(self.grid.cols, col, width, sx);
        let (y, h) = axis(self.grid.rows, row, height, sy);
        Rect { x, y, w, h }
    }
}

/// Intersection over the smaller box's area: a half of a person cut at a slice's edge lies
/// almost wholly inside the whole person's box, though their IoU is only about one half.
fn intersection_over_smaller(a: &BBox, b: &BBox) -> f32 {
    let smaller = a.area().min(b.area());
    if smaller <= 0.0 {
        0.0
    } else {
        a.intersection(b) / smaller
    }
}

/// A detection from one slice: which slice, and whether it touches an edge the slice shares
/// with a neighbour, where a person may have been cut in two.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceDetection {
    pub det: Detection,
    pub slice: u16,
    pub cut: bool,
}

/// Source pixels from a shared slice edge within which a box counts as cut by it.
const CUT_MARGIN: f32 = 2.0;

impl Rect {
    /// Whether `b` touches one of this slice's edges that is not also the frame's edge. The rect
    /// is in the pixels of a `frame` of that size; `b` is in pixels `scale` times those.
    pub fn cuts(&self, b: &BBox, frame: (u32, u32), scale: (f32, f32)) -> bool {
        let (sx, sy) = scale;
        let (x0, y0) = (self.x as f32 * sx, self.y as f32 * sy);
        let (x1, y1) = ((self.x + self.w) as f32 * sx, (self.y + self.h) as f32 * sy);
        (self.x > 0 && b.x0 <= x0 + CUT_MARGIN)
            || (self.y > 0 && b.y0 <= y0 + CUT_MARGIN)
            || (self.x + self.w < frame.0 && b.x1 >= x1 - CUT_MARGIN)
            || (self.y + self.h < frame.1 && b.y1 >= y1 - CUT_MARGIN)
    }
}

/// Greedy merging of the parts of people cut at slice edges (SAHI's greedy NMM, by intersection
/// over the smaller box): highest score first, each box absorbs the lower-scored boxes of the same
/// class from other slices that lie mostly inside it, when either of the two is cut by its
/// slice's edge, and grows to their union. Whole boxes are left to NMS, so a confident box never
/// grows over a weak neighbour; boxes of one slice were already pruned by that slice's NMS.
///
/// `dets` is reordered and truncated to the survivors.
pub fn merge_across_tiles(dets: &mut Vec<SliceDetection>, min_overlap: f32) {
    dets.sort_unstable_by(|a, b| {
        b.det
            .score
            .total_cmp(&a.det.score)
            .then(a.det.bbox.x0.total_cmp(&b.det.bbox.x0))
            .then(a.det.bbox.y0.total_cmp(&b.det.bbox.y0))
    });
    let mut kept = 0;
    for i in 0..dets.len() {
        let mut cur = dets[i];
        if cur.det.score.is_nan() {
            continue;
        }
        for other in &mut dets[i + 1..] {
            if other.slice != cur.slice
                && (cur.cut || other.cut)
                && other.det.class == cur.det.class
                && !other.det.score.is_nan()
                && intersection_over_smaller(&cur.det.bbox, &other.det.bbox) >= min_overlap
            {
                let (a, b) = (cur.det.bbox, other.det.bbox);
                cur.det.bbox = BBox::new(
                    a.x0.min(b.x0),
                    a.y0.min(b.y0),
                    a.x1.max(b.x1),
                    a.y1.max(b.y1),
                );
                // A whole box that took in a part stays whole; two parts may still miss a third.
                cur.cut = cur.cut && other.cut;
                other.det.score = f32::NAN;
            }
        }
        dets[kept] = cur;
        kept += 1;
    }
    dets.truncate(kept);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(score: f32, b: (f32, f32, f32, f32)) -> Detection {
        Detection {
            class: 0,
            score,
            bbox: BBox::new(b.0, b.1, b.2, b.3),
        }
    }

    #[test]
    fn grids_parse_and_print_and_refuse_nonsense() {
        assert_eq!("2x1".parse::<TileGrid>(), Ok(TileGrid { cols: 2, rows: 1 }));
        assert_eq!(TileGrid { cols: 1, rows: 3 }.to_string(), "1x3");
        for bad in ["2", "0x1", "5x1", "ax1", "2x-1", ""] {
            let err = bad.parse::<TileGrid>().unwrap_err();
            assert!(err.contains("COLSxROWS"), "{bad}: {err}");
        }
    }

    #[test]
    fn slices_cover_the_frame_with_the_overlap_and_fit_the_input() {
        let t = Tiling {
            grid: TileGrid { cols: 1, rows: 2 },
            overlap: 0.2,
        };
        // A 9:16 frame scaled for a 416x416 model: each slice comes out near 416x416.
        assert_eq!(t.fit(416, 416), (416, 749));
        let (a, b) = (t.tile(0, 416, 740), t.tile(1, 416, 740));
        assert_eq!(
            a,
            Rect {
                x: 0,
                y: 0,
                w: 416,
                h: 412
            }
        );
        assert_eq!(
            b,
            Rect {
                x: 0,
                y: 328,
                w: 416,
                h: 412
            }
        );
        assert_eq!(b.y + b.h, 740, "the last slice ends at the frame's edge");
        assert_eq!(
            a.y + a.h - b.y,
            84,
            "neighbours overlap by a fifth of a slice"
        );
        assert_eq!(
            Tiling::WHOLE.tile(0, 640, 480),
            Rect {
                x: 0,
                y: 0,
                w: 640,
                h: 480
            }
        );
    }

    fn sliced(det: Detection, slice: u16, cut: bool) -> SliceDetection {
        SliceDetection { det, slice, cut }
    }

    #[test]
    fn a_person_cut_in_two_by_slice_edges_is_merged_back_whole() {
        // Slice 0 ends at y 300 and sees the upper part; slice 1 starts at y 260 and sees the
        // lower part; someone else stands whole in slice 1.
        let mut dets = vec![
            sliced(det(0.5, (100.0, 260.0, 140.0, 350.0)), 1, true),
            sliced(det(0.8, (100.0, 220.0, 140.0, 300.0)), 0, true),
            sliced(det(0.7, (300.0, 270.0, 340.0, 350.0)), 1, false),
        ];
        merge_across_tiles(&mut dets, 0.5);
        assert_eq!(dets.len(), 2);
        assert_eq!(dets[0].det, det(0.8, (100.0, 220.0, 140.0, 350.0)));
        assert_eq!(dets[1].det.score, 0.7);
    }

    #[test]
    fn whole_boxes_same_slice_boxes_and_other_classes_are_not_merged() {
        let big = det(0.9, (100.0, 250.0, 140.0, 350.0));
        let inside = det(0.6, (110.0, 260.0, 130.0, 300.0));
        let mut other_class = inside;
        other_class.class = 1;
        for pair in [
            [sliced(big, 0, false), sliced(inside, 1, false)],
            [sliced(big, 0, true), sliced(inside, 0, true)],
            [sliced(big, 0, true), sliced(other_class, 1, true)],
        ] {
            let mut dets = pair.to_vec();
            merge_across_tiles(&mut dets, 0.5);
            assert_eq!(dets.len(), 2, "{pair:?}");
            assert_eq!(dets[0].det.bbox, big.bbox);
        }
    }

    #[test]
    fn only_edges_shared_with_a_neighbour_cut() {
        let top = Rect {
            x: 0,
            y: 0,
            w: 416,
            h: 412,
        };
        let frame = (416, 740);
        assert!(top.cuts(&BBox::new(10.0, 300.0, 50.0, 411.0), frame, (1.0, 1.0)));
        assert!(top.cuts(&BBox::new(10.0, 300.0, 50.0, 823.0), frame, (2.0, 2.0)));
        assert!(!top.cuts(&BBox::new(10.0, 300.0, 50.0, 411.0), frame, (2.0, 2.0)));
        let frame_edges = BBox::new(0.0, 0.0, 416.0, 300.0);
        assert!(!top.cuts(&frame_edges, frame, (1.0, 1.0)));
    }
}
