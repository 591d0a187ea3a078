//! Where "now" comes from. The analytics take time as an argument; the drivers get it from a
//! `Clock`: a monotonic [`Timeline`] live (stamped with the wall clock on the way out), the
//! video's own timestamps in replay (so replays are deterministic and can run faster than real
//! time).

use std::cell::Cell;
use std::time::Instant;

pub trait Clock {
    /// Milliseconds on this clock's timeline.
    fn now_ms(&self) -> u64;
}

/// Milliseconds since the Unix epoch.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// No wall clock that has been set reads earlier (2025-01-01): this agent was built after it.
/// A gateway without a real-time clock boots at the epoch (or wherever `fake-hwclock` left it)
/// and runs so until NTP answers: a reading before this is a clock not set yet.
pub const SET_AFTER_MS: u64 = 1_735_689_600_000;

/// Whether `wall_ms` can be a real time, not a clock waiting for NTP.
pub fn wall_clock_set(wall_ms: u64) -> bool {
    wall_ms >= SET_AFTER_MS
}

/// The wall clock's reading at start, carried forward by the monotonic clock. Durations and
/// summary windows measured on it survive the wall clock being stepped: a gateway without a
/// real-time clock boots with a wrong date and NTP corrects it later, sometimes backwards.
/// What leaves the box is stamped with the wall clock ([`wall_offset`]).
#[derive(Debug, Clone, Copy)]
pub struct Timeline {
    base_ms: u64,
    started: Instant,
}

impl Timeline {
    pub fn start(wall: &impl Clock) -> Self {
        Self {
            base_ms: wall.now_ms(),
            started: Instant::now(),
        }
    }
}

impl Clock for Timeline {
    fn now_ms(&self) -> u64 {
        self.base_ms + self.started.elapsed().as_millis() as u64
    }
}

/// What to add to a reading of a timeline to get the wall clock's time for it, both read now.
pub fn wall_offset(timeline_ms: u64, wall_ms: u64) -> i64 {
    wall_ms as i64 - timeline_ms as i64
}

/// A recording's timeline: stands still between frames, moves to each frame's timestamp.
#[derive(Debug, Default)]
pub struct StreamClock {
    now: Cell<u64>,
}

impl StreamClock {
    /// Moves to a frame's timestamp; never backwards.
    pub fn advance_to(&self, pts_ms: u64) {
        self.now.set(self.now.get().max(pts_ms));
    }
}

impl Clock for StreamClock {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_clock_follows_frames_and_never_goes_back() {
        let c = StreamClock::default();
        c.advance_to(500);
        c.advance_to(300);
        assert_eq!(c.now_ms(), 500);
    }

    #[test]
    fn a_timeline_starts_at_the_wall_clock_and_only_moves_forward() {
        struct Fixed(u64);
        impl Clock for Fixed {
            fn now_ms(&self) -> u64 {
                self.0
            }
        }
        let t = Timeline::start(&Fixed(1_700_000_000_000));
        let (a, b) = (t.now_ms(), t.now_ms());
        assert!(a >= 1_700_000_000_000 && b >= a);
        assert_eq!(wall_offset(a, a - 3_600_000), -3_600_000);
    }

    #[test]
    fn an_unset_clock_is_told_from_a_set_one() {
        assert!(!wall_clock_set(0));
        assert!(!wall_clock_set(1_600_000_000_000));
        assert!(wall_clock_set(SystemClock.now_ms()));
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
