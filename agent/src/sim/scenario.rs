//! A simulated store day as a TOML file: who arrives when, how they shop and queue, which lanes
//! are open, and how noisy the detector is. The store's geometry is not repeated here: shoppers
//! walk through the zones of the agent config the scenario names, so the scene and the analytics
//! under test can never disagree about where the door or a lane is.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use crate::analytics::zones::{Units, ZoneConfig, ZoneKind};
use crate::config::{Config, ConfigError};

#[derive(Debug, Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {path}: {}", .problems.join("; "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("scenario {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: ConfigError,
    },
}

/// `[min, max]`, drawn uniformly.
pub type Range = [f64; 2];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Agent config (relative to the scenario file) whose camera zones the shoppers walk through.
    pub config: PathBuf,
    /// Camera of that config (default: the first enabled one).
    pub camera: Option<String>,
    /// Same seed, same scenario file: the same shoppers and the same noise, byte for byte.
    pub seed: u64,
    pub duration_s: f64,
    pub fps: f64,
    /// Frame size in pixels, `[width, height]`.
    pub size: [u32; 2],
    /// Arrival rate over the day: `[[from_s, shoppers_per_minute], …]`, piecewise constant.
    pub arrivals: Vec<[f64; 2]>,
    pub store: Store,
    pub shoppers: Shoppers,
    pub lanes: Vec<Lane>,
    #[serde(default)]
    pub noise: Noise,
}

/// Which zones of the config are the door and the shop floor, and the way out after paying.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// Line zone: shoppers cross it "in" on arrival and "out" on leaving.
    pub entrance: String,
    /// Area zone where shoppers browse.
    pub floor: String,
    /// Points (normalized) walked from behind the tills to the door, clear of every queue.
    pub exit_path: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shoppers {
    /// Walking speed in frame heights per second.
    pub speed: Range,
    /// Stops on the floor per visit, and seconds at each.
    pub stops: [u32; 2],
    pub stop_s: Range,
    /// Share of shoppers who go to a till; the rest leave without buying.
    pub buy_share: f64,
    /// Seconds a shopper waits in a queue before giving up.
    pub patience_s: Range,
    /// Distance between people in a queue, in frame heights.
    #[serde(default = "spacing")]
    pub spacing: f64,
}

fn spacing() -> f64 {
    0.06
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lane {
    /// Queue zone of the config.
    pub zone: String,
    /// Seconds the cashier takes per shopper.
    pub service_s: Range,
    #[serde(default = "open")]
    pub open: bool,
}

fn open() -> bool {
    true
}

/// What makes detections unlike the truth, as a person detector on a real camera does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Noise {
    /// Standard deviation of each box coordinate, as a share of the box height.
    pub jitter: f64,
    /// Chance a visible person is not detected in a frame.
    pub miss: f64,
    /// False detections per frame (Poisson), person-sized, anywhere.
    pub false_per_frame: f64,
    /// Occlusions per person per minute, each hiding the person for `occlusion_s`.
    pub occlusions_per_min: f64,
    pub occlusion_s: Range,
    /// Scores of true detections (false ones score in the lower half of this range).
    pub score: Range,
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            jitter: 0.0,
            miss: 0.0,
            false_per_frame: 0.0,
            occlusions_per_min: 0.0,
            occlusion_s: [0.5, 1.5],
            score: [0.9, 0.9],
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario and the config it names; every problem is reported at once.
    pub fn load(path: &Path) -> Result<(Self, Config), ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.into(),
            source,
        })?;
        let mut scenario: Scenario =
            toml::from_str(&text).map_err(|e: toml::de::Error| ScenarioError::Parse {
                path: path.into(),
                message: e.to_string().replace('\n', " "),
            })?;
        if scenario.config.is_relative() {
            let base = path.parent().unwrap_or(Path::new("."));
            scenario.config = base.join(&scenario.config);
        }
        let cfg = Config::load(&scenario.config).map_err(|source| ScenarioError::Config {
            path: path.into(),
            source,
        })?;
        let problems = scenario.validate(&cfg);
        if problems.is_empty() {
            Ok((scenario, cfg))
        } else {
            Err(ScenarioError::Invalid {
                path: path.into(),
                problems,
            })
        }
    }

    /// The camera's zones.
    pub fn zones<'c>(&self, cfg: &'c Config) -> Option<&'c [ZoneConfig]> {
        cfg.cameras
            .iter()
            .filter(|c| c.enabled)
            .find(|c| self.camera.as_ref().is_none_or(|id| *id == c.id))
            .map(|c| c.zones.as_slice())
    }

    /// Every problem, each naming its field.
    pub fn validate(&self, cfg: &Config) -> Vec<String> {
        let mut p = Vec::new();
        let range = |p: &mut Vec<String>, field: &str, [lo, hi]: Range, min: f64| {
            if !(lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi) {
                p.push(format!("{field}: [{lo}, {hi}] must be {min} ≤ min ≤ max"));
            }
        };
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            p.push(format!("duration_s: {} must be above 0", self.duration_s));
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 60.0) {
            p.push(format!("fps: {} must be within (0, 60]", self.fps));
        }
        if self.size.iter().any(|&s| !(64..=8192).contains(&s)) {
            p.push(format!("size: {:?} must be 64..=8192 each", self.size));
        }
        if self.arrivals.is_empty() {
            p.push("arrivals: needs at least one [from_s, per_minute]".into());
        }
        for (i, [from, rate]) in self.arrivals.iter().enumerate() {
            let before = i.checked_sub(1).map_or(-1.0, |j| self.arrivals[j][0]);
            if !(from.is_finite() && *from > before && *from >= 0.0) {
                p.push(format!(
                    "arrivals[{i}]: from_s {from} must be ≥ 0 and increasing"
                ));
            }
            if !(rate.is_finite() && *rate >= 0.0) {
                p.push(format!("arrivals[{i}]: rate {rate} must be ≥ 0"));
            }
        }
        let s = &self.shoppers;
        range(&mut p, "shoppers.speed", s.speed, 1e-3);
        range(&mut p, "shoppers.stop_s", s.stop_s, 0.0);
        range(&mut p, "shoppers.patience_s", s.patience_s, 0.0);
        if s.stops[0] > s.stops[1] {
            p.push(format!("shoppers.stops: {:?} must be [min, max]", s.stops));
        }
        if !(0.0..=1.0).contains(&s.buy_share) {
            p.push(format!(
                "shoppers.buy_share: {} is outside 0..=1",
                s.buy_share
            ));
        }
        if !(s.spacing.is_finite() && s.spacing > 0.0) {
            p.push(format!("shoppers.spacing: {} must be above 0", s.spacing));
        }
        let n = &self.noise;
        for (field, v) in [("noise.miss", n.miss), ("noise.jitter", n.jitter)] {
            if !(0.0..1.0).contains(&v) {
                p.push(format!("{field}: {v} must be within 0..1"));
            }
        }
        for (field, v) in [
            ("noise.false_per_frame", n.false_per_frame),
            ("noise.occlusions_per_min", n.occlusions_per_min),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                p.push(format!("{field}: {v} must be ≥ 0"));
            }
        }
        range(&mut p, "noise.occlusion_s", n.occlusion_s, 0.0);
        range(&mut p, "noise.score", n.score, 0.0);
        if n.score[1] > 1.0 {
            p.push(format!("noise.score: {:?} must be within 0..=1", n.score));
        }
        let Some(zones) = self.zones(cfg) else {
            p.push(format!(
                "camera: no enabled camera {:?} in {}",
                self.camera.as_deref().unwrap_or("(first)"),
                self.config.display()
            ));
            return p;
        };
        let mut zone =
            |field: &str, name: &str, kind: ZoneKind| match zones.iter().find(|z| z.name == name) {
                None => p.push(format!("{field}: no zone {name:?} on the camera")),
                Some(z) if z.kind() != kind => {
                    p.push(format!("{field}: zone {name:?} is not a {kind:?} zone"))
                }
                Some(z) if z.units != Units::Normalized => {
                    p.push(format!("{field}: zone {name:?} must use normalized units"))
                }
                Some(_) => {}
            };
        zone("store.entrance", &self.store.entrance, ZoneKind::Line);
        zone("store.floor", &self.store.floor, ZoneKind::Area);
        for (i, lane) in self.lanes.iter().enumerate() {
            zone(&format!("lanes[{i}].zone"), &lane.zone, ZoneKind::Queue);
        }
        for (i, lane) in self.lanes.iter().enumerate() {
            range(
                &mut p,
                &format!("lanes[{i}].service_s"),
                lane.service_s,
                0.1,
            );
        }
        if s.buy_share > 0.0 && !self.lanes.iter().any(|l| l.open) {
            p.push("lanes: buyers need at least one open lane".into());
        }
        if self
            .store
            .exit_path
            .iter()
            .flatten()
            .any(|v| !(0.0..=1.0).contains(v))
        {
            p.push("store.exit_path: points must be within 0..1".into());
        }
        p
    }

    /// Arrivals per second at time `t_s`.
    pub fn rate_at(&self, t_s: f64) -> f64 {
        self.arrivals
            .iter()
            .take_while(|[from, _]| *from <= t_s)
            .last()
            .map_or(0.0, |[_, per_min]| per_min / 60.0)
    }

    pub fn frames(&self) -> u64 {
        (self.duration_s * self.fps).round() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            r#"
[agent]
device_id = "sim"
site = "lab"
[[cameras]]
id = "floor"
uri = "test://"
[[cameras.zones]]
name = "door"
kind = "line"
line = [[0.9, 0.9], [0.6, 0.9]]
[[cameras.zones]]
name = "floor"
kind = "area"
polygon = [[0.3, 0.1], [1.0, 0.1], [1.0, 0.8], [0.3, 0.8]]
"#,
            &[],
        )
        .unwrap()
    }

    const GOOD: &str = r#"
config = "store.toml"
seed = 1
duration_s = 60.0
fps = 5.0
size = [640, 360]
arrivals = [[0.0, 2.0], [30.0, 4.0]]
store = { entrance = "door", floor = "floor", exit_path = [] }
shoppers = { speed = [0.05, 0.1], stops = [1, 2], stop_s = [5.0, 10.0], buy_share = 0.0, patience_s = [60.0, 120.0] }
lanes = []
"#;

    #[test]
    fn a_good_scenario_has_no_problems_and_a_piecewise_rate() {
        let s: Scenario = toml::from_str(GOOD).unwrap();
        assert_eq!(s.validate(&cfg()), Vec::<String>::new());
        assert_eq!(s.rate_at(10.0), 2.0 / 60.0);
        assert_eq!(s.rate_at(30.0), 4.0 / 60.0);
        assert_eq!(s.frames(), 300);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let bad = GOOD
            .replace("fps = 5.0", "fps = 0.0")
            .replace("[30.0, 4.0]", "[0.0, -4.0]")
            .replace("entrance = \"door\"", "entrance = \"floor\"")
            .replace("buy_share = 0.0", "buy_share = 1.0")
            .replace(
                "lanes = []",
                "lanes = [{ zone = \"till\", service_s = [9.0, 3.0] }]",
            );
        let s: Scenario = toml::from_str(&bad).unwrap();
        let problems = s.validate(&cfg()).join("\n");
        for field in [
            "fps:",
            "arrivals[1]: from_s",
            "arrivals[1]: rate",
            "store.entrance: zone \"floor\" is not a Line zone",
            "lanes[0].zone: no zone \"till\"",
            "lanes[0].service_s",
        ] {
            assert!(
                problems.contains(field),
                "{field} missing from:\n{problems}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = toml::from_str::<Scenario>(&format!("{GOOD}\nrush = true")).unwrap_err();
        assert!(err.to_string().contains("rush"), "{err}");
    }
}
