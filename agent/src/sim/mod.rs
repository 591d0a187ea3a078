//! `aisle simulate`: a store day that no one has filmed (a Saturday rush, a closed lane) as MOT
//! files and its ground truth, so line counts, queue waits, occupancy and alerts can be scored
//! (`aisle eval`) before the rules go to a store. Pure: a scenario and a seed in, files' contents
//! out.

pub mod noise;
pub mod scenario;
pub mod truth;
pub mod world;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::analytics::mot::MotRow;
use crate::config::Config;
use crate::events::{AlertState, Event, Payload};
use crate::replay::{self, MotFrames, ReplayError, ReplayInput};
use scenario::Scenario;
use truth::{TrueAlert, Truth, TruthMeter};
use world::World;

/// One simulated run.
pub struct Simulation {
    /// Every person in every frame, with their identity.
    pub tracks: Vec<MotRow>,
    /// What the noisy detector reported (id -1).
    pub detections: Vec<MotRow>,
    pub truth: Truth,
}

/// Runs a scenario validated against `cfg` (see [`Scenario::load`]).
pub fn simulate(scenario: &Scenario, cfg: &Config) -> Result<Simulation, ReplayError> {
    let zones = scenario.zones(cfg).unwrap_or_default();
    let [w, h] = scenario.size;
    let mut world = World::new(scenario, zones);
    let mut detector = noise::Detector::new(&scenario.noise, scenario.seed, w, h, scenario.fps);
    let mut meter = TruthMeter::new(zones, w, h, scenario.fps);
    let (mut people, mut dets) = (Vec::new(), Vec::new());
    let (mut tracks, mut detections) = (Vec::new(), Vec::new());
    for index in 0..scenario.frames() {
        world.step(index, &mut people);
        meter.frame(index, &people);
        detector.detect(&people, &mut dets);
        let frame = index + 1;
        tracks.extend(people.iter().map(|&(id, bbox)| MotRow {
            frame,
            id: id as i64,
            bbox,
            conf: 1.0,
        }));
        detections.extend(dets.iter().map(|d| MotRow {
            frame,
            id: -1,
            bbox: d.bbox,
            conf: d.score,
        }));
    }
    let alerts = true_alerts(scenario, cfg, &tracks)?;
    Ok(Simulation {
        tracks,
        detections,
        truth: meter.finish(alerts),
    })
}

/// The config's rules on the true tracks: the alerts a perfect detector and tracker would raise.
fn true_alerts(
    scenario: &Scenario,
    cfg: &Config,
    tracks: &[MotRow],
) -> Result<Vec<TrueAlert>, ReplayError> {
    let mut events = Vec::new();
    let input = ReplayInput::Tracks(MotFrames {
        rows: tracks.to_vec(),
        fps: scenario.fps,
        width: scenario.size[0],
        height: scenario.size[1],
    });
    let stop = Arc::new(AtomicBool::new(false));
    replay::replay(
        cfg,
        scenario.camera.as_deref(),
        input,
        &stop,
        &mut events,
        None,
    )?;
    let mut alerts: Vec<TrueAlert> = Vec::new();
    let mut open: Vec<(String, usize)> = Vec::new();
    for line in events.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let event: Event = serde_json::from_slice(line)
            .map_err(|e| ReplayError::Write(std::io::Error::other(e)))?;
        let Payload::Alert(a) = event.payload else {
            continue;
        };
        let t_s = event.ts_ms as f64 / 1000.0;
        match a.state {
            AlertState::Raised => {
                open.push((a.alert_id, alerts.len()));
                alerts.push(TrueAlert {
                    rule: a.rule,
                    zone: a.zone,
                    raised_s: t_s,
                    cleared_s: None,
                });
            }
            AlertState::Cleared => {
                if let Some(k) = open.iter().position(|(id, _)| *id == a.alert_id) {
                    let (_, i) = open.swap_remove(k);
                    alerts[i].cleared_s = Some(t_s);
                }
            }
        }
    }
    Ok(alerts)
}
