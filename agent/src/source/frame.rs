//! A decoded frame as it leaves a source: packed BGR, borrowed from GStreamer's buffer pool where
//! possible so nothing is copied between the decoder and the preprocessor.

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
    pub width: u32,
    pub height: u32,
    pub(crate) stride: usize,
    pub(crate) data: FrameData,
}

impl Frame {
    pub fn view(&self) -> FrameView<'_> {
        let bgr = match &self.data {
            FrameData::Gst(m) => m.as_slice(),
            FrameData::Owned(v) => v.as_slice(),
        };
        FrameView {
            width: self.width,
            height: self.height,
            stride: self.stride,
            bgr,
        }
    }
}
