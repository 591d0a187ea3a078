//! The config's semantic checks: names, ranges, files, and how sections agree with each other
//! (rules with zones, shelves with the shelf watch). Every problem is collected, each with its
//! field path, so an installer fixes a config in one pass.

use std::collections::HashSet;

use aisle_proto::topic::{NAME_RULE, is_name};

use super::{Config, MAX_LANES, MAX_THREADS, Problem, above_zero_at_most, delivery};
use crate::analytics::rules::{Condition, clear_problem};
use crate::analytics::zones::{ZoneConfig, ZoneKind};
use crate::source::SourceSpec;

impl Config {
    /// Every semantic problem at once.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut bad = |field: String, reason: String| p.push(Problem { field, reason });
        if !is_name(&self.agent.device_id) {
            bad(
                "agent.device_id".into(),
                format!("must be {NAME_RULE} (it is part of MQTT topics)"),
            );
        }
        if !is_name(&self.agent.site) {
            bad(
                "agent.site".into(),
                format!("must be {NAME_RULE} (it is part of MQTT topics)"),
            );
        }
        if self.runtime.threads > MAX_THREADS {
            bad(
                "runtime.threads".into(),
                format!("{} is more than {MAX_THREADS}", self.runtime.threads),
            );
        }
        if let Some(lanes) = self.runtime.lanes
            && !(1..=MAX_LANES).contains(&lanes)
        {
            bad(
                "runtime.lanes".into(),
                format!("{lanes} is not between 1 and {MAX_LANES}"),
            );
        }
        if let Some(lib) = &self.runtime.ort_library
            && !lib.is_file()
        {
            bad(
                "runtime.ort_library".into(),
                format!("{} does not exist", lib.display()),
            );
        }
        if let Some(model) = &self.detector.model
            && !model.is_file()
        {
            bad(
                "detector.model".into(),
                format!("manifest {} does not exist", model.display()),
            );
        }
        if let Some(s) = self.detector.score
            && !(0.0..=1.0).contains(&s)
        {
            bad("detector.score".into(), format!("{s} is outside 0..=1"));
        }
        for problem in self.shelf.validate() {
            bad(problem.field, problem.reason);
        }
        if !(1..=64).contains(&self.pipeline.queue_capacity) {
            bad(
                "pipeline.queue_capacity".into(),
                format!("{} is outside 1..=64", self.pipeline.queue_capacity),
            );
        }
        if !above_zero_at_most(self.pipeline.health_interval_s, 86_400.0) {
            bad(
                "pipeline.health_interval_s".into(),
                "must be in (0, 86400]".into(),
            );
        }
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            bad(
                "log.level".into(),
                format!("{:?} is not a tracing filter", self.log.level),
            );
        }
        if self.cameras.iter().all(|c| !c.enabled) {
            bad("cameras".into(), "no enabled camera".into());
        }
        let mut ids = HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let f = |k: &str| format!("cameras[{i}].{k}");
            if let Some(reason) = name_problem(&mut ids, &c.id, "camera") {
                bad(f("id"), reason);
            }
            match SourceSpec::parse(&c.uri) {
                Ok(spec) => {
                    if let Err(why) = crate::source::check(&spec) {
                        bad(f("uri"), why);
                    }
                }
                Err(e) => bad(f("uri"), e.to_string()),
            }
            if let Some(fps) = c.fps
                && !above_zero_at_most(fps, 120.0)
            {
                bad(f("fps"), format!("{fps} is outside (0, 120]"));
            }
            if c.every == 0 {
                bad(f("every"), "must be at least 1".into());
            }
            if !above_zero_at_most(c.stall_timeout_s, 3600.0) {
                bad(
                    f("stall_timeout_s"),
                    format!("{} is outside (0, 3600]", c.stall_timeout_s),
                );
            }
            if !(c.reconnect_min_s > 0.0
                && c.reconnect_min_s <= c.reconnect_max_s
                && c.reconnect_max_s <= 3600.0)
            {
                bad(
                    f("reconnect_min_s"),
                    "need 0 < reconnect_min_s <= reconnect_max_s <= 3600".into(),
                );
            }
            if !(0.0..=0.5).contains(&c.tile_overlap) {
                bad(
                    f("tile_overlap"),
                    format!("{} is outside 0..=0.5", c.tile_overlap),
                );
            }
        }
        delivery::validate(&self.outbox, self.mqtt.as_ref(), &mut bad);
        self.metrics.validate(&mut bad);
        if let Some(ota) = &self.ota {
            for problem in ota.validate() {
                bad(problem.field, problem.reason);
            }
        }
        self.validate_analytics(&mut p);
        p
    }

    fn validate_analytics(&self, p: &mut Vec<Problem>) {
        let mut bad = |field: String, reason: String| p.push(Problem { field, reason });
        if !(self.analytics.summary_interval_s >= 1.0
            && self.analytics.summary_interval_s <= 86_400.0)
        {
            bad(
                "analytics.summary_interval_s".into(),
                format!("{} is outside 1..=86400", self.analytics.summary_interval_s),
            );
        }
        for (field, reason) in self.analytics.tracker.problems("analytics.tracker") {
            bad(field, reason);
        }
        for (i, c) in self.cameras.iter().enumerate() {
            let mut names = HashSet::new();
            for (j, z) in c.zones.iter().enumerate() {
                let f = |k: &str| format!("cameras[{i}].zones[{j}].{k}");
                if let Some(reason) = name_problem(&mut names, &z.name, "zone of this camera") {
                    bad(f("name"), reason);
                }
                for (k, reason) in z.problems() {
                    bad(f(&k), reason);
                }
            }
        }
        let mut rule_names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let f = |k: &str| format!("rules[{i}].{k}");
            if let Some(reason) = name_problem(&mut rule_names, &r.name, "rule") {
                bad(f("name"), reason);
            }
            if let Some(cam) = &r.camera
                && !self.cameras.iter().any(|c| &c.id == cam)
            {
                bad(f("camera"), format!("no camera {cam:?}"));
            }
            let zones: Vec<&ZoneConfig> = self
                .cameras
                .iter()
                .filter(|c| r.camera.as_ref().is_none_or(|cam| *cam == c.id))
                .flat_map(|c| c.zones.iter().filter(|z| z.name == r.zone))
                .collect();
            if zones.is_empty() {
                bad(
                    f("zone"),
                    format!(
                        "no zone {:?} on {}",
                        r.zone,
                        r.camera
                            .as_deref()
                            .map_or("any camera".into(), |c| format!("camera {c:?}"))
                    ),
                );
            }
            let when = match Condition::parse(&r.when) {
                Ok(c) => Some(c),
                Err(e) => {
                    bad(f("when"), e);
                    None
                }
            };
            if let Some(w) = &when {
                for z in &zones {
                    if let Some(why) = w.mismatch(z.kind()) {
                        bad(f("when"), why);
                        break;
                    }
                }
                // A shelf is read once per interval: a debounce shorter than two samples would
                // raise on one bad reading.
                let min_hold = 2.0 * self.shelf.interval_s * 1000.0;
                if zones.iter().any(|z| z.kind() == ZoneKind::Shelf)
                    && (w.hold_ms as f64) < min_hold
                {
                    bad(
                        f("when"),
                        format!(
                            "a shelf rule must hold for at least two samples ({}s with shelf.interval_s = {})",
                            2.0 * self.shelf.interval_s,
                            self.shelf.interval_s
                        ),
                    );
                }
            }
            match r.clear.as_deref().map(Condition::parse) {
                Some(Err(e)) => bad(f("clear"), e),
                Some(Ok(c)) => {
                    if let Some(why) = when.as_ref().and_then(|w| clear_problem(w, &c)) {
                        bad(f("clear"), why);
                    }
                }
                None => {}
            }
            if r.cooldown_s.is_nan() || r.cooldown_s < 0.0 {
                bad(f("cooldown_s"), "must be 0 or more".into());
            }
        }
    }
}

/// Why `name` cannot name a `what` (bad characters, or taken), recording it as taken.
fn name_problem<'a>(taken: &mut HashSet<&'a str>, name: &'a str, what: &str) -> Option<String> {
    if !is_name(name) {
        Some(format!("{name:?} must be {NAME_RULE}"))
    } else if !taken.insert(name) {
        Some(format!("{name:?} is used by another {what}"))
    } else {
        None
    }
}
