//! Frame sources: cameras and recordings in, packed BGR frames out, supervised so that live
//! cameras that drop come back on their own.

mod camera;
mod frame;
mod gst;
#[cfg(feature = "nokhwa")]
mod nokhwa;
mod queue;
mod spec;

use std::time::Duration;

use thiserror::Error;

pub use camera::{CameraHealth, CameraSettings, HealthRates, HealthSnapshot, run_camera};
pub use frame::Frame;
pub use gst::{Fit, GstOptions, GstSource, check, describe};
pub use queue::{FrameReceiver, FrameSender, doorbell, frame_queue};
pub use spec::{SourceSpec, SpecError};

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("GStreamer failed to initialise: {0}")]
    Init(String),
    #[error("camera {camera}: cannot open: {message}")]
    Open { camera: String, message: String },
    /// Nothing will change by retrying: the pipeline names an element GStreamer does not have,
    /// or the picture is larger than any camera's.
    #[error("camera {camera}: {message}")]
    Invalid { camera: String, message: String },
    #[error("camera {camera}: {message}")]
    Stream { camera: String, message: String },
    #[error("camera {camera}: no frame for {seconds:.1} s")]
    Stalled { camera: String, seconds: f64 },
}

/// What one wait on a source produced.
pub enum Pulled {
    Frame(Frame),
    /// The source ended (end of file, or a live stream that closed).
    Eos,
    /// Nothing arrived within the timeout.
    Timeout,
}

/// A producer of frames. GStreamer and nokhwa implement it; tests drive the camera supervisor with
/// scripted ones.
pub trait FrameSource {
    fn pull(&mut self, timeout: Duration) -> Result<Pulled, SourceError>;
}

impl FrameSource for GstSource {
    fn pull(&mut self, timeout: Duration) -> Result<Pulled, SourceError> {
        GstSource::pull(self, timeout)
    }
}

/// Opens the source a spec names.
pub fn open(
    name: &str,
    spec: &SourceSpec,
    opts: &GstOptions,
) -> Result<Box<dyn FrameSource>, SourceError> {
    match spec {
        #[cfg(feature = "nokhwa")]
        SourceSpec::Nokhwa(index) => Ok(Box::new(nokhwa::NokhwaSource::open(name, *index)?)),
        _ => Ok(Box::new(GstSource::open(name, spec, opts)?)),
    }
}
