//! Alert rules: `queue.length >= 4 for 60s`-style conditions on a zone metric, with debounce
//! (the condition must hold `for` a while), a separate clear condition (hysteresis), a cooldown
//! after clearing, and a severity.

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use super::zones::{Level, ZoneKind};
pub use crate::events::Severity;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Names the alert; letters, digits, '-' and '_'.
    pub name: String,
    /// The zone whose metric is watched, on every camera that has a zone of that name.
    pub zone: String,
    /// Only this camera (default: every camera with the zone).
    pub camera: Option<String>,
    /// `<metric> <op> <value> [for <duration>]`, e.g. `queue.length >= 4 for 60s`.
    pub when: String,
    /// When the alert clears, e.g. `queue.length <= 2`; default: as soon as `when` is false.
    pub clear: Option<String>,
    /// Seconds after clearing before the rule may raise again.
    #[serde(default)]
    pub cooldown_s: f64,
    #[serde(default)]
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, v: f64, threshold: f64) -> bool {
        match self {
            Op::Ge => v >= threshold,
            Op::Gt => v > threshold,
            Op::Le => v <= threshold,
            Op::Lt => v < threshold,
            Op::Eq => v == threshold,
            Op::Ne => v != threshold,
        }
    }
}

/// A parsed condition. Time-valued thresholds are in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `queue` in `queue.length`; absent in the `congestion == high` shorthand.
    pub kind: Option<ZoneKind>,
    pub metric: Metric,
    pub op: Op,
    pub threshold: f64,
    pub hold_ms: u64,
}

fn seconds(text: &str) -> Option<f64> {
    let (num, mult) = match text.as_bytes().last()? {
        b's' => (&text[..text.len() - 1], 1.0),
        b'm' => (&text[..text.len() - 1], 60.0),
        b'h' => (&text[..text.len() - 1], 3600.0),
        _ => (text, 1.0),
    };
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(|v| v * mult)
}

impl Condition {
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let (metric, op, value, hold) = match words.as_slice() {
            [m, o, v] => (*m, *o, *v, None),
            [m, o, v, "for", d] => (*m, *o, *v, Some(*d)),
            _ => {
                return Err(format!(
                    "{text:?}: expected `<metric> <op> <value> [for <duration>]`"
                ));
            }
        };
        let op = match op {
            ">=" => Op::Ge,
            ">" => Op::Gt,
            "<=" => Op::Le,
            "<" => Op::Lt,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            other => {
                return Err(format!(
                    "{text:?}: unknown operator {other:?} (>=, >, <=, <, ==, !=)"
                ));
            }
        };
        let threshold = match value {
            "low" => Level::Low.value(),
            "medium" => Level::Medium.value(),
            "high" => Level::High.value(),
            v => seconds(v)
                .ok_or_else(|| format!("{text:?}: {v:?} is not a number, duration or level"))?,
        };
        let hold_ms = match hold {
            Some(d) => {
                (seconds(d)
                    .filter(|s| *s >= 0.0)
                    .ok_or_else(|| format!("{text:?}: bad duration {d:?}"))?
                    * 1000.0) as u64
            }
            None => 0,
        };
        let (kind, name) = match metric.split_once('.') {
            Some((k, m)) => (Some(k), m),
            None => (None, metric),
        };
        let kind = kind
            .map(|k| {
                ZoneKind::named(k).ok_or_else(|| {
                    format!("{text:?}: unknown zone kind {k:?} (area, line, queue, shelf)")
                })
            })
            .transpose()?;
        let metric = Metric::named(name).ok_or_else(|| match kind {
            Some(k) => format!(
                "unknown metric {name:?} for a {} zone (one of: {})",
                k.name(),
                Metric::names_of(k)
            ),
            None => format!(
                "unknown metric {name:?} (one of: {})",
                Metric::ALL.map(Metric::name).join(", ")
            ),
        })?;
        Ok(Self {
            kind,
            metric,
            op,
            threshold,
            hold_ms,
        })
    }

    /// Why this condition cannot apply to a zone of `kind`, if it cannot.
    pub fn mismatch(&self, kind: ZoneKind) -> Option<String> {
        match self.kind {
            Some(k) if k != kind => {
                return Some(format!(
                    "the zone is a {} zone, the rule is about {}",
                    kind.name(),
                    k.name()
                ));
            }
            _ => {}
        }
        (self.metric.kind() != kind).then(|| {
            format!(
                "unknown metric {:?} for a {} zone (one of: {})",
                self.metric.name(),
                kind.name(),
                Metric::names_of(kind)
            )
        })
    }

    pub fn holds(&self, value: Option<f64>) -> bool {
        value.is_some_and(|v| self.op.holds(v, self.threshold))
    }
}

/// Checks that `clear` is on the far side of `when`: an alert raised above a threshold clears
/// below it (at or under the raise threshold), and the other way round.
pub fn clear_problem(when: &Condition, clear: &Condition) -> Option<String> {
    if clear.metric != when.metric || clear.kind != when.kind {
        return Some("clear must test the same metric as when".into());
    }
    let ok = match when.op {
        Op::Ge | Op::Gt => matches!(clear.op, Op::Le | Op::Lt) && clear.threshold <= when.threshold,
        Op::Le | Op::Lt => matches!(clear.op, Op::Ge | Op::Gt) && clear.threshold >= when.threshold,
        Op::Eq => clear.op == Op::Ne && clear.threshold == when.threshold,
        Op::Ne => clear.op == Op::Eq && clear.threshold == when.threshold,
    };
    (!ok).then(|| {
        format!(
            "clear threshold {} is on the wrong side of when's {}",
            clear.threshold, when.threshold
        )
    })
}

/// What a rule did at one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Raised { id: String, value: f64 },
    Cleared { id: String, value: Option<f64> },
}

/// How long a resumed alert watches its metric before it clears: long enough for the tracker to
/// confirm the people already there (a queue reads 0 on the first frames after a start).
pub const RESUME_SETTLE_MS: u64 = 3000;

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle {
        quiet_until: u64,
    },
    Pending {
        since: u64,
    },
    Active {
        id: String,
    },
    /// Open before the agent restarted: kept under its id while the condition still holds,
    /// cleared once the metric has read clear for [`RESUME_SETTLE_MS`] (counted from its first
    /// reading, so a shelf sampled every minute is judged on a sample, not on silence).
    Resumed {
        id: String,
        clear_since: Option<u64>,
    },
}

/// One rule on one camera's zone.
#[derive(Debug, Clone)]
pub struct Rule {
    pub cfg: RuleConfig,
    pub camera: String,
    when: Condition,
    clear: Option<Condition>,
    state: State,
}

impl Rule {
    /// Builds from a validated config (conditions already known to parse).
    pub fn new(cfg: RuleConfig, camera: &str) -> Result<Self, String> {
        let when = Condition::parse(&cfg.when)?;
        let clear = cfg.clear.as_deref().map(Condition::parse).transpose()?;
        Ok(Self {
            cfg,
            camera: camera.to_string(),
            when,
            clear,
            state: State::Idle { quiet_until: 0 },
        })
    }

    pub fn metric(&self) -> Metric {
        self.when.metric
    }

    pub fn threshold(&self) -> f64 {
        self.when.threshold
    }

    /// Advances the rule to `t_ms` with the metric's current value.
    pub fn step(&mut self, t_ms: u64, value: Option<f64>) -> Option<Transition> {
        let firing = self.when.holds(value);
        match &self.state {
            State::Idle { quiet_until } if firing && t_ms >= *quiet_until => {
                self.state = State::Pending { since: t_ms };
                self.step(t_ms, value)
            }
            State::Pending { .. } if !firing => {
                self.state = State::Idle { quiet_until: 0 };
                None
            }
            State::Pending { since } if t_ms.saturating_sub(*since) >= self.when.hold_ms => {
                let id = format!("{}/{}/{}/{t_ms}", self.camera, self.cfg.zone, self.cfg.name);
                self.state = State::Active { id: id.clone() };
                Some(Transition::Raised {
                    id,
                    value: value.unwrap_or(f64::NAN),
                })
            }
            State::Active { id } => {
                if !self.cleared(value) {
                    return None;
                }
                let id = id.clone();
                self.state = State::Idle {
                    quiet_until: t_ms + (self.cfg.cooldown_s * 1000.0) as u64,
                };
                Some(Transition::Cleared { id, value })
            }
            State::Resumed { id, clear_since } => {
                value?;
                if !self.cleared(value) {
                    self.state = State::Active { id: id.clone() };
                    return None;
                }
                let since = clear_since.unwrap_or(t_ms);
                if t_ms.saturating_sub(since) < RESUME_SETTLE_MS {
                    let id = id.clone();
                    self.state = State::Resumed {
                        id,
                        clear_since: Some(since),
                    };
                    return None;
                }
                self.state = State::Active { id: id.clone() };
                self.step(t_ms, value)
            }
            _ => None,
        }
    }

    /// Whether an active alert's clear condition holds (without one: `when` no longer holds).
    fn cleared(&self, value: Option<f64>) -> bool {
        match &self.clear {
            Some(c) => c.holds(value),
            None => !self.when.holds(value),
        }
    }

    /// Takes back alert `id`, open when the agent stopped: it is not raised again while its
    /// condition holds, and is cleared under the same id once it does not.
    pub fn resume(&mut self, id: &str) {
        self.state = State::Resumed {
            id: id.to_string(),
            clear_since: None,
        };
    }

    /// The id of the alert this rule holds open, if any.
    pub fn open_alert(&self) -> Option<&str> {
        match &self.state {
            State::Active { id } | State::Resumed { id, .. } => Some(id),
            State::Idle { .. } | State::Pending { .. } => None,
        }
    }

    /// Forgets a pending condition (the camera went down: what was building up is unknown).
    pub fn suspend(&mut self) {
        if matches!(self.state, State::Pending { .. }) {
            self.state = State::Idle { quiet_until: 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(when: &str, clear: Option<&str>, cooldown_s: f64) -> Rule {
        let cfg = RuleConfig {
            name: "r".into(),
            zone: "z".into(),
            camera: None,
            when: when.into(),
            clear: clear.map(Into::into),
            cooldown_s,
            severity: Severity::Warning,
        };
        Rule::new(cfg, "cam").unwrap()
    }

    #[test]
    fn conditions_parse_units_levels_and_durations() {
        let c = Condition::parse("queue.wait_p90 > 5m for 30s").unwrap();
        assert_eq!(
            (c.kind, c.metric, c.op, c.threshold, c.hold_ms),
            (
                Some(ZoneKind::Queue),
                Metric::WaitP90,
                Op::Gt,
                300.0,
                30_000
            )
        );
        let c = Condition::parse("congestion == high for 2m").unwrap();
        assert_eq!((c.kind, c.threshold, c.hold_ms), (None, 2.0, 120_000));
        assert!(
            Condition::parse("queue.length ~ 4")
                .unwrap_err()
                .contains("operator")
        );
        assert!(
            Condition::parse("queue.length >= four")
                .unwrap_err()
                .contains("four")
        );
        assert!(Condition::parse("queue.length").is_err());
    }

    #[test]
    fn unknown_metric_and_wrong_zone_kind_are_named() {
        let e = Condition::parse("queue.lenght >= 4").unwrap_err();
        assert!(
            e.contains("\"lenght\" for a queue zone (one of: length, "),
            "{e}"
        );
        let e = Condition::parse("quue.length >= 4").unwrap_err();
        assert!(e.contains("unknown zone kind \"quue\""), "{e}");
        let c = Condition::parse("queue.length >= 4").unwrap();
        assert!(c.mismatch(ZoneKind::Area).unwrap().contains("area zone"));
        let c = Condition::parse("length >= 4").unwrap();
        let e = c.mismatch(ZoneKind::Area).unwrap();
        assert!(e.contains("(one of: occupancy, congestion)"), "{e}");
        assert!(c.mismatch(ZoneKind::Queue).is_none());
    }

    #[test]
    fn clear_on_the_wrong_side_is_caught() {
        let when = Condition::parse("queue.length >= 4").unwrap();
        assert!(clear_problem(&when, &Condition::parse("queue.length <= 2").unwrap()).is_none());
        assert!(
            clear_problem(&when, &Condition::parse("queue.length <= 6").unwrap())
                .unwrap()
                .contains("wrong side")
        );
        assert!(clear_problem(&when, &Condition::parse("queue.length >= 1").unwrap()).is_some());
    }

    #[test]
    fn debounce_hysteresis_and_cooldown() {
        let mut r = rule(
            "queue.length >= 4 for 60s",
            Some("queue.length <= 2"),
            120.0,
        );
        let mut events = Vec::new();
        let series: Vec<(u64, f64)> = vec![
            (0, 5.0),
            (30, 5.0),
            (40, 3.0), // dips before the debounce: nothing raised
            (50, 4.0),
            (100, 4.0),
            (110, 4.0), // held 60 s since 50: raised
            (120, 3.0), // above the clear threshold: still active
            (130, 2.0), // cleared
            (140, 9.0), // within the cooldown: ignored
            (300, 9.0),
            (360, 9.0), // raised again after cooldown and debounce
        ];
        for (s, v) in series {
            if let Some(t) = r.step(s * 1000, Some(v)) {
                events.push((s, matches!(t, Transition::Raised { .. })));
            }
        }
        assert_eq!(events, vec![(110, true), (130, false), (360, true)]);
    }

    #[test]
    fn flicker_around_the_threshold_does_not_flap() {
        let mut r = rule("queue.length >= 4", Some("queue.length <= 1"), 0.0);
        let transitions = (0..100u64)
            .filter_map(|s| r.step(s * 1000, Some(if s % 2 == 0 { 4.0 } else { 3.0 })))
            .count();
        assert_eq!(
            transitions, 1,
            "raised once, never cleared while the count flickers 3↔4"
        );
    }

    #[test]
    fn a_resumed_alert_is_kept_while_its_condition_holds_and_cleared_under_its_id() {
        let mut r = rule("queue.length >= 4 for 60s", Some("queue.length <= 2"), 0.0);
        r.resume("cam/z/r/5");
        // The first frames after a start read an empty queue: not yet a reason to clear.
        assert_eq!(r.step(0, None), None);
        assert_eq!(r.step(100, Some(0.0)), None);
        assert_eq!(
            r.step(1_000, Some(5.0)),
            None,
            "still long: kept, not raised again"
        );
        assert_eq!(r.open_alert(), Some("cam/z/r/5"));
        assert_eq!(
            r.step(2_000, Some(1.0)),
            Some(Transition::Cleared {
                id: "cam/z/r/5".into(),
                value: Some(1.0)
            })
        );
        assert_eq!(r.open_alert(), None);
    }

    #[test]
    fn a_resumed_alert_whose_condition_is_gone_clears_after_the_settle_time() {
        let mut r = rule("queue.length >= 4", None, 0.0);
        r.resume("cam/z/r/5");
        assert_eq!(r.step(10_000, Some(0.0)), None);
        assert_eq!(r.step(10_000 + RESUME_SETTLE_MS - 1, Some(1.0)), None);
        assert!(matches!(
            r.step(10_000 + RESUME_SETTLE_MS, Some(0.0)),
            Some(Transition::Cleared { id, .. }) if id == "cam/z/r/5"
        ));
    }
}
