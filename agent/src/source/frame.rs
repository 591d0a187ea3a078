//! A decoded frame as it leaves a source: packed BGR, borrowed from GStreamer's buffer pool where
//! possible so nothing is copied between the decoder and the preprocessor. GStreamer sources
//! deliver the pixels already scaled to the detector's input; `width`/`height` stay the camera's.

use crate::detect::FrameView;

pub(crate) enum FrameData {
    Gst(gstreamer::MappedBuffer<gstreamer::buffer::Readable>),
    #[cfg_attr(not(feature = "nokhwa"), allow(dead_code))]
    Owned(Vec<u8>),
}

pub struct Frame {
    /// Position in the source's delivered sequence, from 0; restarts with the source.
    pub index: u64,
    /// Presentation time in milliseconds from the source's start.
    pub pts_ms: u64,
    /// The camera image's size, which detections and zones are expressed in.
    pub width: u32,
    pub height: u32,
    /// Size of the pixels in `data`: the camera's, or smaller when scaled upstream.
    pub(crate) pixels: (u32, u32),
    pub(crate) stride: usize,
    pub(crate) data: FrameData,
    /// When the source handed the frame over: the start of its frame-to-event latency.
    pub pulled_at: std::time::Instant,
}

impl Frame {
    pub fn view(&self) -> FrameView<'_> {
        let bgr = match &self.data {
            FrameData::Gst(m) => m.as_slice(),
            FrameData::Owned(v) => v.as_slice(),
        };
        FrameView {
            width: self.pixels.0,
            height: self.pixels.1,
            stride: self.stride,
            bgr,
            source: (self.width, self.height),
        }
    }
}

#[cfg(test)]
impl Frame {
    /// A 1×1 black frame, for tests of what carries frames around.
    pub(crate) fn blank(index: u64) -> Self {
        Frame {
            index,
            pts_ms: index,
            width: 1,
            height: 1,
            pixels: (1, 1),
            stride: 3,
            data: FrameData::Owned(vec![0; 3]),
            pulled_at: std::time::Instant::now(),
        }
    }
}
