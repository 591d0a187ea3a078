//! Crash injection for the update tests: with `AISLE_OTA_CRASH_AT=<step>` the agent kills
//! itself with SIGKILL (no destructors, no flushing: as close to a power cut as a process gets)
//! when the update reaches that step. `tests/ota_network.rs` restarts it after every step and
//! checks that a valid model serves and the store is consistent.

use std::sync::OnceLock;

pub const ENV: &str = "AISLE_OTA_CRASH_AT";

/// The steps, in the order an update passes them.
pub const STEPS: [&str; 5] = [
    "downloaded",
    "staged",
    "canary_passed",
    "activated",
    "on_trial",
];

pub fn point(step: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(ENV).ok()).as_deref() == Some(step) {
        tracing::warn!(step, "fault injection: killing the agent");
        // SAFETY: raise(2) with a valid signal number; SIGKILL does not return.
        unsafe {
            libc::raise(libc::SIGKILL);
        }
    }
}
