//! What really happened in a simulated scene, measured on the true positions with the plainest
//! definitions: a crossing is a foot point changing side of a line segment; a wait runs from the
//! first frame inside a queue zone to the step across its service line; leaving the zone any
//! other way is an abandonment; occupancy is the feet inside an area, averaged per second. Alerts
//! are the config's rules applied to the true tracks.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::analytics::geometry::{Point, contains, cross, segments_intersect};
use crate::analytics::zones::{ZoneConfig, ZoneKind};
use crate::detect::BBox;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    pub fps: f64,
    pub frames: u64,
    pub lines: BTreeMap<String, LineTruth>,
    pub queues: BTreeMap<String, QueueTruth>,
    /// Per area zone, the mean number of people in it during each second.
    pub occupancy: BTreeMap<String, Vec<f64>>,
    pub alerts: Vec<TrueAlert>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineTruth {
    pub r#in: u64,
    pub out: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueTruth {
    /// Each served shopper's wait in seconds, in the order they were served.
    pub waits_s: Vec<f64>,
    pub abandoned: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrueAlert {
    pub rule: String,
    pub zone: Option<String>,
    pub raised_s: f64,
    pub cleared_s: Option<f64>,
}

impl Truth {
    /// What makes this truth unusable for scoring, each naming its field: a truth.json edited
    /// by hand (or not from `aisle simulate`) must not print a −13180 % error.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let seconds = |v: f64| v.is_finite() && v >= 0.0;
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 1000.0) {
            p.push(format!("fps: {} is outside (0, 1000]", self.fps));
        }
        if self.frames > crate::analytics::mot::MAX_FRAME {
            p.push(format!(
                "frames: {} is more than {}",
                self.frames,
                crate::analytics::mot::MAX_FRAME
            ));
        }
        for (zone, q) in &self.queues {
            if let Some(w) = q.waits_s.iter().find(|w| !seconds(**w)) {
                p.push(format!(
                    "queues.{zone}.waits_s: {w} is not a wait in seconds"
                ));
            }
        }
        for (zone, o) in &self.occupancy {
            if let Some(v) = o.iter().find(|v| !seconds(**v)) {
                p.push(format!("occupancy.{zone}: {v} is not a number of people"));
            }
        }
        for (i, a) in self.alerts.iter().enumerate() {
            if !seconds(a.raised_s)
                || a.cleared_s
                    .is_some_and(|c| !(seconds(c) && c >= a.raised_s))
            {
                p.push(format!(
                    "alerts[{i}]: raised_s and cleared_s must be seconds, cleared after raised"
                ));
            }
        }
        p
    }
}

enum Measure {
    Line {
        a: Point,
        b: Point,
        last: HashMap<u64, Point>,
        counts: LineTruth,
    },
    Queue {
        poly: Vec<Point>,
        service: (Point, Point),
        entered: HashMap<u64, (u64, Point)>,
        counts: QueueTruth,
    },
    Area {
        poly: Vec<Point>,
        per_second: Vec<(f64, u32)>,
    },
}

/// Accumulates the truth frame by frame.
pub struct TruthMeter {
    fps: f64,
    frames: u64,
    zones: Vec<(String, Measure)>,
}

impl TruthMeter {
    /// For normalized-unit zones on a `w`×`h` frame.
    pub fn new(zones: &[ZoneConfig], w: u32, h: u32, fps: f64) -> Self {
        let px = |pts: &[[f32; 2]]| -> Vec<Point> {
            pts.iter()
                .map(|&[x, y]| (x * w as f32, y * h as f32))
                .collect()
        };
        let zones = zones
            .iter()
            .filter_map(|z| {
                let m = match z.kind() {
                    ZoneKind::Line => {
                        let l = px(z.line());
                        Measure::Line {
                            a: l[0],
                            b: l[1],
                            last: HashMap::new(),
                            counts: LineTruth::default(),
                        }
                    }
                    ZoneKind::Queue => {
                        let s = px(z.service_line());
                        Measure::Queue {
                            poly: px(z.polygon()),
                            service: (s[0], s[1]),
                            entered: HashMap::new(),
                            counts: QueueTruth::default(),
                        }
                    }
                    ZoneKind::Area => Measure::Area {
                        poly: px(z.polygon()),
                        per_second: Vec::new(),
                    },
                    ZoneKind::Shelf => return None,
                };
                Some((z.name.clone(), m))
            })
            .collect();
        Self {
            fps,
            frames: 0,
            zones,
        }
    }

    /// Frame `index` (0-based) with every person in it.
    pub fn frame(&mut self, index: u64, people: &[(u64, BBox)]) {
        self.frames = self.frames.max(index + 1);
        let t_ms = (index as f64 * 1000.0 / self.fps).round() as u64;
        let second = (index as f64 / self.fps) as usize;
        for (_, m) in &mut self.zones {
            match m {
                Measure::Line { a, b, last, counts } => {
                    for &(id, bbox) in people {
                        let at = bbox.foot();
                        if let Some(from) = last.insert(id, at) {
                            let (before, after) = (cross(*a, *b, from), cross(*a, *b, at));
                            if before * after < 0.0 && segments_intersect(from, at, *a, *b) {
                                if after > 0.0 {
                                    counts.r#in += 1
                                } else {
                                    counts.out += 1
                                }
                            }
                        }
                    }
                }
                Measure::Queue {
                    poly,
                    service,
                    entered,
                    counts,
                } => {
                    for &(id, bbox) in people {
                        let at = bbox.foot();
                        let inside = contains(poly, at);
                        match entered.get(&id).copied() {
                            Some((since, from))
                                if segments_intersect(from, at, service.0, service.1) =>
                            {
                                entered.remove(&id);
                                counts
                                    .waits_s
                                    .push(t_ms.saturating_sub(since) as f64 / 1000.0);
                            }
                            Some(_) if !inside => {
                                entered.remove(&id);
                                counts.abandoned += 1;
                            }
                            Some((since, _)) => {
                                entered.insert(id, (since, at));
                            }
                            None if inside => {
                                entered.insert(id, (t_ms, at));
                            }
                            None => {}
                        }
                    }
                }
                Measure::Area { poly, per_second } => {
                    let n = people
                        .iter()
                        .filter(|(_, b)| contains(poly, b.foot()))
                        .count();
                    if per_second.len() <= second {
                        per_second.resize(second + 1, (0.0, 0));
                    }
                    per_second[second].0 += n as f64;
                    per_second[second].1 += 1;
                }
            }
        }
    }

    /// The truth so far; `alerts` come from the rules, which this meter does not run.
    pub fn finish(self, alerts: Vec<TrueAlert>) -> Truth {
        let mut truth = Truth {
            fps: self.fps,
            frames: self.frames,
            alerts,
            ..Truth::default()
        };
        for (name, m) in self.zones {
            match m {
                Measure::Line { counts, .. } => {
                    truth.lines.insert(name, counts);
                }
                Measure::Queue { counts, .. } => {
                    truth.queues.insert(name, counts);
                }
                Measure::Area { per_second, .. } => {
                    let means = per_second
                        .iter()
                        .map(|&(sum, n)| if n > 0 { sum / n as f64 } else { 0.0 })
                        .collect();
                    truth.occupancy.insert(name, means);
                }
            }
        }
        truth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truth_that_cannot_be_scored_is_refused_by_field() {
        let bad: Truth = serde_json::from_str(
            r#"{"fps": -5, "frames": 99999999999, "lines": {},
                "queues": {"till": {"waits_s": [3.0, -2.0], "abandoned": 0}},
                "occupancy": {"floor": [1.0, NaN]},
                "alerts": [{"rule": "r", "zone": null, "raised_s": 10.0, "cleared_s": 5.0}]}"#
                .replace("NaN", "-1")
                .as_str(),
        )
        .unwrap();
        let p = bad.problems();
        for field in [
            "fps",
            "frames",
            "queues.till.waits_s",
            "occupancy.floor",
            "alerts[0]",
        ] {
            assert!(
                p.iter().any(|m| m.starts_with(field)),
                "{field} not in {p:?}"
            );
        }
    }

    fn zones() -> Vec<ZoneConfig> {
        toml::from_str::<toml::Table>(
            r#"
[[z]]
name = "door"
kind = "line"
line = [[0.6, 0.5], [1.0, 0.5]]
[[z]]
name = "till"
kind = "queue"
polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.4], [0.0, 0.4]]
service_line = [[0.0, 0.0], [0.5, 0.0]]
[[z]]
name = "floor"
kind = "area"
polygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
"#,
        )
        .unwrap()["z"]
            .clone()
            .try_into()
            .unwrap()
    }

    fn at(id: u64, x: f32, y: f32) -> (u64, BBox) {
        (id, BBox::new(x - 5.0, y - 20.0, x + 5.0, y))
    }

    #[test]
    fn crossings_waits_abandonment_and_occupancy_from_true_positions() {
        let mut m = TruthMeter::new(&zones(), 100, 100, 2.0);
        // Person 1 walks down across the door (in) while person 2 walks up (out); person 3
        // queues from frame 2 and is served at frame 8 (3 s); person 4 queues and walks off.
        let frames: Vec<Vec<(u64, BBox)>> = (0..10u64)
            .map(|i| {
                let f = i as f32;
                let mut v = vec![at(1, 80.0, 40.0 + 4.0 * f), at(2, 70.0, 60.0 - 4.0 * f)];
                v.push(at(
                    3,
                    20.0,
                    if i < 2 {
                        60.0
                    } else if i < 8 {
                        30.0
                    } else {
                        -1.0
                    },
                ));
                v.push(at(4, 40.0, if (3..6).contains(&i) { 20.0 } else { 45.0 }));
                v
            })
            .collect();
        for (i, people) in frames.iter().enumerate() {
            m.frame(i as u64, people);
        }
        let t = m.finish(Vec::new());
        assert_eq!(t.lines["door"], LineTruth { r#in: 1, out: 1 });
        assert_eq!(t.queues["till"].waits_s, vec![3.0]);
        assert_eq!(t.queues["till"].abandoned, 1);
        assert_eq!(t.occupancy["floor"], vec![2.0; 5]);
        assert_eq!(t.frames, 10);
    }
}
