//! Fault injection for the tests that crash or hang the real binary. It exists only in builds
//! with the `fault-injection` feature (`scripts/test.sh` turns it on); release builds and the
//! .deb carry none of it, so no environment variable can crash or stall a gateway.
//!
//! - `AISLE_OTA_CRASH_AT=<step>`: the agent kills itself with SIGKILL (no destructors, no
//!   flushing: as close to a power cut as a process gets) when an update reaches that step.
//!   `tests/ota_network.rs` restarts it after every step and checks that a valid model serves.
//! - `AISLE_FAULT_STALL_PIPELINE_AFTER_S=N`: the pipeline loop freezes after N seconds, as a
//!   hung detector would, so `tests/systemd_unit.rs` can watch the watchdog stop.

use std::time::Duration;

pub const CRASH_ENV: &str = "AISLE_OTA_CRASH_AT";
pub const STALL_ENV: &str = "AISLE_FAULT_STALL_PIPELINE_AFTER_S";

/// The update steps a crash can be injected at, in the order an update passes them.
pub const STEPS: [&str; 5] = [
    "downloaded",
    "staged",
    "canary_passed",
    "activated",
    "on_trial",
];

/// An update reached `step`: dies here if the test asked for it.
#[cfg(feature = "fault-injection")]
pub fn crash_point(step: &str) {
    use std::sync::OnceLock;
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(CRASH_ENV).ok()).as_deref() == Some(step) {
        tracing::warn!(step, "fault injection: killing the agent");
        // SAFETY: raise(2) with a valid signal number; SIGKILL does not return.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn crash_point(_step: &str) {}

/// After how long the pipeline should freeze, if a test asked for it.
#[cfg(feature = "fault-injection")]
pub fn stall_after() -> Option<Duration> {
    std::env::var(STALL_ENV)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn stall_after() -> Option<Duration> {
    None
}

/// Freezes the calling thread for good: the injected stall.
pub fn stall() -> ! {
    tracing::warn!("fault injection: pipeline stalled");
    loop {
        std::thread::park();
    }
}
