//! Perspective-corrected shelf cells. A shelf face seen at an angle is a quadrilateral; the
//! homography from the unit square onto it splits the face into levels and bays that follow the
//! perspective, and samples each cell into a square patch as if seen straight on, so the
//! classifier sees the same picture from any mounting angle. Pure.

use crate::detect::preprocess::FrameView;

/// A quadrilateral in camera pixels: top-left, top-right, bottom-right, bottom-left.
pub type Quad = [(f32, f32); 4];

/// The projective map from the unit square, (u right, v down), onto a quadrilateral
/// (Heckbert's square-to-quad).
#[derive(Debug, Clone, Copy)]
pub struct Homography([f64; 8]);

impl Homography {
    /// `None` for a degenerate quadrilateral (three corners on a line).
    pub fn unit_square_to(q: &Quad) -> Option<Self> {
        let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = q.map(|(x, y)| (f64::from(x), f64::from(y)));
        let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
        let (g, h) = if sx.abs() < 1e-9 && sy.abs() < 1e-9 {
            (0.0, 0.0)
        } else {
            let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
            let den = dx1 * dy2 - dx2 * dy1;
            if den.abs() < 1e-9 {
                return None;
            }
            ((sx * dy2 - dx2 * sy) / den, (dx1 * sy - sx * dy1) / den)
        };
        let m = [
            x1 - x0 + g * x1,
            x3 - x0 + h * x3,
            x0,
            y1 - y0 + g * y1,
            y3 - y0 + h * y3,
            y0,
            g,
            h,
        ];
        let det =
            m[0] * (m[4] - m[5] * h) - m[1] * (m[3] - m[5] * g) + m[2] * (m[3] * h - m[4] * g);
        (det.abs() > 1e-9).then_some(Self(m))
    }

    pub fn map(&self, u: f32, v: f32) -> (f32, f32) {
        let [a, b, c, d, e, f, g, h] = self.0;
        let (u, v) = (f64::from(u), f64::from(v));
        let w = g * u + h * v + 1.0;
        (
            ((a * u + b * v + c) / w) as f32,
            ((d * u + e * v + f) / w) as f32,
        )
    }
}

/// The cells of a shelf face, row by row from the top, each bay left to right.
pub fn cells(face: &Homography, rows: u32, bays: u32) -> Vec<Quad> {
    let at = |b: u32, r: u32| face.map(b as f32 / bays as f32, r as f32 / rows as f32);
    (0..rows)
        .flat_map(|r| (0..bays).map(move |b| (r, b)))
        .map(|(r, b)| [at(b, r), at(b + 1, r), at(b + 1, r + 1), at(b, r + 1)])
        .collect()
}

/// Samples `quad` (camera pixels) out of `frame` into `out`, a `side`×`side` RGB patch seen
/// straight on. Where the cell covers more frame pixels than the patch has, each patch pixel
/// averages n×n bilinear samples (n up to 4), so it is not aliased; otherwise one sample does.
/// The frame's pixels may be scaled from the camera's size.
pub fn sample(frame: &FrameView<'_>, quad: &Quad, side: usize, out: &mut [u8]) {
    sample_rect(frame, quad, (side, side), out);
}

/// [`sample`] into a `width`×`height` RGB image.
pub fn sample_rect(
    frame: &FrameView<'_>,
    quad: &Quad,
    (width, height): (usize, usize),
    out: &mut [u8],
) {
    debug_assert_eq!(out.len(), width * height * 3);
    let Some(h) = Homography::unit_square_to(quad) else {
        out.fill(0);
        return;
    };
    let sx = frame.width as f32 / frame.source.0.max(1) as f32;
    let sy = frame.height as f32 / frame.source.1.max(1) as f32;
    // Samples per patch pixel and axis: the cell's extent in frame pixels over the patch's.
    let (l, t, r, b) = bounds(quad);
    let over = ((r - l) * sx / width as f32).max((b - t) * sy / height as f32);
    let n = (over.round() as usize).clamp(1, 4);
    let (step_u, step_v) = (1.0 / (n * width) as f32, 1.0 / (n * height) as f32);
    let weight = 1.0 / (n * n) as f32;
    for j in 0..height {
        for i in 0..width {
            let mut acc = [0f32; 3];
            for k in 0..n * n {
                let (du, dv) = ((k % n) as f32 + 0.5, (k / n) as f32 + 0.5);
                let (x, y) = h.map(
                    (n * i) as f32 * step_u + du * step_u,
                    (n * j) as f32 * step_v + dv * step_v,
                );
                let bgr = bilinear(frame, x * sx - 0.5, y * sy - 0.5);
                for c in 0..3 {
                    acc[c] += bgr[2 - c];
                }
            }
            let o = (j * width + i) * 3;
            for c in 0..3 {
                out[o + c] = (acc[c] * weight).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// The BGR value at a fractional pixel position, clamped to the frame's edge.
fn bilinear(frame: &FrameView<'_>, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let px = |xx: usize, yy: usize, c: usize| f32::from(frame.bgr[yy * frame.stride + xx * 3 + c]);
    let mut v = [0f32; 3];
    for (c, out) in v.iter_mut().enumerate() {
        let top = px(x0, y0, c) * (1.0 - fx) + px(x1, y0, c) * fx;
        let bottom = px(x0, y1, c) * (1.0 - fx) + px(x1, y1, c) * fx;
        *out = top * (1.0 - fy) + bottom * fy;
    }
    v
}

/// The axis-aligned bounds of a quad: (left, top, right, bottom).
pub fn bounds(q: &Quad) -> (f32, f32, f32, f32) {
    q.iter().fold(
        (f32::MAX, f32::MAX, f32::MIN, f32::MIN),
        |(l, t, r, b), &(x, y)| (l.min(x), t.min(y), r.max(x), b.max(y)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLANTED: Quad = [(100.0, 50.0), (300.0, 80.0), (290.0, 260.0), (110.0, 240.0)];

    #[test]
    fn the_unit_square_lands_on_the_corners() {
        let h = Homography::unit_square_to(&SLANTED).unwrap();
        for ((u, v), want) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
            .into_iter()
            .zip(SLANTED)
        {
            let got = h.map(u, v);
            assert!(
                (got.0 - want.0).abs() < 1e-3 && (got.1 - want.1).abs() < 1e-3,
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn a_rectangle_is_split_evenly() {
        let rect: Quad = [(0.0, 0.0), (40.0, 0.0), (40.0, 20.0), (0.0, 20.0)];
        let c = cells(&Homography::unit_square_to(&rect).unwrap(), 2, 4);
        assert_eq!(c.len(), 8);
        assert_eq!(c[0], [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]);
        assert_eq!(
            c[7],
            [(30.0, 10.0), (40.0, 10.0), (40.0, 20.0), (30.0, 20.0)]
        );
    }

    #[test]
    fn perspective_cells_share_corners_and_shrink_with_distance() {
        // A shelf seen from its left: the right side is further away and shorter.
        let face: Quad = [(0.0, 0.0), (100.0, 20.0), (100.0, 60.0), (0.0, 80.0)];
        let c = cells(&Homography::unit_square_to(&face).unwrap(), 1, 2);
        assert_eq!(c[0][1], c[1][0]);
        let width = |q: &Quad| q[1].0 - q[0].0;
        assert!(width(&c[0]) > width(&c[1]), "the near bay is the wider one");
    }

    #[test]
    fn a_degenerate_face_has_no_homography() {
        let flat: Quad = [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.0)];
        assert!(Homography::unit_square_to(&flat).is_none());
    }

    #[test]
    fn sampling_reads_rgb_from_a_scaled_frame() {
        // A 20x10 BGR frame scaled from a 40x20 camera: left half blue, right half red.
        let (w, h) = (20usize, 10usize);
        let mut bgr = vec![0u8; w * h * 3];
        for y in 0..h {
            for x in 0..w {
                let o = (y * w + x) * 3;
                if x < w / 2 {
                    bgr[o] = 200
                } else {
                    bgr[o + 2] = 200
                }
            }
        }
        let frame = FrameView {
            width: w as u32,
            height: h as u32,
            stride: w * 3,
            bgr: &bgr,
            source: (40, 20),
        };
        let mut patch = vec![0u8; 4 * 4 * 3];
        // The camera's right half (x 20..40) is red.
        sample(
            &frame,
            &[(22.0, 2.0), (38.0, 2.0), (38.0, 18.0), (22.0, 18.0)],
            4,
            &mut patch,
        );
        assert!(patch.chunks(3).all(|p| p == [200, 0, 0]), "{patch:?}");
        sample(
            &frame,
            &[(2.0, 2.0), (16.0, 2.0), (16.0, 18.0), (2.0, 18.0)],
            4,
            &mut patch,
        );
        assert!(patch.chunks(3).all(|p| p == [0, 0, 200]), "{patch:?}");
    }
}
