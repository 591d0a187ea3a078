//! How a source frame maps into the model's input, and back.

use serde::{Deserialize, Serialize};

use super::boxes::BBox;

/// How a frame of another aspect ratio is fitted into the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Scale both axes independently; distorts people in frames whose aspect differs from the input.
    Stretch,
    /// Keep the aspect ratio, centre, and pad the rest; people keep their shape.
    Letterbox,
}

/// The affine map from source pixels to input pixels: `input = source * scale + pad`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    pub src_w: u32,
    pub src_h: u32,
    /// Size of the resized image inside the input.
    pub inner_w: u32,
    pub inner_h: u32,
    pub pad_x: u32,
    pub pad_y: u32,
    pub scale_x: f32,
    pub scale_y: f32,
}

impl Geometry {
    pub fn new(mode: ResizeMode, src_w: u32, src_h: u32, dst_w: u32, dst_h: u32) -> Self {
        match mode {
            ResizeMode::Stretch => Self {
                src_w,
                src_h,
                inner_w: dst_w,
                inner_h: dst_h,
                pad_x: 0,
                pad_y: 0,
                scale_x: dst_w as f32 / src_w as f32,
                scale_y: dst_h as f32 / src_h as f32,
            },
            ResizeMode::Letterbox => {
                let scale = (dst_w as f32 / src_w as f32).min(dst_h as f32 / src_h as f32);
                let inner_w = ((src_w as f32 * scale).round() as u32).clamp(1, dst_w);
                let inner_h = ((src_h as f32 * scale).round() as u32).clamp(1, dst_h);
                Self {
                    src_w,
                    src_h,
                    inner_w,
                    inner_h,
                    pad_x: (dst_w - inner_w) / 2,
                    pad_y: (dst_h - inner_h) / 2,
                    scale_x: inner_w as f32 / src_w as f32,
                    scale_y: inner_h as f32 / src_h as f32,
                }
            }
        }
    }

    /// The same placement in the input for an image of `src_w`×`src_h` that the placed pixels
    /// were scaled from.
    pub fn for_source(self, src_w: u32, src_h: u32) -> Self {
        Self {
            src_w,
            src_h,
            scale_x: self.inner_w as f32 / src_w as f32,
            scale_y: self.inner_h as f32 / src_h as f32,
            ..self
        }
    }

    /// Maps a box from input pixels back to source pixels, clipped to the frame.
    pub fn to_source(&self, b: BBox) -> BBox {
        let (w, h) = (self.src_w as f32, self.src_h as f32);
        let x = |v: f32| ((v - self.pad_x as f32) / self.scale_x).clamp(0.0, w);
        let y = |v: f32| ((v - self.pad_y as f32) / self.scale_y).clamp(0.0, h);
        BBox::new(x(b.x0), y(b.y0), x(b.x1), y(b.y1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_centres_a_4_3_frame_in_a_square() {
        let g = Geometry::new(ResizeMode::Letterbox, 768, 576, 416, 416);
        assert_eq!((g.inner_w, g.inner_h, g.pad_x, g.pad_y), (416, 312, 0, 52));
        let b = g.to_source(BBox::new(0.0, 52.0, 416.0, 364.0));
        assert!((b.x1 - 768.0).abs() < 1e-3 && b.y0.abs() < 1e-3 && (b.y1 - 576.0).abs() < 1e-3);
    }

    #[test]
    fn letterbox_pads_a_portrait_frame_sideways() {
        let g = Geometry::new(ResizeMode::Letterbox, 1080, 1920, 416, 416);
        assert_eq!((g.inner_h, g.pad_y), (416, 0));
        assert!(g.pad_x > 0 && g.inner_w + 2 * g.pad_x <= 416);
    }

    #[test]
    fn stretch_maps_corners_to_corners_and_clips() {
        let g = Geometry::new(ResizeMode::Stretch, 1920, 1080, 416, 416);
        let b = g.to_source(BBox::new(-5.0, 0.0, 416.0, 500.0));
        assert_eq!((b.x0, b.y0), (0.0, 0.0));
        assert!((b.x1 - 1920.0).abs() < 1e-2 && (b.y1 - 1080.0).abs() < 1e-2);
    }
}
