//! What keeps whoever may publish on the command topic from flooding the agent: each distinct
//! offer is handled once (in a bounded memory), and offers nobody trusted signed are reported at
//! a bounded rate, so junk cannot fill the outbox and push real summaries out.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Distinct offers remembered; past it the oldest is forgotten, and comes again at worst once.
pub const REMEMBERED: usize = 64;

/// Rejections of unsigned offers reported per [`UNSIGNED_WINDOW`]; the rest are counted and the
/// count rides on the next one reported.
pub const UNSIGNED_REPORTS: usize = 12;
pub const UNSIGNED_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct OfferFilter {
    seen: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    reported: VecDeque<Instant>,
    suppressed: u64,
}

/// Whether to report an unsigned offer's rejection.
#[derive(Debug, PartialEq, Eq)]
pub enum Report {
    /// Report it, saying how many went unreported since the last one.
    Yes {
        unreported_before: u64,
    },
    No,
}

impl OfferFilter {
    /// Whether an offer with this digest is new (and now remembered).
    pub fn first_time(&mut self, digest: [u8; 32]) -> bool {
        if !self.seen.insert(digest) {
            return false;
        }
        self.order.push_back(digest);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// Whether the rejection of an offer no trusted key signed, seen at `now`, is reported.
    pub fn report_unsigned(&mut self, now: Instant) -> Report {
        while self
            .reported
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= UNSIGNED_WINDOW)
        {
            self.reported.pop_front();
        }
        if self.reported.len() >= UNSIGNED_REPORTS {
            self.suppressed += 1;
            return Report::No;
        }
        self.reported.push_back(now);
        Report::Yes {
            unreported_before: std::mem::take(&mut self.suppressed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(i: usize) -> [u8; 32] {
        let mut d = [0; 32];
        d[..8].copy_from_slice(&(i as u64).to_le_bytes());
        d
    }

    #[test]
    fn each_offer_once_in_bounded_memory() {
        let mut f = OfferFilter::default();
        assert!(f.first_time(digest(0)));
        assert!(!f.first_time(digest(0)));
        for i in 1..10_000 {
            assert!(f.first_time(digest(i)));
        }
        assert_eq!((f.seen.len(), f.order.len()), (REMEMBERED, REMEMBERED));
        assert!(!f.first_time(digest(9_999)), "recent ones are still known");
        assert!(f.first_time(digest(0)), "the oldest was forgotten");
    }

    #[test]
    fn a_flood_of_unsigned_offers_is_reported_at_a_bounded_rate() {
        let mut f = OfferFilter::default();
        let t0 = Instant::now();
        let reported = (0..10_000)
            .filter(|i| f.report_unsigned(t0 + Duration::from_millis(*i)) != Report::No)
            .count();
        assert_eq!(reported, UNSIGNED_REPORTS);
        // An hour after the first, the window has room again and says what it held back.
        let later = t0 + UNSIGNED_WINDOW;
        assert_eq!(
            f.report_unsigned(later),
            Report::Yes {
                unreported_before: 10_000 - UNSIGNED_REPORTS as u64
            }
        );
        assert_eq!(
            f.report_unsigned(later),
            Report::No,
            "the other eleven are not an hour old"
        );
        let all_expired = later + Duration::from_millis(UNSIGNED_REPORTS as u64);
        assert_eq!(
            f.report_unsigned(all_expired),
            Report::Yes {
                unreported_before: 1
            }
        );
    }
}
