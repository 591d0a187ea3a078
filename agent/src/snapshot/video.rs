//! Annotated frames encoded to a video file through GStreamer, with encoders Debian ships in the
//! packages the agent already depends on: VP8 (`vp8enc`, gst-plugins-good) in `.webm` or `.mkv`,
//! MPEG-4 Part 2 (`avenc_mpeg4`, gst-libav) in `.mp4` or `.avi`. Frames keep the recording's own
//! timestamps, so a frame of the video is the frame of the events with the same time.

use std::path::{Path, PathBuf};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app::AppSrc;
use image::RgbaImage;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum VideoError {
    #[error("{}: the annotated video must end in .webm, .mkv, .mp4 or .avi", .0.display())]
    Format(PathBuf),
    #[error("cannot encode {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
}

pub struct VideoWriter {
    path: PathBuf,
    pipeline: gst::Pipeline,
    src: AppSrc,
    size: (u32, u32),
}

/// The encoder and muxer for a file name's extension.
fn chain(path: &Path) -> Result<&'static str, VideoError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    Ok(match ext.as_deref() {
        Some("webm") => "vp8enc deadline=1 cpu-used=8 target-bitrate=2000000 ! webmmux",
        Some("mkv") => "vp8enc deadline=1 cpu-used=8 target-bitrate=2000000 ! matroskamux",
        Some("mp4") => "avenc_mpeg4 bitrate=2000000 ! mp4mux",
        Some("avi") => "avenc_mpeg4 bitrate=2000000 ! avimux",
        _ => return Err(VideoError::Format(path.into())),
    })
}

/// Whether a video can be written to `path` (its extension names a format), checked before a
/// long replay starts rather than at its first frame.
pub fn check(path: &Path) -> Result<(), VideoError> {
    chain(path).map(|_| ())
}

impl VideoWriter {
    /// A file of `width`×`height` frames at about `fps` (the caps' nominal rate; each frame
    /// carries its own timestamp).
    pub fn create(path: &Path, width: u32, height: u32, fps: u32) -> Result<Self, VideoError> {
        let fail = |message: String| VideoError::Encode {
            path: path.into(),
            message,
        };
        let encode = chain(path)?;
        // Said here in the file's own words: GStreamer's filesink only says "failed to change
        // its state" when the folder is missing or read-only.
        std::fs::File::create(path).map_err(|e| fail(format!("cannot write it: {e}")))?;
        gst::init().map_err(|e| fail(e.to_string()))?;
        let description = format!(
            "appsrc name=src format=time ! video/x-raw,format=RGBA,width={width},height={height},framerate={fps}/1 \
             ! videoconvert ! video/x-raw,format=I420 ! {encode} ! filesink name=sink"
        );
        let pipeline = gst::parse::launch(&description)
            .map_err(|e| fail(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| fail("not a pipeline".into()))?;
        let by_name = |name: &str| {
            pipeline
                .by_name(name)
                .ok_or_else(|| fail(format!("no {name} element")))
        };
        by_name("sink")?.set_property("location", path.display().to_string());
        let src = by_name("src")?
            .downcast::<AppSrc>()
            .map_err(|_| fail("appsrc is not an AppSrc".into()))?;
        // Backpressure instead of memory: the replay waits for the encoder.
        src.set_max_bytes(u64::from(width) * u64::from(height) * 4 * 8);
        src.set_block(true);
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            path: path.into(),
            pipeline,
            src,
            size: (width, height),
        })
    }

    /// Appends one frame shown from `pts_ms`; a frame of another size is scaled to the video's.
    pub fn push(&mut self, frame: &RgbaImage, pts_ms: u64) -> Result<(), VideoError> {
        let scaled;
        let frame = if frame.dimensions() == self.size {
            frame
        } else {
            scaled = image::imageops::resize(
                frame,
                self.size.0,
                self.size.1,
                image::imageops::FilterType::Triangle,
            );
            &scaled
        };
        let mut buffer = gst::Buffer::from_mut_slice(frame.as_raw().clone());
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_mseconds(pts_ms));
        }
        self.src
            .push_buffer(buffer)
            .map_err(|e| VideoError::Encode {
                path: self.path.clone(),
                message: format!("the encoder stopped: {e:?}"),
            })?;
        Ok(())
    }

    /// Ends the stream and waits until the file is complete (the muxer writes its index last).
    pub fn finish(self) -> Result<(), VideoError> {
        let fail = |message: String| VideoError::Encode {
            path: self.path.clone(),
            message,
        };
        self.src
            .end_of_stream()
            .map_err(|e| fail(format!("{e:?}")))?;
        let bus = self.pipeline.bus().ok_or_else(|| fail("no bus".into()))?;
        let result = match bus.timed_pop_filtered(
            gst::ClockTime::from_seconds(120),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            Some(msg) => match msg.view() {
                gst::MessageView::Error(e) => Err(fail(e.error().to_string())),
                _ => Ok(()),
            },
            None => Err(fail("the encoder did not finish within 120 s".into())),
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_named_before_gstreamer_starts() {
        let dir = tempfile::tempdir().unwrap();
        let e = VideoWriter::create(&dir.path().join("nodir/a.webm"), 64, 48, 10)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("nodir/a.webm") && e.contains("No such file"),
            "{e}"
        );
    }

    #[test]
    fn the_extension_picks_an_encoder_debian_ships() {
        assert!(chain(Path::new("a.webm")).unwrap().contains("vp8enc"));
        assert!(chain(Path::new("a.MKV")).unwrap().contains("matroskamux"));
        assert!(chain(Path::new("a.mp4")).unwrap().contains("avenc_mpeg4"));
        assert!(matches!(
            chain(Path::new("a.gif")),
            Err(VideoError::Format(_))
        ));
        assert!(matches!(
            chain(Path::new("noext")),
            Err(VideoError::Format(_))
        ));
    }

    #[test]
    fn frames_become_a_playable_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.webm");
        let mut w = VideoWriter::create(&path, 64, 48, 10).unwrap();
        for i in 0..10u64 {
            let img = RgbaImage::from_pixel(64, 48, image::Rgba([(i * 20) as u8, 0, 0, 255]));
            w.push(&img, i * 100).unwrap();
        }
        w.push(&RgbaImage::new(32, 24), 1000).unwrap();
        w.finish().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len > 500, "{len} bytes");
        assert_eq!(
            &std::fs::read(&path).unwrap()[..4],
            &[0x1a, 0x45, 0xdf, 0xa3],
            "EBML"
        );
    }
}
