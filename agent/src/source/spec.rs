//! Camera addresses: which kind of source a URI names, and the GStreamer pipeline that reads it.

use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum SpecError {
    #[error("video file {0} does not exist")]
    MissingFile(PathBuf),
    #[error(
        "unknown source scheme in {uri:?}: use file://, rtsp://, rtsps://, v4l2://, test://, pipeline: or a file path{nokhwa}"
    )]
    UnknownScheme { uri: String, nokhwa: &'static str },
    #[error("bad source {uri:?}: {reason}")]
    Bad { uri: String, reason: String },
}

/// A parsed camera address.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceSpec {
    /// A recorded video: replayed deterministically, nothing dropped.
    File(PathBuf),
    /// A folder of JPEG frames numbered as in MOTChallenge (`000001.jpg`, …), from `first`:
    /// annotated footage for `aisle eval detect`. Replayed like a recording.
    Images {
        dir: PathBuf,
        first: u32,
    },
    Rtsp(String),
    V4l2(PathBuf),
    /// `videotestsrc`; live unless `frames` is given, in which case it is a finite, non-live clip.
    Test {
        pattern: String,
        width: u32,
        height: u32,
        fps: u32,
        frames: Option<u32>,
    },
    /// A raw GStreamer pipeline description producing video; the agent appends conversion and sink.
    Pipeline(String),
    /// A USB camera through nokhwa's native input, by index.
    Nokhwa(u32),
}

const NOKHWA_HINT: &str = if cfg!(feature = "nokhwa") {
    ", nokhwa://INDEX"
} else {
    ""
};

impl SourceSpec {
    pub fn parse(uri: &str) -> Result<Self, SpecError> {
        let bad = |reason: &str| SpecError::Bad {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if let Some(path) = uri.strip_prefix("file://") {
            return Self::file(Path::new(path));
        }
        if uri.starts_with("rtsp://") || uri.starts_with("rtsps://") {
            return Ok(Self::Rtsp(uri.to_string()));
        }
        if let Some(dev) = uri.strip_prefix("v4l2://") {
            if !dev.starts_with("/dev/") {
                return Err(bad("expected v4l2:///dev/videoN"));
            }
            return Ok(Self::V4l2(PathBuf::from(dev)));
        }
        if let Some(rest) = uri.strip_prefix("test://") {
            return Self::test(rest).map_err(|r| bad(&r));
        }
        if let Some(desc) = uri.strip_prefix("pipeline:") {
            if desc.trim().is_empty() {
                return Err(bad("empty pipeline"));
            }
            return Ok(Self::Pipeline(desc.trim().to_string()));
        }
        if let Some(index) = uri.strip_prefix("nokhwa://") {
            if !cfg!(feature = "nokhwa") {
                return Err(bad(
                    "this build has no nokhwa support (cargo feature `nokhwa`)",
                ));
            }
            return index
                .parse()
                .map(Self::Nokhwa)
                .map_err(|_| bad("expected nokhwa://INDEX"));
        }
        if uri.contains("://") {
            return Err(SpecError::UnknownScheme {
                uri: uri.to_string(),
                nokhwa: NOKHWA_HINT,
            });
        }
        Self::file(Path::new(uri))
    }

    fn file(path: &Path) -> Result<Self, SpecError> {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if abs.is_dir() {
            return Self::images(abs);
        }
        if !abs.is_file() {
            return Err(SpecError::MissingFile(abs));
        }
        Ok(Self::File(abs))
    }

    fn images(dir: PathBuf) -> Result<Self, SpecError> {
        let numbered = |name: &str| -> Option<u32> {
            let stem = name.strip_suffix(".jpg")?;
            (stem.len() == 6).then(|| stem.parse().ok()).flatten()
        };
        let first = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::Bad {
                uri: dir.display().to_string(),
                reason: e.to_string(),
            })?
            .filter_map(|e| e.ok()?.file_name().to_str().and_then(numbered))
            .min()
            .ok_or_else(|| SpecError::Bad {
                uri: dir.display().to_string(),
                reason: "a folder must hold frames named 000001.jpg, 000002.jpg, …".into(),
            })?;
        Ok(Self::Images { dir, first })
    }

    fn test(rest: &str) -> Result<Self, String> {
        let (pattern, query) = rest.split_once('?').unwrap_or((rest, ""));
        let pattern = if pattern.is_empty() { "smpte" } else { pattern };
        if !pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(format!("bad test pattern {pattern:?}"));
        }
        let (mut width, mut height, mut fps, mut frames) = (640, 480, 10, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got {pair:?}"))?;
            let n: u32 = v
                .parse()
                .map_err(|_| format!("{k}={v:?} is not a whole number"))?;
            match k {
                "width" => width = n,
                "height" => height = n,
                "fps" => fps = n,
                "frames" => frames = Some(n),
                _ => {
                    return Err(format!(
                        "unknown test:// parameter {k:?} (width, height, fps, frames)"
                    ));
                }
            }
        }
        if width == 0 || height == 0 || fps == 0 {
            return Err("width, height and fps must be above 0".into());
        }
        Ok(Self::Test {
            pattern: pattern.to_string(),
            width,
            height,
            fps,
            frames,
        })
    }

    /// Live sources keep only the newest frame and reconnect; files and finite clips replay everything.
    pub fn is_live(&self) -> bool {
        !matches!(
            self,
            Self::File(_)
                | Self::Images { .. }
                | Self::Test {
                    frames: Some(_),
                    ..
                }
        )
    }

    /// The pipeline up to raw video, before rate limiting and conversion.
    pub(crate) fn head(&self) -> String {
        match self {
            Self::File(p) => format!(
                "filesrc location={} ! decodebin",
                quote(&p.display().to_string())
            ),
            Self::Rtsp(uri) => format!(
                "rtspsrc location={} latency=200 drop-on-latency=true ! decodebin",
                quote(uri)
            ),
            Self::V4l2(dev) => format!(
                "v4l2src device={} ! decodebin",
                quote(&dev.display().to_string())
            ),
            Self::Test {
                pattern,
                width,
                height,
                fps,
                frames,
            } => format!(
                "videotestsrc pattern={pattern} is-live={} num-buffers={} ! video/x-raw,width={width},height={height},framerate={fps}/1",
                frames.is_none(),
                frames.map_or(-1, i64::from)
            ),
            Self::Images { dir, first } => format!(
                "multifilesrc location={} start-index={first} caps=\"image/jpeg,framerate=10/1\" ! jpegdec",
                quote(&dir.join("%06d.jpg").display().to_string())
            ),
            Self::Pipeline(desc) => desc.clone(),
            Self::Nokhwa(_) => String::new(),
        }
    }
}

/// Quotes a value for `gst_parse_launch`.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_of_numbered_frames_is_a_recording_from_its_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        let e = SourceSpec::parse(dir.path().to_str().unwrap()).unwrap_err();
        assert!(e.to_string().contains("000001.jpg"), "{e}");
        for name in ["000007.jpg", "000003.jpg", "notes.txt", "12.jpg"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let spec = SourceSpec::parse(dir.path().to_str().unwrap()).unwrap();
        assert!(
            matches!(spec, SourceSpec::Images { first: 3, .. }),
            "{spec:?}"
        );
        assert!(!spec.is_live());
        assert!(
            spec.head().contains("%06d.jpg\" start-index=3"),
            "{}",
            spec.head()
        );
    }

    #[test]
    fn schemes_are_recognised() {
        assert!(matches!(
            SourceSpec::parse("rtsp://cam/stream").unwrap(),
            SourceSpec::Rtsp(_)
        ));
        assert_eq!(
            SourceSpec::parse("v4l2:///dev/video2").unwrap(),
            SourceSpec::V4l2("/dev/video2".into())
        );
        assert!(matches!(
            SourceSpec::parse("pipeline: videotestsrc").unwrap(),
            SourceSpec::Pipeline(_)
        ));
        let t = SourceSpec::parse("test://ball?width=320&height=240&frames=5").unwrap();
        assert_eq!(
            t,
            SourceSpec::Test {
                pattern: "ball".into(),
                width: 320,
                height: 240,
                fps: 10,
                frames: Some(5)
            }
        );
        assert!(!t.is_live());
        assert!(SourceSpec::parse("test://").unwrap().is_live());
    }

    #[test]
    fn bad_addresses_say_what_is_wrong() {
        assert!(matches!(
            SourceSpec::parse("http://x/y.mp4"),
            Err(SpecError::UnknownScheme { .. })
        ));
        assert!(matches!(
            SourceSpec::parse("/no/such/video.avi"),
            Err(SpecError::MissingFile(_))
        ));
        assert!(matches!(
            SourceSpec::parse("file:///no/such.avi"),
            Err(SpecError::MissingFile(_))
        ));
        assert!(matches!(
            SourceSpec::parse("v4l2://video0"),
            Err(SpecError::Bad { .. })
        ));
        let e = SourceSpec::parse("test://?fps=fast")
            .unwrap_err()
            .to_string();
        assert!(e.contains("fps"), "{e}");
        assert!(
            SourceSpec::parse("test://x?colour=1")
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(quote("a \"b\" c"), "\"a \\\"b\\\" c\"");
    }
}
