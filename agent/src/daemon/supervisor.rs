//! Proof of life for systemd: a watchdog ping from every turn of the vision loop, so a hung
//! detector or source gets the agent restarted. Test builds can freeze the loop on purpose.

use std::time::{Duration, Instant};

use crate::systemd::Notifier;

pub(super) struct Supervisor {
    notifier: Notifier,
    started: Instant,
    /// The injected stall (`fault::STALL_ENV`); `None` in release builds.
    stall_after: Option<Duration>,
}

impl Supervisor {
    pub fn new(started: Instant) -> Self {
        Self {
            notifier: Notifier::from_env(),
            started,
            stall_after: crate::fault::stall_after(),
        }
    }

    /// The loop came round once more.
    pub fn beat(&mut self) {
        if self
            .stall_after
            .is_some_and(|after| self.started.elapsed() >= after)
        {
            crate::fault::stall();
        }
        self.notifier.heartbeat();
    }

    /// Tells systemd the agent is stopping, so the last sends are not taken for a hang.
    pub fn stopping(self) {
        Notifier::stopping();
    }
}
