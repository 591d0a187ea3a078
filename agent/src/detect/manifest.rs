//! Model manifests: the TOML contract beside each `.onnx` file.
//!
//! The manifest, not the graph, says how to feed and read a model, so a model swap is a data
//! change. Everything a frame depends on is checked when the manifest loads.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::calibration::ScoreMap;
use super::decode::{DecodeParams, DecoderKind};
use super::geometry::ResizeMode;
use super::preprocess::{ColorOrder, InputSpec};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: u64,
    /// Model file, relative to the manifest's folder.
    pub onnx: PathBuf,
    /// Lower-case hex SHA-256 of the model file.
    pub sha256: String,
    pub input: InputSection,
    pub output: OutputSection,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub layout: Layout,
    pub color: ColorOrder,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub resize: ResizeMode,
    #[serde(default)]
    pub pad_value: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSection {
    pub decoder: DecoderKind,
    pub labels: Vec<String>,
    /// Labels reported; others are never decoded. Empty means all.
    #[serde(default)]
    pub keep: Vec<String>,
    /// On the calibrated scale (see `score_map`), like every score the detector reports.
    pub score_threshold: f32,
    /// `[raw, calibrated]` pairs mapping this model's scores onto the default model's scale, so
    /// the tracker's thresholds mean the same for every model (`detect::calibration`). Empty:
    /// the raw scores are on that scale already.
    #[serde(default)]
    pub score_map: Vec<[f32; 2]>,
    pub nms_iou: f32,
    #[serde(default = "default_max_detections")]
    pub max_detections: usize,
    #[serde(default)]
    pub strides: Vec<u32>,
    #[serde(default)]
    pub reg_max: usize,
}

fn default_max_detections() -> usize {
    100
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model manifest {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("model manifest {path}: {}", problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// A manifest's text, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ManifestError> {
        let m: Manifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        let problems = m.problems();
        if problems.is_empty() {
            Ok(m)
        } else {
            Err(ManifestError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }

    /// Every inconsistency at once, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let (i, o) = (&self.input, &self.output);
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            p.push("sha256: must be 64 hex digits".to_string());
        }
        if i.width == 0 || i.height == 0 || i.width > 4096 || i.height > 4096 {
            p.push(format!(
                "input.width/height: {}x{} is outside 1..=4096",
                i.width, i.height
            ));
        }
        if i.std.iter().any(|s| !s.is_finite() || *s == 0.0)
            || i.mean.iter().any(|m| !m.is_finite())
        {
            p.push("input.mean/std: must be finite, std non-zero".to_string());
        }
        if o.labels.is_empty() || o.labels.len() > u16::MAX as usize {
            p.push("output.labels: must list the model's classes".to_string());
        }
        for k in &o.keep {
            if !o.labels.contains(k) {
                p.push(format!("output.keep: {k:?} is not in output.labels"));
            }
        }
        if !(0.0..=1.0).contains(&o.score_threshold) {
            p.push(format!(
                "output.score_threshold: {} is outside 0..=1",
                o.score_threshold
            ));
        }
        if let Err(e) = ScoreMap::new(&o.score_map) {
            p.push(format!("output.score_map: {e}"));
        }
        if !(0.0..=1.0).contains(&o.nms_iou) {
            p.push(format!("output.nms_iou: {} is outside 0..=1", o.nms_iou));
        }
        let needs_strides = matches!(o.decoder, DecoderKind::NanodetGfl | DecoderKind::Yolox);
        if needs_strides && (o.strides.is_empty() || o.strides.contains(&0)) {
            p.push(format!(
                "output.strides: decoder {} needs non-zero strides",
                o.decoder.name()
            ));
        }
        if o.decoder == DecoderKind::NanodetGfl && o.reg_max == 0 {
            p.push("output.reg_max: decoder nanodet-gfl needs reg_max (bins - 1)".to_string());
        }
        p
    }

    pub fn input_spec(&self) -> InputSpec {
        let i = &self.input;
        InputSpec {
            width: i.width,
            height: i.height,
            color: i.color,
            mean: i.mean,
            std: i.std,
            resize: i.resize,
            pad_value: i.pad_value,
        }
    }

    pub fn decode_params(&self) -> DecodeParams {
        let o = &self.output;
        let keep = if o.keep.is_empty() {
            (0..o.labels.len() as u16).collect()
        } else {
            o.labels
                .iter()
                .enumerate()
                .filter(|(_, l)| o.keep.contains(l))
                .map(|(i, _)| i as u16)
                .collect()
        };
        DecodeParams {
            kind: o.decoder,
            num_classes: o.labels.len(),
            keep,
            strides: o.strides.clone(),
            reg_max: o.reg_max,
            input_w: self.input.width,
            input_h: self.input.height,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"
version = 1
onnx = "t.onnx"
sha256 = "833ea748b4223f885847c7fe4002ca58a0f0ed27b5f9761973c7845842408e2b"
[input]
name = "x"
width = 416
height = 416
layout = "nchw"
color = "bgr"
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]
resize = "letterbox"
[output]
decoder = "nanodet-gfl"
labels = ["person", "bicycle"]
keep = ["person"]
score_threshold = 0.4
nms_iou = 0.6
strides = [8, 16, 32]
reg_max = 10
"#;

    #[test]
    fn a_good_manifest_keeps_only_the_listed_labels() {
        let m: Manifest = toml::from_str(GOOD).unwrap();
        assert!(m.problems().is_empty());
        assert_eq!(m.decode_params().keep, vec![0]);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let bad = GOOD
            .replace("keep = [\"person\"]", "keep = [\"cat\"]")
            .replace("nms_iou = 0.6", "nms_iou = 1.5")
            .replace(
                "reg_max = 10",
                "reg_max = 0\nscore_map = [[0.0, 0.0], [0.5, 0.2]]",
            )
            .replace("833ea7", "zz");
        let m: Manifest = toml::from_str(&bad).unwrap();
        let p = m.problems().join("\n");
        for field in [
            "output.keep",
            "output.nms_iou",
            "output.reg_max",
            "output.score_map",
            "sha256",
        ] {
            assert!(p.contains(field), "{field} missing from {p}");
        }
    }

    #[test]
    fn unknown_decoder_and_unknown_fields_are_rejected() {
        assert!(toml::from_str::<Manifest>(&GOOD.replace("nanodet-gfl", "ssd")).is_err());
        assert!(
            toml::from_str::<Manifest>(&GOOD.replace("version = 1", "version = 1\nextra = 2"))
                .is_err()
        );
    }
}
