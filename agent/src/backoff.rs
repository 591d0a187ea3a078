//! Exponential backoff with jitter for reconnecting cameras and the broker link, so a store's
//! cameras (or a fleet's gateways) that drop together do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The next delay: `base * 2^attempt`, capped at `max`, scaled by a factor in `[0.5, 1.0]`
    /// drawn from `rng`.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(self.max).mul_f64(rng.random_range(0.5..=1.0))
    }

    /// Called once a connection delivers again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn delays_grow_to_the_cap_with_bounded_jitter_and_reset() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay(&mut rng)).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(2));
            assert!(
                *d <= ceiling && *d >= ceiling / 2,
                "attempt {i}: {d:?} vs {ceiling:?}"
            );
        }
        b.reset();
        assert!(b.next_delay(&mut rng) <= Duration::from_millis(100));
    }
}
