//! The model serving the cameras: swaps coming in from the update thread, the health gate that
//! judges a model on trial (its verdicts go back to the update thread), and the recent camera
//! frames the update canary runs a new model on before it may serve.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::events::Status;
use crate::ota::canary::{RecentFrame, RecentFrames};
use crate::ota::gate::{Gate, GateSettings, OnError, Verdict};
use crate::pipeline::{Event, Processed};

pub(super) struct ModelSlot {
    gate: Gate,
    verdicts: Sender<Verdict>,
    /// Per camera, copied about once a second; empty when updates are off.
    recent: RecentFrames,
    sampled: Vec<Instant>,
    version: u64,
}

impl ModelSlot {
    /// `cameras` frames are kept for the canary when `updates` are on.
    pub fn new(
        version: u64,
        trial_frames: u64,
        cameras: usize,
        updates: bool,
        verdicts: Sender<Verdict>,
    ) -> Self {
        let kept = if updates { cameras } else { 0 };
        Self {
            gate: Gate::new(GateSettings::new(trial_frames)),
            verdicts,
            recent: Arc::new(Mutex::new(vec![RecentFrame::default(); kept])),
            sampled: vec![Instant::now(); kept],
            version,
        }
    }

    /// The frames the update thread's canary reads.
    pub fn recent(&self) -> &RecentFrames {
        &self.recent
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn on_trial(&self) -> bool {
        self.gate.on_trial()
    }

    /// A swap or a detector failure; `Break` when a failure must end the run (the model is not
    /// on trial, so there is nothing to roll back to).
    pub fn on_event(&mut self, event: &Event<'_>, status: &Mutex<Status>) -> ControlFlow<()> {
        match event {
            Event::Swapped { model, trial } => {
                self.gate.swapped(*trial);
                self.version = model.version;
                tracing::info!(model = %model.name, model_version = model.version, trial, "model swapped");
                if let Ok(mut s) = status.lock() {
                    s.model.clone_from(&model.name);
                    s.model_version = model.version;
                }
            }
            Event::DetectorFailed(e) => match self.gate.error(&e.to_string()) {
                OnError::Fatal => return ControlFlow::Break(()),
                OnError::Fail(v) => {
                    tracing::error!(error = %e, "the model on trial failed; rolling back");
                    let _ = self.verdicts.send(v);
                }
                OnError::Skip => {}
            },
            Event::Frame(p) => self.on_frame(p),
            Event::Idle => {}
        }
        ControlFlow::Continue(())
    }

    fn on_frame(&mut self, p: &Processed<'_>) {
        if let Some(at) = self.sampled.get_mut(p.camera)
            && at.elapsed() >= Duration::from_secs(1)
        {
            *at = Instant::now();
            if let Ok(mut frames) = self.recent.lock() {
                frames[p.camera].copy_from(&p.frame.view());
            }
        }
        if let Some(v) = self
            .gate
            .frame(p.detections.len(), p.inference.as_secs_f64() * 1e3)
        {
            tracing::info!(verdict = ?v, "health gate");
            let _ = self.verdicts.send(v);
        }
    }
}
