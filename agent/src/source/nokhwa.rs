//! USB cameras through nokhwa's native V4L2 input: the alternative to GStreamer's `v4l2src` for
//! gateways whose cameras GStreamer handles badly. Behind the `nokhwa` cargo feature.

use std::time::{Duration, Instant};

use nokhwa::Camera;
use nokhwa::pixel_format::RgbFormat;
use nokhwa::utils::{CameraIndex, RequestedFormat, RequestedFormatType};

use super::frame::{Frame, FrameData};
use super::{FrameSource, Pulled, SourceError};

pub struct NokhwaSource {
    name: String,
    camera: Camera,
    started: Instant,
    index: u64,
}

impl NokhwaSource {
    pub fn open(name: &str, index: u32) -> Result<Self, SourceError> {
        let open_err = |e: nokhwa::NokhwaError| SourceError::Open {
            camera: name.to_string(),
            message: e.to_string(),
        };
        let format =
            RequestedFormat::new::<RgbFormat>(RequestedFormatType::AbsoluteHighestFrameRate);
        let mut camera = Camera::new(CameraIndex::Index(index), format).map_err(open_err)?;
        camera.open_stream().map_err(open_err)?;
        Ok(Self {
            name: name.to_string(),
            camera,
            started: Instant::now(),
            index: 0,
        })
    }
}

impl FrameSource for NokhwaSource {
    /// nokhwa blocks until the driver delivers, so `timeout` is not honoured; a dead device
    /// surfaces as an error from the driver instead.
    fn pull(&mut self, _timeout: Duration) -> Result<Pulled, SourceError> {
        let stream_err = |e: nokhwa::NokhwaError| SourceError::Stream {
            camera: self.name.clone(),
            message: e.to_string(),
        };
        let buffer = self.camera.frame().map_err(stream_err)?;
        let rgb = buffer.decode_image::<RgbFormat>().map_err(stream_err)?;
        let (width, height) = rgb.dimensions();
        let mut bgr = rgb.into_raw();
        for px in bgr.chunks_exact_mut(3) {
            px.swap(0, 2);
        }
        let frame = Frame {
            index: self.index,
            pts_ms: self.started.elapsed().as_millis() as u64,
            width,
            height,
            pixels: (width, height),
            stride: width as usize * 3,
            data: FrameData::Owned(bgr),
            pulled_at: std::time::Instant::now(),
        };
        self.index += 1;
        Ok(Pulled::Frame(frame))
    }
}

impl Drop for NokhwaSource {
    fn drop(&mut self) {
        let _ = self.camera.stop_stream();
    }
}
