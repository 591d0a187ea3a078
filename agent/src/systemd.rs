//! systemd supervision (`Type=notify`): READY once the config, model, outbox and cameras are up
//! and the pipeline turns, WATCHDOG from the pipeline's own heartbeat (so a stalled detector loop
//! gets the agent restarted, while a camera that is merely down does not), STOPPING at shutdown.
//! Without `NOTIFY_SOCKET` every call is a no-op.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

pub struct Notifier {
    ready: bool,
    /// Half of `WATCHDOG_USEC`: systemd's advice, so one late beat is not fatal.
    every: Option<Duration>,
    last: Option<Instant>,
}

impl Notifier {
    pub fn from_env() -> Self {
        Self {
            ready: false,
            every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last: None,
        }
    }

    fn send(state: &[NotifyState]) {
        if let Err(e) = sd_notify::notify(state) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }

    /// Called on every turn of the pipeline loop (each frame and each idle tick).
    pub fn heartbeat(&mut self) {
        if !self.ready {
            self.ready = true;
            Self::send(&[NotifyState::Ready, NotifyState::Status("running")]);
        }
        if let Some(every) = self.every
            && self.last.is_none_or(|t| t.elapsed() >= every)
        {
            self.last = Some(Instant::now());
            Self::send(&[NotifyState::Watchdog]);
        }
    }

    pub fn stopping() {
        Self::send(&[NotifyState::Stopping]);
    }
}
