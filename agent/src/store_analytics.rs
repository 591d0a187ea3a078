//! The analytics of every enabled camera, people and shelves together, as `run`, `replay` and
//! `snapshot` feed them frame by frame. One place decides the order (a frame's shelf readings
//! before its people, so this frame's rules already see them) and what a failing part does, so
//! the three commands cannot drift apart.

use thiserror::Error;

use crate::analytics::camera::CameraAnalytics;
use crate::detect::preprocess::FrameView;
use crate::detect::{BBox, Detection};
use crate::events::{Alert, CameraHealth, Payload};
use crate::shelf::{ShelfError, Shelves};

/// A part of one camera's analytics that cannot run on its frames.
#[derive(Debug, Error)]
pub enum StageError {
    /// The camera's shelf references do not fit its frames: its shelf watch is off from now on.
    #[error(transparent)]
    Shelves(#[from] ShelfError),
    /// The camera's zones do not fit its frames: nothing is counted until they do.
    #[error("{0}")]
    Zones(String),
}

/// What one frame brings: the picture (shelves can be read), only boxes, or boxes already
/// tracked elsewhere (ground truth, another tracker).
pub enum Seen<'a> {
    Frame(&'a FrameView<'a>, &'a [Detection]),
    Detections((u32, u32), &'a [Detection]),
    Tracks((u32, u32), &'a [(u64, BBox)]),
}

pub struct StoreAnalytics {
    /// Per enabled camera, in the config's order (the index the pipeline gives frames).
    cameras: Vec<CameraAnalytics>,
    shelves: Shelves,
    /// Per camera, whether its zone problem has been returned once already.
    zones_reported: Vec<bool>,
}

impl StoreAnalytics {
    pub fn new(cameras: Vec<CameraAnalytics>, shelves: Shelves) -> Self {
        Self {
            zones_reported: vec![false; cameras.len()],
            cameras,
            shelves,
        }
    }

    pub fn cameras(&self) -> usize {
        self.cameras.len()
    }

    /// Camera `camera`'s analytics, for drawing what it sees.
    pub fn camera(&self, camera: usize) -> &CameraAnalytics {
        &self.cameras[camera]
    }

    /// One frame of camera `camera` at `t_ms`; its events go to `out`. Every part that can run
    /// does; each problem is returned once per camera (shelves then stop for the camera, zones
    /// are tried again on every frame in case the frame size comes back). The live agent logs
    /// the problem and keeps counting with what still works; `replay` and `snapshot` stop on it.
    pub fn on_frame(
        &mut self,
        camera: usize,
        t_ms: u64,
        seen: Seen<'_>,
        out: &mut Vec<Payload>,
    ) -> Result<(), StageError> {
        let analytics = &mut self.cameras[camera];
        let mut shelves = Ok(());
        let zones = match seen {
            Seen::Frame(frame, people) => {
                shelves = self
                    .shelves
                    .on_frame(camera, t_ms, frame, people, analytics);
                analytics.on_frame(t_ms, frame.source.0, frame.source.1, people, out)
            }
            Seen::Detections((w, h), people) => analytics.on_frame(t_ms, w, h, people, out),
            Seen::Tracks((w, h), tracks) => analytics.on_tracks(t_ms, w, h, tracks, out),
        };
        if let Err(e) = shelves {
            self.shelves.disable(camera);
            return Err(e.into());
        }
        match zones {
            Err(e) if !std::mem::replace(&mut self.zones_reported[camera], true) => {
                Err(StageError::Zones(e))
            }
            _ => Ok(()),
        }
    }

    /// Takes back an alert of camera `camera` that was open when the agent stopped (see
    /// [`CameraAnalytics::resume`]); false when no enabled camera or rule raises it any more.
    pub fn resume(&mut self, camera: &str, alert: &Alert) -> bool {
        self.cameras
            .iter_mut()
            .find(|c| c.id() == camera)
            .is_some_and(|c| c.resume(alert))
    }

    /// The ids of every alert the cameras hold open, for the health event.
    pub fn open_alerts(&self) -> Vec<String> {
        self.cameras
            .iter()
            .flat_map(CameraAnalytics::open_alerts)
            .map(str::to_string)
            .collect()
    }

    /// Time passes for camera `camera`: summaries when a window ends, the camera-down alert.
    pub fn on_tick(
        &mut self,
        camera: usize,
        t_ms: u64,
        up: bool,
        health: &CameraHealth,
        out: &mut Vec<Payload>,
    ) {
        self.cameras[camera].on_tick(t_ms, up, health, out);
    }

    /// Camera `camera`'s last, partial window: a stop loses no counted minute.
    pub fn finish(
        &mut self,
        camera: usize,
        t_ms: u64,
        health: &CameraHealth,
        out: &mut Vec<Payload>,
    ) {
        self.cameras[camera].finish(t_ms, health, out);
    }
}
