//! A count watched over a summary window.

/// Time-weighted mean, max and last of a count over a window.
#[derive(Debug, Clone, Default)]
pub(super) struct CountWindow {
    weighted_ms: f64,
    span_ms: f64,
    pub max: u32,
    pub last: u32,
    pub last_t: Option<u64>,
}

impl CountWindow {
    pub fn observe(&mut self, t_ms: u64, count: u32) {
        if let Some(prev) = self.last_t {
            let dt = t_ms.saturating_sub(prev) as f64;
            self.weighted_ms += self.last as f64 * dt;
            self.span_ms += dt;
        }
        self.max = self.max.max(count);
        self.last = count;
        self.last_t = Some(t_ms);
    }

    pub fn mean(&self) -> f64 {
        if self.span_ms > 0.0 {
            self.weighted_ms / self.span_ms
        } else {
            self.last as f64
        }
    }

    /// Starts a new window that carries the current count over.
    pub fn roll(&mut self) {
        *self = Self {
            max: self.last,
            last: self.last,
            last_t: self.last_t,
            ..Self::default()
        };
    }
}
