//! Options several commands take, declared once so they read and default the same everywhere,
//! and the parsers that bound them as the config bounds the same settings.

use std::path::{Path, PathBuf};

use clap::Args;

use aisle::analytics::mot;
use aisle::config::{MAX_LANES, MAX_THREADS};
use aisle::detect::DetectorOptions;
use aisle::detect::tiling::{TileGrid, Tiling};
use aisle::install::{self, Bundled, NotFound};

/// How to run the person detector from the command line.
#[derive(Args, Debug)]
pub struct DetectorArgs {
    /// Model manifest; the bundled default person model when absent.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// ONNX Runtime threads in all, 1 to 64 (default: one per core).
    #[arg(long, value_parser = thread_count)]
    pub threads: Option<usize>,
    /// Frames inferred side by side, sharing the threads (more throughput, more memory; default:
    /// one per thread while memory allows).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_LANES as u64))]
    pub lanes: Option<u64>,
    /// Detect in COLSxROWS overlapping slices of each frame, one inference each.
    #[arg(long, default_value = "1x1")]
    pub tiles: TileGrid,
    /// Share of a slice that overlaps its neighbour.
    #[arg(long, default_value_t = 0.4, value_parser = overlap_share)]
    pub tile_overlap: f32,
    /// Path of libonnxruntime.so (default: ORT_DYLIB_PATH, then the installation).
    #[arg(long)]
    pub ort_library: Option<PathBuf>,
}

impl DetectorArgs {
    pub fn manifest(&self) -> Result<PathBuf, NotFound> {
        install::model(Bundled::Person, self.model.as_deref())
    }

    pub fn threads(&self) -> usize {
        self.threads.unwrap_or_else(super::agent::default_threads)
    }

    /// The runtime options, keeping boxes from `score` up.
    pub fn options(&self, score: f32) -> DetectorOptions {
        let threads = self.threads();
        DetectorOptions {
            threads,
            lanes: match self.lanes {
                Some(lanes) => usize::try_from(lanes).unwrap_or(1),
                None => super::agent::auto_lanes(threads),
            },
            score: Some(score),
            ort_library: self.ort_library.clone(),
        }
    }

    pub fn tiling(&self) -> Tiling {
        Tiling {
            grid: self.tiles,
            overlap: self.tile_overlap,
        }
    }
}

/// A shelf grid for the command line: levels × bays, each 1 to 16 as in a shelf zone.
pub fn levels_by_bays(s: &str) -> Result<(u32, u32), String> {
    let parse = |v: &str| v.parse::<u32>().ok().filter(|n| (1..=16).contains(n));
    match s.split_once('x').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(levels), Some(bays))) => Ok((levels, bays)),
        _ => Err(format!("{s:?} is not LEVELSxBAYS, each 1 to 16")),
    }
}

/// ONNX Runtime threads on the command line, bounded as `runtime.threads` is in a config.
pub fn thread_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a thread count from 1 to {MAX_THREADS}"
        )),
    }
}

/// A score on the common calibrated scale, 0..=1 (NaN is not one).
pub fn unit_score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a score in 0..=1")),
    }
}

/// A timeout in seconds, above 0 and at most a day (NaN is not one).
pub fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 86400]")),
    }
}

/// A slice overlap share for the command line, 0..=0.5.
fn overlap_share(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=0.5).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share in 0..=0.5")),
    }
}

/// A frame size, WIDTHxHEIGHT in pixels, both above 0.
pub fn frame_size(s: &str) -> Result<(u32, u32), String> {
    let parsed = s
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|&(w, h)| w > 0 && h > 0);
    parsed.ok_or_else(|| format!("{s:?} is not WIDTHxHEIGHT, e.g. 640x480"))
}

/// A MOT-format file (detections, tracks or ground truth), its errors naming the file.
pub fn read_mot(path: &Path) -> anyhow::Result<Vec<mot::MotRow>> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    mot::parse(&text).with_context(|| format!("{}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_match_the_config() {
        assert_eq!(thread_count("1"), Ok(1));
        assert_eq!(thread_count(&MAX_THREADS.to_string()), Ok(MAX_THREADS));
        assert!(thread_count("0").is_err());
        assert!(thread_count(&(MAX_THREADS + 1).to_string()).is_err());
        assert!(unit_score("NaN").is_err());
        assert!(unit_score("1.01").is_err());
        assert_eq!(unit_score("0.5"), Ok(0.5));
        assert!(overlap_share("0.6").is_err());
        assert_eq!(levels_by_bays("4x3"), Ok((4, 3)));
        assert!(levels_by_bays("0x3").is_err());
        assert!(levels_by_bays("17x1").is_err());
        assert_eq!(frame_size("640X480"), Ok((640, 480)));
        assert!(frame_size("0x480").is_err());
        assert!(frame_size("640").is_err());
    }
}
