//! Frame → model input tensor: a single fused pass that normalises, reorders channels and writes
//! planar NCHW floats. GStreamer sources deliver frames already scaled to the model's inner size
//! (see `source::gst`), so that pass is all the inference thread pays and nothing is allocated.
//! Frames at any other size (nokhwa, a caps change in flight) are resized here first with
//! `fast_image_resize`, which costs about 1 ms and some 700 small allocations per 768×576 frame.

use fast_image_resize::{
    self as fir, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image, images::ImageRef,
};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::geometry::{Geometry, ResizeMode};
use super::tiling::Rect;

/// Channel order the model expects. Frames always arrive as packed BGR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColorOrder {
    Rgb,
    Bgr,
}

/// The parts of a model's input contract that preprocessing needs.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
    pub color: ColorOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub resize: ResizeMode,
    /// Pixel value (0..255, same on every channel) used for letterbox padding.
    pub pad_value: u8,
}

/// A borrowed packed-BGR frame; `stride` is the byte length of one row including padding.
#[derive(Debug, Clone, Copy)]
pub struct FrameView<'a> {
    pub width: u32,
    pub height: u32,
    pub stride: usize,
    pub bgr: &'a [u8],
    /// Size of the camera image these pixels were scaled from (GStreamer scales before the
    /// appsink); detections are mapped back to it. Equal to `width`×`height` when unscaled.
    pub source: (u32, u32),
}

impl<'a> FrameView<'a> {
    /// A tightly packed frame at its camera's own size.
    pub fn packed(width: u32, height: u32, bgr: &'a [u8]) -> Self {
        Self {
            width,
            height,
            stride: width as usize * 3,
            bgr,
            source: (width, height),
        }
    }

    /// The part of the frame inside `r` (in these pixels, within the frame), and where that part
    /// starts in source pixels, which its detections are shifted by.
    pub fn crop(&self, r: Rect) -> (FrameView<'a>, (f32, f32)) {
        let sx = self.source.0 as f32 / self.width as f32;
        let sy = self.source.1 as f32 / self.height as f32;
        let start = r.y as usize * self.stride + r.x as usize * 3;
        let view = FrameView {
            width: r.w,
            height: r.h,
            stride: self.stride,
            bgr: self.bgr.get(start..).unwrap_or(&[]),
            source: (
                ((r.w as f32 * sx).round() as u32).max(1),
                ((r.h as f32 * sy).round() as u32).max(1),
            ),
        };
        (view, (r.x as f32 * sx, r.y as f32 * sy))
    }
}

#[derive(Debug, Error)]
pub enum PreprocessError {
    #[error("frame of {width}x{height} with stride {stride} needs {needed} bytes, got {got}")]
    ShortFrame {
        width: u32,
        height: u32,
        stride: usize,
        needed: usize,
        got: usize,
    },
    #[error("empty frame ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error("output tensor holds {got} floats, the model input needs {needed}")]
    TensorSize { needed: usize, got: usize },
    #[error("resize failed: {0}")]
    Resize(String),
}

pub struct Preprocessor {
    spec: InputSpec,
    resizer: Resizer,
    options: ResizeOptions,
    /// Tightly packed copy of frames whose rows carry padding.
    packed: Vec<u8>,
    resized: Vec<u8>,
    /// `lut[c][v]` is the normalised value of byte `v` on tensor channel `c`.
    lut: [[f32; 256]; 3],
    /// Which byte of a BGR pixel feeds tensor channel `c`.
    source_channel: [usize; 3],
}

impl Preprocessor {
    pub fn new(spec: InputSpec) -> Self {
        let mut lut = [[0.0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (v, out) in table.iter_mut().enumerate() {
                *out = (v as f32 - spec.mean[c]) / spec.std[c];
            }
        }
        let source_channel = match spec.color {
            ColorOrder::Bgr => [0, 1, 2],
            ColorOrder::Rgb => [2, 1, 0],
        };
        Self {
            resizer: Resizer::new(),
            options: ResizeOptions::new()
                .resize_alg(ResizeAlg::Convolution(fir::FilterType::Bilinear)),
            packed: Vec::new(),
            resized: Vec::new(),
            lut,
            source_channel,
            spec,
        }
    }

    pub fn tensor_len(&self) -> usize {
        3 * self.spec.width as usize * self.spec.height as usize
    }

    /// Writes `frame` into `out` (NCHW, batch 1) and returns the geometry that maps boxes back.
    pub fn run(
        &mut self,
        frame: FrameView<'_>,
        out: &mut [f32],
    ) -> Result<Geometry, PreprocessError> {
        let (w, h) = (frame.width, frame.height);
        let (sw, sh) = frame.source;
        if w == 0 || h == 0 || sw == 0 || sh == 0 {
            return Err(PreprocessError::Empty {
                width: sw,
                height: sh,
            });
        }
        let row = w as usize * 3;
        let needed = frame.stride * (h as usize - 1) + row;
        if frame.stride < row || frame.bgr.len() < needed {
            return Err(PreprocessError::ShortFrame {
                width: w,
                height: h,
                stride: frame.stride,
                needed,
                got: frame.bgr.len(),
            });
        }
        if out.len() != self.tensor_len() {
            return Err(PreprocessError::TensorSize {
                needed: self.tensor_len(),
                got: out.len(),
            });
        }
        // Placed by the pixels' own size, so pixels already scaled to fit (by GStreamer, or a
        // slice cut to the input's size) are never resized again, then mapped to the source.
        let geo = Geometry::new(self.spec.resize, w, h, self.spec.width, self.spec.height)
            .for_source(sw, sh);
        let src: &[u8] = if frame.stride == row {
            &frame.bgr[..row * h as usize]
        } else {
            self.packed.resize(row * h as usize, 0);
            for (dst, src) in self
                .packed
                .chunks_exact_mut(row)
                .zip(frame.bgr.chunks(frame.stride))
            {
                dst.copy_from_slice(&src[..row]);
            }
            &self.packed
        };
        let inner = if (geo.inner_w, geo.inner_h) == (w, h) {
            src
        } else {
            self.resized
                .resize(geo.inner_w as usize * geo.inner_h as usize * 3, 0);
            let src_img = ImageRef::new(w, h, src, PixelType::U8x3)
                .map_err(|e| PreprocessError::Resize(e.to_string()))?;
            let mut dst_img =
                Image::from_slice_u8(geo.inner_w, geo.inner_h, &mut self.resized, PixelType::U8x3)
                    .map_err(|e| PreprocessError::Resize(e.to_string()))?;
            self.resizer
                .resize(&src_img, &mut dst_img, &self.options)
                .map_err(|e| PreprocessError::Resize(e.to_string()))?;
            &self.resized
        };
        self.normalise(inner, &geo, out);
        Ok(geo)
    }

    /// One pass over the resized pixels writing all three planes; padding is filled first.
    fn normalise(&self, inner: &[u8], geo: &Geometry, out: &mut [f32]) {
        let (tw, th) = (self.spec.width as usize, self.spec.height as usize);
        let plane = tw * th;
        let (iw, ih) = (geo.inner_w as usize, geo.inner_h as usize);
        let (px, py) = (geo.pad_x as usize, geo.pad_y as usize);
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        if px > 0 || py > 0 {
            let pad = self.spec.pad_value as usize;
            p0.fill(self.lut[0][pad]);
            p1.fill(self.lut[1][pad]);
            p2.fill(self.lut[2][pad]);
        }
        let [l0, l1, l2] = &self.lut;
        let [s0, s1, s2] = self.source_channel;
        for (y, src_row) in inner.chunks_exact(iw * 3).take(ih).enumerate() {
            let start = (y + py) * tw + px;
            let rows = p0[start..start + iw]
                .iter_mut()
                .zip(&mut p1[start..start + iw])
                .zip(&mut p2[start..start + iw]);
            for (((d0, d1), d2), px) in rows.zip(src_row.chunks_exact(3)) {
                *d0 = l0[px[s0] as usize];
                *d1 = l1[px[s1] as usize];
                *d2 = l2[px[s2] as usize];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resize: ResizeMode, color: ColorOrder) -> InputSpec {
        InputSpec {
            width: 4,
            height: 4,
            color,
            mean: [0.0, 10.0, 20.0],
            std: [1.0, 2.0, 4.0],
            resize,
            pad_value: 0,
        }
    }

    #[test]
    fn same_size_frame_is_normalised_per_channel_in_model_order() {
        let mut p = Preprocessor::new(spec(ResizeMode::Stretch, ColorOrder::Rgb));
        let bgr: Vec<u8> = (0..16).flat_map(|_| [100u8, 50, 40]).collect();
        let mut out = vec![0.0; 48];
        let geo = p
            .run(
                FrameView {
                    width: 4,
                    height: 4,
                    stride: 12,
                    bgr: &bgr,
                    source: (4, 4),
                },
                &mut out,
            )
            .unwrap();
        assert_eq!((geo.pad_x, geo.pad_y), (0, 0));
        // RGB order: R=40 on channel 0, G=50 on 1, B=100 on 2.
        assert_eq!(out[0], 40.0);
        assert_eq!(out[16], (50.0 - 10.0) / 2.0);
        assert_eq!(out[32], (100.0 - 20.0) / 4.0);
    }

    #[test]
    fn letterbox_pads_rows_and_honours_row_stride() {
        let mut p = Preprocessor::new(spec(ResizeMode::Letterbox, ColorOrder::Bgr));
        // 4x2 frame with 4 bytes of row padding: rows land in the middle two tensor rows.
        let mut bgr = Vec::new();
        for _ in 0..2 {
            bgr.extend((0..4).flat_map(|_| [7u8, 7, 7]));
            bgr.extend([0xEE; 4]);
        }
        let mut out = vec![-1.0; 48];
        let geo = p
            .run(
                FrameView {
                    width: 4,
                    height: 2,
                    stride: 16,
                    bgr: &bgr,
                    source: (4, 2),
                },
                &mut out,
            )
            .unwrap();
        assert_eq!((geo.inner_w, geo.inner_h, geo.pad_y), (4, 2, 1));
        assert!(
            out[..4].iter().all(|&v| v == 0.0),
            "top padding row holds the pad value"
        );
        assert!(
            out[4..12].iter().all(|&v| v == 7.0),
            "frame rows hold the frame"
        );
        assert!(
            out[12..16].iter().all(|&v| v == 0.0),
            "bottom padding row holds the pad value"
        );
    }

    #[test]
    fn frame_scaled_upstream_maps_to_its_source_size_without_resizing() {
        let mut p = Preprocessor::new(spec(ResizeMode::Letterbox, ColorOrder::Bgr));
        // A 4x2 view of an 8x4 camera image: already the inner size, so copied as is.
        let bgr: Vec<u8> = (0..8).flat_map(|i| [i as u8, i as u8, i as u8]).collect();
        let mut out = vec![-1.0; 48];
        let geo = p
            .run(
                FrameView {
                    width: 4,
                    height: 2,
                    stride: 12,
                    bgr: &bgr,
                    source: (8, 4),
                },
                &mut out,
            )
            .unwrap();
        assert_eq!(
            (geo.src_w, geo.src_h, geo.inner_w, geo.inner_h),
            (8, 4, 4, 2)
        );
        assert_eq!(geo.scale_x, 0.5);
        assert_eq!(&out[4..12], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    }

    #[test]
    fn short_frame_and_wrong_tensor_are_errors() {
        let mut p = Preprocessor::new(spec(ResizeMode::Stretch, ColorOrder::Bgr));
        let mut out = vec![0.0; 48];
        let short = p.run(
            FrameView {
                width: 4,
                height: 4,
                stride: 12,
                bgr: &[0; 20],
                source: (4, 4),
            },
            &mut out,
        );
        assert!(matches!(short, Err(PreprocessError::ShortFrame { .. })));
        let mut small = vec![0.0; 10];
        let wrong = p.run(
            FrameView {
                width: 4,
                height: 4,
                stride: 12,
                bgr: &[0; 48],
                source: (4, 4),
            },
            &mut small,
        );
        assert!(matches!(wrong, Err(PreprocessError::TensorSize { .. })));
    }

    #[test]
    fn downscale_fills_the_whole_tensor() {
        let mut p = Preprocessor::new(spec(ResizeMode::Stretch, ColorOrder::Bgr));
        let bgr = vec![9u8; 16 * 16 * 3];
        let mut out = vec![0.0; 48];
        p.run(
            FrameView {
                width: 16,
                height: 16,
                stride: 48,
                bgr: &bgr,
                source: (16, 16),
            },
            &mut out,
        )
        .unwrap();
        assert!(out[..16].iter().all(|&v| v == 9.0));
    }
}
