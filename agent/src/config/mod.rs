//! The agent's configuration: TOML, every key overridable from the environment as
//! `AISLE_<SECTION>__<KEY>` (array items by index: `AISLE_CAMERAS__0__URI`), and a validation
//! pass that reports every problem at once with its field path.

mod delivery;
mod parse;
mod validate;

pub use crate::ota::OtaConfig;
pub use crate::problem::Problem;
pub use crate::shelf::ShelfConfig;
pub use delivery::{MetricsSection, MqttSection, OutboxSection};

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analytics::camera::{AnalyticsConfig, CameraAnalytics};
use crate::analytics::rules::{Rule, RuleConfig};
use crate::analytics::zones::ZoneConfig;
use crate::detect::tiling::{TileGrid, Tiling};
use crate::source::{CameraSettings, GstOptions, SourceSpec};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub agent: AgentSection,
    #[serde(default)]
    pub runtime: RuntimeSection,
    #[serde(default)]
    pub detector: DetectorSection,
    #[serde(default)]
    pub pipeline: PipelineSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub analytics: AnalyticsConfig,
    #[serde(default)]
    pub cameras: Vec<CameraSection>,
    /// Alert rules on zone metrics.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub outbox: OutboxSection,
    /// The broker; without it events are kept in the outbox (and the log) only.
    pub mqtt: Option<MqttSection>,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// Signed model updates; without it the agent never installs a model (docs/ota.md).
    pub ota: Option<OtaConfig>,
    /// How shelf zones are watched (docs/shelves.md).
    #[serde(default)]
    pub shelf: ShelfConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Unique per gateway; appears in every published event.
    pub device_id: String,
    pub site: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSection {
    /// Path of `libonnxruntime.so`; searched for when absent.
    pub ort_library: Option<PathBuf>,
    /// ONNX Runtime threads in all; 0 = one per core.
    #[serde(default)]
    pub threads: usize,
    /// Frames inferred side by side, each with `threads / lanes` of the threads: more frames a
    /// second, and about 30 MB more memory per extra lane (docs/performance.md). Absent: one per
    /// thread while memory allows (`detect::lanes::auto`).
    #[serde(default)]
    pub lanes: Option<usize>,
}

/// Lanes a config (or `detect --lanes`) may ask for; more would only queue on the cores.
pub const MAX_LANES: usize = 16;

/// A config is a few KiB; reading stops here, so a wrong path (a video, a log) fails at once
/// instead of filling memory.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// ONNX Runtime threads a config or a command may ask for: more than any gateway has cores, and
/// each costs a stack and arena of its own (`--threads 100000` once grew to 16.8 GB).
pub const MAX_THREADS: usize = 64;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorSection {
    /// Model manifest; the bundled default person model when absent.
    pub model: Option<PathBuf>,
    /// Overrides the manifest's score threshold.
    pub score: Option<f32>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// Frames buffered per camera between decoding and inference.
    #[serde(default = "default_queue")]
    pub queue_capacity: usize,
    /// Seconds between health reports: a health line per camera in the log, a health event into
    /// the outbox, and the retained status sent afresh.
    #[serde(default = "default_health_interval")]
    pub health_interval_s: f64,
}

impl Default for PipelineSection {
    fn default() -> Self {
        Self {
            queue_capacity: default_queue(),
            health_interval_s: default_health_interval(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `aisle=debug`.
    #[serde(default = "default_level")]
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: default_level(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSection {
    pub id: String,
    /// `file://`, `rtsp://`, `v4l2:///dev/videoN`, `test://`, `pipeline:…` or a file path
    /// (relative paths are taken from the config file's folder).
    pub uri: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Live sources only: drop frames inside GStreamer down to this rate.
    pub fps: Option<f64>,
    /// Process every n-th delivered frame.
    #[serde(default = "one")]
    pub every: u64,
    #[serde(default = "default_stall")]
    pub stall_timeout_s: f64,
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_s: f64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_s: f64,
    /// Slices each frame is detected in, `"COLSxROWS"`, at one inference per slice: `"1x2"`
    /// keeps people in a portrait view at the size the model finds them (docs/models.md).
    #[serde(default)]
    pub tiles: TileGrid,
    /// Share of a slice that overlaps its neighbour: people up to this share of a slice tall
    /// are whole in at least one slice.
    #[serde(default = "default_tile_overlap")]
    pub tile_overlap: f32,
    /// Areas, lines, queues and shelves on this camera's image.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
}

fn default_queue() -> usize {
    2
}
fn default_health_interval() -> f64 {
    30.0
}
fn default_level() -> String {
    "info".into()
}
fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}
fn default_stall() -> f64 {
    5.0
}
fn default_reconnect_min() -> f64 {
    0.5
}
fn default_reconnect_max() -> f64 {
    30.0
}
fn default_tile_overlap() -> f32 {
    0.4
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is larger than {MAX_CONFIG_BYTES} bytes: not a config file")]
    TooLarge { path: PathBuf },
    #[error("config {path} is not a regular file (a folder, a pipe or a device)")]
    NotAFile { path: PathBuf },
    #[error("config {path} has {} problem(s):\n  {}", problems.len(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// A camera asked for by id, or the first enabled one, that the config does not have.
#[derive(Debug, Error)]
pub enum CameraChoiceError {
    #[error("no enabled camera {0:?} in the config")]
    NoCamera(String),
    #[error("the config has no enabled camera")]
    NoCameras,
}

impl Config {
    /// Reads, applies environment overrides, resolves relative paths and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        use std::io::Read;
        let read = |source| ConfigError::Read {
            path: path.into(),
            source,
        };
        // Only a regular file: opening a FIFO or a device would wait for a writer for ever.
        if !std::fs::metadata(path).map_err(read)?.is_file() {
            return Err(ConfigError::NotAFile { path: path.into() });
        }
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read)?
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read)?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge { path: path.into() });
        }
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| parse::is_override(k))
            .collect();
        let invalid = |problems| ConfigError::Invalid {
            path: path.into(),
            problems,
        };
        let mut cfg = Self::parse(&text, &env).map_err(invalid)?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        let problems = cfg.validate();
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(invalid(problems))
        }
    }

    /// Parses TOML text with `AISLE_…` overrides applied; syntax and type errors become problems
    /// naming the field (`cameras[0].zones[2].polygon: invalid type: …`).
    pub fn parse(text: &str, env: &[(String, String)]) -> Result<Self, Vec<Problem>> {
        parse::parse(text, env)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(m) = self.detector.model.as_mut() {
            resolve(m);
        }
        if let Some(l) = self.runtime.ort_library.as_mut() {
            resolve(l);
        }
        delivery::resolve(&mut self.outbox, self.mqtt.as_mut(), resolve);
        if let Some(m) = self.shelf.model.as_mut() {
            resolve(m);
        }
        resolve(&mut self.shelf.calibration_dir);
        if let Some(ota) = self.ota.as_mut() {
            resolve(&mut ota.state_dir);
            resolve(&mut ota.ca_file);
        }
        for cam in &mut self.cameras {
            let plain_path = !cam.uri.contains("://") && !cam.uri.starts_with("pipeline:");
            if plain_path && Path::new(&cam.uri).is_relative() {
                cam.uri = base.join(&cam.uri).display().to_string();
            }
        }
    }

    /// Camera `id` (default: the first enabled one): its index among the enabled cameras, as
    /// `camera_inputs` and `camera_analytics` list them, and its zones.
    pub fn enabled_camera(
        &self,
        id: Option<&str>,
    ) -> Result<(usize, &[ZoneConfig]), CameraChoiceError> {
        let zones = self.camera_zones();
        let index = match id {
            Some(id) => zones
                .iter()
                .position(|(c, _)| *c == id)
                .ok_or_else(|| CameraChoiceError::NoCamera(id.to_string()))?,
            None if zones.is_empty() => return Err(CameraChoiceError::NoCameras),
            None => 0,
        };
        Ok((index, zones[index].1))
    }

    /// Each enabled camera's id and zones, in order: what the shelf watch is built from.
    pub fn camera_zones(&self) -> Vec<(&str, &[ZoneConfig])> {
        self.cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id.as_str(), c.zones.as_slice()))
            .collect()
    }

    /// The shelves of every enabled camera, and their classifier.
    pub fn shelves(&self) -> Result<crate::shelf::Shelves, crate::shelf::ShelfError> {
        crate::shelf::Shelves::new(
            &self.camera_zones(),
            &self.shelf,
            self.runtime.ort_library.as_deref(),
        )
    }

    /// Per enabled camera, its analytics: zones and the rules that apply to it. Call on a
    /// validated config.
    pub fn camera_analytics(&self) -> Vec<CameraAnalytics> {
        self.cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let rules = self
                    .rules
                    .iter()
                    .filter(|r| {
                        r.camera.as_ref().is_none_or(|cam| *cam == c.id)
                            && c.zones.iter().any(|z| z.name == r.zone)
                    })
                    .filter_map(|r| Rule::new(r.clone(), &c.id).ok())
                    .collect();
                CameraAnalytics::new(&c.id, c.zones.clone(), rules, &self.analytics)
            })
            .collect()
    }

    /// The enabled cameras as the pipeline runs them. Call on a validated config.
    pub fn camera_inputs(
        &self,
    ) -> Result<Vec<crate::pipeline::CameraInput>, crate::source::SpecError> {
        let secs = Duration::from_secs_f64;
        self.cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let spec = SourceSpec::parse(&c.uri)?;
                let settings = CameraSettings {
                    id: c.id.clone(),
                    live: spec.is_live(),
                    stall_timeout: secs(c.stall_timeout_s),
                    backoff_base: secs(c.reconnect_min_s),
                    backoff_max: secs(c.reconnect_max_s),
                    every: c.every,
                };
                Ok(crate::pipeline::CameraInput {
                    spec,
                    settings,
                    gst: GstOptions {
                        max_fps: c.fps,
                        fit: None,
                    },
                    tiling: Tiling {
                        grid: c.tiles,
                        overlap: c.tile_overlap,
                    },
                })
            })
            .collect()
    }
}

/// `0 < v <= max`, false for NaN.
pub(crate) fn above_zero_at_most(v: f64, max: f64) -> bool {
    v > 0.0 && v <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[agent]
device_id = "gw-1"
site = "store-7"

[[cameras]]
id = "door"
uri = "test://"
"#;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn minimal_config_is_valid_with_defaults() {
        let c = Config::parse(MINIMAL, &[]).unwrap();
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        assert_eq!(c.pipeline.queue_capacity, 2);
        assert_eq!(c.runtime.lanes, None);
        assert_eq!(c.cameras[0].every, 1);
    }

    #[test]
    fn environment_overrides_sections_and_array_items() {
        let e = env(&[
            ("AISLE_RUNTIME__THREADS", "3"),
            ("AISLE_CAMERAS__0__URI", "test://ball"),
            ("AISLE_LOG__FORMAT", "json"),
        ]);
        let c = Config::parse(MINIMAL, &e).unwrap();
        assert_eq!(c.runtime.threads, 3);
        assert_eq!(c.cameras[0].uri, "test://ball");
        assert_eq!(c.log.format, LogFormat::Json);
    }

    #[test]
    fn bad_overrides_are_named() {
        assert!(!parse::is_override("AISLE_LOG") && parse::is_override("AISLE_LOG__LEVEL"));
        let e = env(&[("AISLE_CAMERAS__5__URI", "x"), ("AISLE_AGENT__", "x")]);
        let p = Config::parse(MINIMAL, &e).unwrap_err();
        assert_eq!(p.len(), 2);
        assert!(p[0].field == "AISLE_CAMERAS__5__URI" && p[0].reason.contains("past"));
    }

    #[test]
    fn a_pipeline_that_can_never_run_is_a_problem() {
        for (uri, why) in [
            (
                "pipeline:fakesrc ! nonexistentelement",
                "nonexistentelement",
            ),
            (
                "pipeline:videotestsrc num-buffers=3 ! fakesink",
                "cannot be built",
            ),
        ] {
            let text = MINIMAL.replace("test://", uri);
            let p = Config::parse(&text, &[]).unwrap().validate();
            assert!(
                p.iter()
                    .any(|p| p.field == "cameras[0].uri" && p.reason.contains(why)),
                "{uri}: {p:?}"
            );
        }
        let ok = MINIMAL.replace("test://", "pipeline:videotestsrc is-live=true");
        assert!(Config::parse(&ok, &[]).unwrap().validate().is_empty());
    }

    #[test]
    fn a_metrics_endpoint_off_loopback_needs_saying_so() {
        let open = format!("{MINIMAL}\n[metrics]\nlisten = \"0.0.0.0:9899\"\n");
        let p = Config::parse(&open, &[]).unwrap().validate();
        assert!(p.iter().any(|p| p.field == "metrics.listen"), "{p:?}");
        let allowed = format!("{open}allow_remote = true\n");
        assert!(Config::parse(&allowed, &[]).unwrap().validate().is_empty());
        let local = format!("{MINIMAL}\n[metrics]\nlisten = \"[::1]:9899\"\n");
        assert!(Config::parse(&local, &[]).unwrap().validate().is_empty());
    }

    #[test]
    fn type_errors_name_the_field() {
        let text = MINIMAL.replace("uri = \"test://\"", "uri = \"test://\"\nevery = \"often\"");
        let p = Config::parse(&text, &[]).unwrap_err();
        assert_eq!(p[0].field, "cameras[0].every", "{p:?}");
        assert!(p[0].reason.contains("invalid type"), "{p:?}");
        let zones = format!(
            "{MINIMAL}\n[[cameras.zones]]\nname = \"a\"\nkind = \"area\"\npolygon = [1, 2]\n"
        );
        let p = Config::parse(&zones, &[]).unwrap_err();
        assert_eq!(p[0].field, "cameras[0].zones[0].polygon[0]", "{p:?}");
        let p = Config::parse("[agent\n", &[]).unwrap_err();
        assert_eq!(p[0].field, "toml line 1, column 7", "{p:?}");
    }

    #[test]
    fn env_values_are_strings_where_the_field_wants_one() {
        let e = env(&[
            ("AISLE_AGENT__SITE", "42"),
            ("AISLE_AGENT__DEVICE_ID", "true"),
            ("AISLE_RUNTIME__THREADS", "3"),
            ("AISLE_CAMERAS__0__ID", "\"quoted\""),
        ]);
        let c = Config::parse(MINIMAL, &e).unwrap();
        assert_eq!(
            (c.agent.site.as_str(), c.agent.device_id.as_str()),
            ("42", "true")
        );
        assert_eq!(c.runtime.threads, 3);
        assert_eq!(c.cameras[0].id, "quoted");
        // A string where a number is wanted stays an error, naming the field.
        let p = Config::parse(MINIMAL, &env(&[("AISLE_RUNTIME__THREADS", "many")])).unwrap_err();
        assert_eq!(p[0].field, "runtime.threads", "{p:?}");
    }

    #[test]
    fn a_pipe_or_a_folder_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("aisle.toml");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for path in [fifo.as_path(), dir.path()] {
            let e = Config::load(path).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let p = Config::parse(&MINIMAL.replace("site =", "colour = 1\nsite ="), &[]).unwrap_err();
        assert!(p[0].reason.contains("colour"), "{p:?}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = r#"
[agent]
device_id = "gw 1"
site = ""
[runtime]
threads = 100
lanes = 0
[detector]
score = 2.0
[pipeline]
queue_capacity = 0
[[cameras]]
id = "a"
uri = "ftp://x"
every = 0
fps = -1.0
[[cameras]]
id = "a"
uri = "test://"
reconnect_min_s = 10.0
reconnect_max_s = 1.0
tile_overlap = 0.9
"#;
        let c = Config::parse(text, &[]).unwrap();
        let fields: Vec<String> = c.validate().into_iter().map(|p| p.field).collect();
        for f in [
            "agent.device_id",
            "agent.site",
            "runtime.threads",
            "runtime.lanes",
            "detector.score",
            "pipeline.queue_capacity",
            "cameras[0].uri",
            "cameras[0].every",
            "cameras[0].fps",
            "cameras[1].id",
            "cameras[1].reconnect_min_s",
            "cameras[1].tile_overlap",
        ] {
            assert!(fields.contains(&f.to_string()), "{f} not in {fields:?}");
        }
    }
}
