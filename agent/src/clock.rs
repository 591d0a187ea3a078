//! Where "now" comes from. The analytics take time as an argument; the drivers get it from a
//! `Clock`: the wall clock live, the video's own timestamps in replay (so replays are
//! deterministic and can run faster than real time).

use std::cell::Cell;

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
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
    }
}
