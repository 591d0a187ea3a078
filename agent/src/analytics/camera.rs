//! One camera's analytics: tracker → zones → rules, and the summary window. Pure: the caller
//! passes time in (frame timestamps in replay, the wall clock live) and collects the payloads.

use serde::{Deserialize, Serialize};

use super::rules::{Rule, Severity, Transition};
use super::tracker::{CROWD, Track, Tracker, TrackerConfig};
use super::zones::{CellState, Foot, Zone, ZoneConfig};
use crate::detect::{BBox, Detection};
use crate::events::{Alert, AlertState, CameraHealth, Payload, Summary, ZoneSummary};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// Seconds per summary window.
    #[serde(default = "default_interval")]
    pub summary_interval_s: f64,
    #[serde(default)]
    pub tracker: TrackerConfig,
}

fn default_interval() -> f64 {
    60.0
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            summary_interval_s: default_interval(),
            tracker: TrackerConfig::default(),
        }
    }
}

pub struct CameraAnalytics {
    camera: String,
    zone_configs: Vec<ZoneConfig>,
    zones: Option<Vec<Zone>>,
    rules: Vec<Rule>,
    tracker: Tracker,
    interval_ms: u64,
    window_start: Option<u64>,
    frames: u64,
    down_alert: Option<String>,
    /// The camera-down alert was open when the agent stopped: it clears on the first frame, not
    /// on the start-up grace during which a camera counts as up before it has sent anything.
    down_resumed: bool,
    feet: Vec<Foot>,
}

/// The rule name of the alert the agent raises itself when a camera stops sending frames.
pub const CAMERA_DOWN: &str = "camera_down";

impl CameraAnalytics {
    pub fn new(
        camera: &str,
        zones: Vec<ZoneConfig>,
        rules: Vec<Rule>,
        cfg: &AnalyticsConfig,
    ) -> Self {
        Self {
            camera: camera.to_string(),
            zone_configs: zones,
            zones: None,
            rules,
            tracker: Tracker::new(cfg.tracker),
            interval_ms: (cfg.summary_interval_s * 1000.0).max(1.0) as u64,
            window_start: None,
            frames: 0,
            down_alert: None,
            down_resumed: false,
            feet: Vec::with_capacity(CROWD),
        }
    }

    /// One analysed frame at `t_ms`. Zones resolve to pixels on the first frame; a zone that does
    /// not fit the frame is an error naming it.
    pub fn on_frame(
        &mut self,
        t_ms: u64,
        width: u32,
        height: u32,
        dets: &[Detection],
        out: &mut Vec<Payload>,
    ) -> Result<(), String> {
        self.resolve_zones(width, height)?;
        self.tracker.update(dets);
        let coast = self.tracker.config().coast_frames;
        self.feet.clear();
        self.feet.extend(
            self.tracker
                .tracks()
                .iter()
                .filter(|t| t.confirmed)
                .map(|t| {
                    let b = t.bbox();
                    Foot {
                        id: t.id,
                        at: b.foot(),
                        origin: t.origin,
                        seen: t.lost_frames <= coast,
                        height: b.height(),
                    }
                }),
        );
        self.observe(t_ms, out);
        Ok(())
    }

    /// One frame of already-tracked boxes (ground truth, or another tracker's output): zones,
    /// rules and summaries as in [`Self::on_frame`], with the tracker skipped, so zone metrics
    /// can be scored on their own.
    pub fn on_tracks(
        &mut self,
        t_ms: u64,
        width: u32,
        height: u32,
        tracks: &[(u64, BBox)],
        out: &mut Vec<Payload>,
    ) -> Result<(), String> {
        self.resolve_zones(width, height)?;
        self.feet.clear();
        self.feet.extend(tracks.iter().map(|&(id, b)| Foot {
            id,
            at: b.foot(),
            origin: b.foot(),
            seen: true,
            height: b.height(),
        }));
        self.observe(t_ms, out);
        Ok(())
    }

    /// One sample of shelf zone `zone`'s cells (row by row, `None` where a person was in front);
    /// the zone's rules see it from the next frame on.
    pub fn on_shelf(
        &mut self,
        width: u32,
        height: u32,
        zone: &str,
        readings: &[Option<CellState>],
    ) -> Result<(), String> {
        self.resolve_zones(width, height)?;
        if let Some(z) = self
            .zones
            .as_deref_mut()
            .unwrap_or_default()
            .iter_mut()
            .find(|z| z.name == zone)
        {
            z.observe_shelf(readings);
        }
        Ok(())
    }

    /// The camera's id, as its events name it.
    pub fn id(&self) -> &str {
        &self.camera
    }

    /// The zones as resolved to the frame, with their running state; empty before the first
    /// frame. For drawing what the agent sees (`aisle snapshot`), never published.
    pub fn zones(&self) -> &[Zone] {
        self.zones.as_deref().unwrap_or_default()
    }

    /// The tracker's current tracks, for writing them out locally in evaluation.
    pub fn tracks(&self) -> &[Track] {
        self.tracker.tracks()
    }

    fn resolve_zones(&mut self, width: u32, height: u32) -> Result<(), String> {
        if self.zones.is_none() {
            let zones: Result<Vec<Zone>, String> = self
                .zone_configs
                .iter()
                .map(|z| Zone::new(z, width, height))
                .collect();
            self.zones = Some(zones.map_err(|e| format!("camera {}: {e}", self.camera))?);
        }
        Ok(())
    }

    /// Takes back alert `alert` of this camera, open when the agent stopped (its outbox keeps
    /// the open ones): its rule holds it under the same id and clears it when the condition is
    /// gone, so a restart neither leaves it open for ever nor raises it twice. False when no rule
    /// of this camera raises it any more; the caller then clears it.
    pub fn resume(&mut self, alert: &Alert) -> bool {
        if alert.rule == CAMERA_DOWN {
            if self.down_alert.is_some() {
                return false;
            }
            self.down_alert = Some(alert.alert_id.clone());
            self.down_resumed = true;
            return true;
        }
        let rule = self.rules.iter_mut().find(|r| {
            r.cfg.name == alert.rule
                && alert.zone.as_deref() == Some(r.cfg.zone.as_str())
                && r.open_alert().is_none()
        });
        match rule {
            Some(r) => {
                r.resume(&alert.alert_id);
                true
            }
            None => false,
        }
    }

    /// The ids of the alerts this camera holds open: health events carry them, so the hub can
    /// close any other it still shows.
    pub fn open_alerts(&self) -> impl Iterator<Item = &str> {
        self.down_alert
            .as_deref()
            .into_iter()
            .chain(self.rules.iter().filter_map(Rule::open_alert))
    }

    fn observe(&mut self, t_ms: u64, out: &mut Vec<Payload>) {
        if std::mem::take(&mut self.down_resumed)
            && let Some(id) = self.down_alert.take()
        {
            out.push(Payload::Alert(health_alert(&id, AlertState::Cleared)));
        }
        self.window_start.get_or_insert(t_ms);
        self.frames += 1;
        let zones = self.zones.as_deref_mut().unwrap_or_default();
        for z in zones.iter_mut() {
            z.observe(t_ms, &self.feet);
        }
        if self.down_alert.is_none() {
            for rule in &mut self.rules {
                let Some(zone) = zones.iter().find(|z| z.name == rule.cfg.zone) else {
                    continue;
                };
                let value = zone.metric(rule.metric());
                if let Some(t) = rule.step(t_ms, value) {
                    out.push(Payload::Alert(rule_alert(rule, t)));
                }
            }
        }
    }

    /// Time passes: emits the summary when a window has ended, and raises or clears the
    /// camera-down alert (rule alerts are suppressed while the camera is down).
    pub fn on_tick(
        &mut self,
        t_ms: u64,
        camera_up: bool,
        health: &CameraHealth,
        out: &mut Vec<Payload>,
    ) {
        match (&self.down_alert, camera_up) {
            (None, false) => {
                let id = format!("{}/camera_down/{t_ms}", self.camera);
                self.rules.iter_mut().for_each(Rule::suspend);
                out.push(Payload::Alert(health_alert(&id, AlertState::Raised)));
                self.down_alert = Some(id);
            }
            (Some(_), true) if self.down_resumed => {}
            (Some(id), true) => {
                out.push(Payload::Alert(health_alert(id, AlertState::Cleared)));
                self.down_alert = None;
            }
            (Some(_), false) => self.down_resumed = false,
            (None, true) => {}
        }
        let start = *self.window_start.get_or_insert(t_ms);
        if t_ms >= start + self.interval_ms {
            out.push(Payload::Summary(self.summary(
                start,
                start + self.interval_ms,
                health,
            )));
            // Windows stay aligned; a long gap (camera down) skips the empty windows.
            let skipped = (t_ms - start) / self.interval_ms;
            self.window_start = Some(start + skipped * self.interval_ms);
        }
    }

    /// The last, partial window when a replay ends.
    pub fn finish(&mut self, t_ms: u64, health: &CameraHealth, out: &mut Vec<Payload>) {
        for z in self.zones.as_deref_mut().unwrap_or_default() {
            z.end();
        }
        if let Some(start) = self.window_start
            && self.frames > 0
        {
            out.push(Payload::Summary(self.summary(
                start,
                t_ms.max(start),
                health,
            )));
        }
    }

    fn summary(&mut self, start: u64, end: u64, health: &CameraHealth) -> Summary {
        let zones = self.zones.as_deref_mut().unwrap_or_default();
        let summaries = zones
            .iter()
            .map(|z| ZoneSummary {
                zone: z.name.clone(),
                metrics: z.metrics(),
            })
            .collect();
        zones.iter_mut().for_each(Zone::roll);
        let frames = std::mem::take(&mut self.frames);
        Summary {
            window_start_ms: start,
            window_end_ms: end,
            frames,
            zones: summaries,
            health: *health,
        }
    }
}

fn rule_alert(rule: &Rule, t: Transition) -> Alert {
    let (alert_id, state, value) = match t {
        Transition::Raised { id, value } => (
            id,
            AlertState::Raised,
            Some(value).filter(|v| v.is_finite()),
        ),
        Transition::Cleared { id, value } => (id, AlertState::Cleared, value),
    };
    Alert {
        alert_id,
        rule: rule.cfg.name.clone(),
        severity: rule.cfg.severity,
        state,
        zone: Some(rule.cfg.zone.clone()),
        metric: Some(rule.metric().name().to_string()),
        value,
        threshold: Some(rule.threshold()),
    }
}

fn health_alert(id: &str, state: AlertState) -> Alert {
    Alert {
        alert_id: id.to_string(),
        rule: CAMERA_DOWN.into(),
        severity: Severity::Critical,
        state,
        zone: None,
        metric: None,
        value: None,
        threshold: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::rules::RuleConfig;
    use crate::detect::BBox;

    fn analytics(interval_s: f64) -> CameraAnalytics {
        let zone: ZoneConfig = toml::from_str("name = \"floor\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]").unwrap();
        let rule = RuleConfig {
            name: "busy".into(),
            zone: "floor".into(),
            camera: None,
            when: "area.occupancy >= 1 for 2s".into(),
            clear: None,
            cooldown_s: 0.0,
            severity: Severity::Info,
        };
        let cfg = AnalyticsConfig {
            summary_interval_s: interval_s,
            tracker: TrackerConfig {
                min_hits: 1,
                ..TrackerConfig::default()
            },
        };
        CameraAnalytics::new(
            "cam",
            vec![zone],
            vec![Rule::new(rule, "cam").unwrap()],
            &cfg,
        )
    }

    fn person() -> Detection {
        Detection {
            class: 0,
            score: 0.9,
            bbox: BBox::new(40.0, 20.0, 60.0, 80.0),
        }
    }

    fn alerts(out: &[Payload]) -> Vec<(String, AlertState)> {
        out.iter()
            .filter_map(|p| match p {
                Payload::Alert(a) => Some((a.rule.clone(), a.state)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn rules_are_suppressed_and_a_health_alert_raised_while_the_camera_is_down() {
        let mut a = analytics(60.0);
        let up = CameraHealth {
            connected: true,
            ..CameraHealth::default()
        };
        let mut out = Vec::new();
        a.on_frame(0, 100, 100, &[person()], &mut out).unwrap();
        a.on_tick(0, true, &up, &mut out);
        a.on_frame(1000, 100, 100, &[person()], &mut out).unwrap();
        a.on_tick(1000, false, &CameraHealth::default(), &mut out);
        // Frames that still trickle in while the camera is flagged down do not feed rules.
        a.on_frame(5000, 100, 100, &[person()], &mut out).unwrap();
        assert_eq!(
            alerts(&out),
            vec![("camera_down".to_string(), AlertState::Raised)]
        );
        a.on_tick(6000, true, &up, &mut out);
        a.on_frame(7000, 100, 100, &[person()], &mut out).unwrap();
        a.on_frame(9000, 100, 100, &[person()], &mut out).unwrap();
        let got = alerts(&out);
        assert_eq!(got[1], ("camera_down".to_string(), AlertState::Cleared));
        assert_eq!(
            got[2],
            ("busy".to_string(), AlertState::Raised),
            "debounce restarts after the outage"
        );
    }

    #[test]
    fn summaries_come_once_per_window_with_the_window_counts() {
        let mut a = analytics(10.0);
        let mut out = Vec::new();
        for s in 0..25u64 {
            a.on_frame(s * 1000, 100, 100, &[person()], &mut out)
                .unwrap();
            a.on_tick(s * 1000, true, &CameraHealth::default(), &mut out);
        }
        a.finish(24_000, &CameraHealth::default(), &mut out);
        let windows: Vec<(u64, u64, u64)> = out
            .iter()
            .filter_map(|p| match p {
                Payload::Summary(s) => Some((s.window_start_ms, s.window_end_ms, s.frames)),
                _ => None,
            })
            .collect();
        assert_eq!(
            windows,
            vec![(0, 10_000, 11), (10_000, 20_000, 10), (20_000, 24_000, 4)]
        );
    }

    fn open(rule: &str, id: &str, zone: Option<&str>) -> Alert {
        Alert {
            alert_id: id.into(),
            rule: rule.into(),
            severity: Severity::Info,
            state: AlertState::Raised,
            zone: zone.map(Into::into),
            metric: None,
            value: None,
            threshold: None,
        }
    }

    #[test]
    fn alerts_open_before_a_restart_are_held_or_cleared_under_their_ids() {
        let up = CameraHealth::default();
        // The scene still busy: the rule keeps its alert, the camera-down alert clears on the
        // first frame (not on the start-up grace), and nothing is raised twice.
        let mut a = analytics(60.0);
        assert!(a.resume(&open("busy", "cam/floor/busy/7", Some("floor"))));
        assert!(a.resume(&open(CAMERA_DOWN, "cam/camera_down/9", None)));
        assert!(!a.resume(&open("gone", "cam/floor/gone/1", Some("floor"))));
        assert!(!a.resume(&open("busy", "cam/x/busy/1", Some("x"))));
        let mut out = Vec::new();
        a.on_tick(0, true, &up, &mut out);
        assert!(out.is_empty(), "{out:?}");
        for s in 1..10u64 {
            a.on_frame(s * 1000, 100, 100, &[person()], &mut out)
                .unwrap();
            a.on_tick(s * 1000, true, &up, &mut out);
        }
        let ids: Vec<(&str, AlertState)> = out
            .iter()
            .filter_map(|p| match p {
                Payload::Alert(a) => Some((a.alert_id.as_str(), a.state)),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![("cam/camera_down/9", AlertState::Cleared)]);
        assert_eq!(
            a.open_alerts().collect::<Vec<_>>(),
            vec!["cam/floor/busy/7"]
        );
        // The scene empty: cleared under the old id once the empty floor has settled.
        let mut a = analytics(60.0);
        assert!(a.resume(&open("busy", "cam/floor/busy/7", Some("floor"))));
        let mut out = Vec::new();
        for s in 0..5u64 {
            a.on_frame(s * 1000, 100, 100, &[], &mut out).unwrap();
        }
        let cleared: Vec<_> = out
            .iter()
            .filter_map(|p| match p {
                Payload::Alert(a) => Some((a.alert_id.as_str(), a.state)),
                _ => None,
            })
            .collect();
        assert_eq!(cleared, vec![("cam/floor/busy/7", AlertState::Cleared)]);
        assert_eq!(a.open_alerts().count(), 0);
    }
}
