//! A progress line for long commands (`replay` on a long recording, `eval detect`, `shelf
//! calibrate`), on a terminal only: redirected or piped stderr stays clean for scripts and logs.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(250);

pub struct Progress {
    label: &'static str,
    started: Instant,
    drawn: Option<Instant>,
    on: bool,
}

impl Progress {
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            started: Instant::now(),
            drawn: None,
            on: std::io::stderr().is_terminal(),
        }
    }

    /// `frames` done so far, the last at `pts_ms` of the recording, out of `total` when known.
    pub fn frame(&mut self, frames: u64, pts_ms: u64, total: Option<u64>) {
        if !self.on || self.drawn.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.drawn = Some(Instant::now());
        let text = line(self.label, frames, pts_ms, total, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{text}\x1b[K");
        let _ = err.flush();
    }
}

impl Drop for Progress {
    /// Clears the line, so what the command prints next starts clean.
    fn drop(&mut self) {
        if self.on && self.drawn.is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

fn line(label: &str, frames: u64, pts_ms: u64, total: Option<u64>, elapsed: Duration) -> String {
    let fps = frames as f64 / elapsed.as_secs_f64().max(1e-3);
    let of = total.map_or(String::new(), |t| format!(" of {t}"));
    format!(
        "{label}: frame {frames}{of}, {:.1} s of video, {fps:.1} fps",
        pts_ms as f64 / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_and_how_fast() {
        let l = line("replay", 250, 25_000, None, Duration::from_secs(10));
        assert_eq!(l, "replay: frame 250, 25.0 s of video, 25.0 fps");
        let l = line("calibrate", 3, 300, Some(300), Duration::from_secs(1));
        assert_eq!(l, "calibrate: frame 3 of 300, 0.3 s of video, 3.0 fps");
    }

    #[test]
    fn nothing_is_drawn_off_a_terminal() {
        let mut p = Progress::new("test");
        p.on = false;
        p.frame(1, 0, None);
        assert!(p.drawn.is_none());
    }
}
