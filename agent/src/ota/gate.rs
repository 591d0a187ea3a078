//! The health gate: a model that passed its canary on reference frames still has to prove itself
//! on the store's own frames. While it is on trial it is compared with what the model it
//! replaced did just before the swap; an inference error, a latency blow-up or a collapse of the
//! detection rate fails it, and the agent rolls back. Pure: the daemon feeds it frames.

/// Frames the baseline averages over (exponentially).
const BASELINE_FRAMES: u64 = 100;
/// Baseline frames needed before latency is compared.
const MIN_BASELINE_FRAMES: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateSettings {
    /// Frames a new model serves on trial before it is judged.
    pub frames: u64,
    /// The trial's median latency may be this many times the baseline's, plus `slack_ms`.
    pub latency_factor: f64,
    pub slack_ms: f64,
    /// Fail when detections per frame fall below this share of the baseline's…
    pub collapse_ratio: f64,
    /// …provided the baseline saw at least this many per frame (an empty store proves nothing).
    pub min_baseline_rate: f64,
}

impl GateSettings {
    pub fn new(frames: u64) -> Self {
        Self {
            frames,
            latency_factor: 2.0,
            slack_ms: 20.0,
            collapse_ratio: 0.25,
            min_baseline_rate: 0.5,
        }
    }
}

/// What the trusted model did lately: detections per frame and milliseconds per frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Baseline {
    pub rate: f64,
    pub latency_ms: f64,
    pub frames: u64,
}

impl Baseline {
    fn observe(&mut self, detections: usize, latency_ms: f64) {
        self.frames += 1;
        let alpha = 1.0 / self.frames.min(BASELINE_FRAMES) as f64;
        self.rate += alpha * (detections as f64 - self.rate);
        self.latency_ms += alpha * (latency_ms - self.latency_ms);
    }
}

/// The gate's judgement of a model on trial.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    Fail {
        /// Short code for the `rolled_back` event.
        reason: &'static str,
        detail: String,
    },
}

#[derive(Debug, Clone)]
struct Trial {
    baseline: Baseline,
    detections: u64,
    latencies: Vec<f64>,
}

impl Trial {
    fn judge(&mut self, s: &GateSettings) -> Verdict {
        let frames = self.latencies.len() as f64;
        self.latencies.sort_by(f64::total_cmp);
        let median = self.latencies[self.latencies.len() / 2];
        let b = self.baseline;
        if b.frames >= MIN_BASELINE_FRAMES && median > b.latency_ms * s.latency_factor + s.slack_ms
        {
            return Verdict::Fail {
                reason: "latency",
                detail: format!(
                    "median {median:.1} ms a frame against {:.1} ms before the update",
                    b.latency_ms
                ),
            };
        }
        let rate = self.detections as f64 / frames;
        if b.rate >= s.min_baseline_rate && rate < b.rate * s.collapse_ratio {
            return Verdict::Fail {
                reason: "detection_collapse",
                detail: format!(
                    "{rate:.2} detections a frame against {:.2} before the update",
                    b.rate
                ),
            };
        }
        Verdict::Pass
    }
}

#[derive(Debug, Clone)]
enum State {
    /// A trusted model serves; its figures feed the baseline.
    Serving,
    Trial(Trial),
    /// The trial failed; frames are skipped until the previous model is back.
    RollingBack,
}

/// What to do about an inference error.
#[derive(Debug, Clone, PartialEq)]
pub enum OnError {
    /// A trusted model failed: the pipeline stops, as it always has.
    Fatal,
    /// The model on trial failed: roll back, skipping frames meanwhile.
    Fail(Verdict),
    /// Already rolling back: skip the frame.
    Skip,
}

/// Watches every model that takes over; the daemon tells it of swaps and frames.
#[derive(Debug, Clone)]
pub struct Gate {
    settings: GateSettings,
    baseline: Baseline,
    state: State,
}

impl Gate {
    pub fn new(settings: GateSettings) -> Self {
        Self {
            settings,
            baseline: Baseline::default(),
            state: State::Serving,
        }
    }

    /// A new model serves from now on: on trial (an update) or trusted (a rollback).
    pub fn swapped(&mut self, trial: bool) {
        self.state = if trial {
            State::Trial(Trial {
                baseline: self.baseline,
                detections: 0,
                latencies: Vec::with_capacity(self.settings.frames as usize),
            })
        } else {
            State::Serving
        };
        self.baseline = Baseline::default();
    }

    pub fn on_trial(&self) -> bool {
        matches!(self.state, State::Trial(_))
    }

    /// One processed frame; a verdict once the trial has seen enough frames.
    pub fn frame(&mut self, detections: usize, latency_ms: f64) -> Option<Verdict> {
        match &mut self.state {
            State::Serving => {
                self.baseline.observe(detections, latency_ms);
                None
            }
            State::RollingBack => None,
            State::Trial(t) => {
                t.detections += detections as u64;
                t.latencies.push(latency_ms);
                if (t.latencies.len() as u64) < self.settings.frames {
                    return None;
                }
                let verdict = t.judge(&self.settings);
                self.state = match verdict {
                    Verdict::Pass => State::Serving,
                    Verdict::Fail { .. } => State::RollingBack,
                };
                Some(verdict)
            }
        }
    }

    /// The detector failed on a frame.
    pub fn error(&mut self, message: &str) -> OnError {
        match self.state {
            State::Serving => OnError::Fatal,
            State::RollingBack => OnError::Skip,
            State::Trial(_) => {
                self.state = State::RollingBack;
                OnError::Fail(Verdict::Fail {
                    reason: "inference_error",
                    detail: message.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(frames: u64, detections: usize, ms: f64) -> Gate {
        let mut g = Gate::new(GateSettings::new(20));
        for _ in 0..frames {
            assert_eq!(g.frame(detections, ms), None);
        }
        g
    }

    fn trial(g: &mut Gate, detections: usize, ms: f64) -> Verdict {
        g.swapped(true);
        for i in 0..19 {
            assert_eq!(g.frame(detections, ms), None, "frame {i}");
        }
        g.frame(detections, ms).expect("a verdict after 20 frames")
    }

    #[test]
    fn a_model_doing_like_the_old_one_passes_and_becomes_the_baseline() {
        let mut g = serving(200, 6, 30.0);
        assert_eq!(trial(&mut g, 5, 40.0), Verdict::Pass);
        assert!(!g.on_trial());
        assert_eq!(g.frame(5, 40.0), None);
        assert_eq!(g.error("boom"), OnError::Fatal, "trusted again");
    }

    #[test]
    fn a_collapse_of_the_detection_rate_fails() {
        let mut g = serving(200, 6, 30.0);
        let Verdict::Fail { reason, detail } = trial(&mut g, 1, 30.0) else {
            panic!("passed")
        };
        assert_eq!(reason, "detection_collapse");
        assert!(
            detail.contains("1.00 detections a frame against 6.00"),
            "{detail}"
        );
        assert_eq!(
            g.frame(6, 30.0),
            None,
            "no second verdict while rolling back"
        );
        assert_eq!(g.error("x"), OnError::Skip);
        g.swapped(false);
        assert_eq!(g.error("x"), OnError::Fatal);
    }

    #[test]
    fn an_empty_store_before_the_swap_proves_nothing_about_the_rate() {
        let mut g = serving(200, 0, 30.0);
        assert_eq!(trial(&mut g, 0, 30.0), Verdict::Pass);
    }

    #[test]
    fn a_latency_blow_up_fails_but_slack_absorbs_small_models() {
        let mut g = serving(200, 3, 30.0);
        let Verdict::Fail { reason, .. } = trial(&mut g, 3, 90.0) else {
            panic!("passed")
        };
        assert_eq!(reason, "latency");
        let mut g = serving(200, 3, 2.0);
        assert_eq!(trial(&mut g, 3, 20.0), Verdict::Pass, "within 2x + 20 ms");
    }

    #[test]
    fn latency_is_not_judged_on_a_few_baseline_frames() {
        let mut g = serving(3, 3, 1.0);
        assert_eq!(trial(&mut g, 3, 500.0), Verdict::Pass);
    }

    #[test]
    fn an_inference_error_on_trial_fails_at_once() {
        let mut g = serving(50, 3, 30.0);
        g.swapped(true);
        assert!(g.on_trial());
        assert_eq!(g.frame(3, 30.0), None);
        let OnError::Fail(Verdict::Fail { reason, detail }) = g.error("shape mismatch") else {
            panic!("not failed")
        };
        assert_eq!(
            (reason, detail.as_str()),
            ("inference_error", "shape mismatch")
        );
    }
}
