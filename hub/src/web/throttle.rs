//! Failed logins, counted per user name and per client address on each replica: after a few
//! failures a name or address must wait before trying again, twice as long after each further
//! failure, so guessing a password costs days instead of seconds. Pure (the caller passes the
//! time), bounded in memory whatever an attacker sends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed before the first wait: enough for a person mistyping.
pub const FREE_FAILURES: u32 = 5;
/// The first wait; each further failure doubles it, up to [`MAX_WAIT`].
pub const FIRST_WAIT: Duration = Duration::from_secs(30);
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// A name or address this long without a failure starts afresh.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Names and addresses remembered at most; when full, the oldest are forgotten first.
pub const MAX_TRACKED: usize = 20_000;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    last: Instant,
    until: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Name(String),
    Addr(IpAddr),
}

#[derive(Debug, Default)]
pub struct Throttle {
    strikes: Mutex<HashMap<Key, Strikes>>,
}

fn keys(name: &str, addr: Option<IpAddr>) -> impl Iterator<Item = Key> {
    // A name is remembered by its first characters only: an attacker cannot grow memory by
    // sending long ones.
    let name: String = name.chars().take(64).collect();
    std::iter::once(Key::Name(name)).chain(addr.map(Key::Addr))
}

impl Throttle {
    /// `Err(wait)` while `name` or `addr` must wait before its next attempt.
    pub fn check(&self, name: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let strikes = self.strikes.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys(name, addr)
            .filter_map(|k| strikes.get(&k)?.until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed attempt against `name` and `addr`.
    pub fn failed(&self, name: &str, addr: Option<IpAddr>, now: Instant) {
        let mut strikes = self.strikes.lock().unwrap_or_else(|e| e.into_inner());
        if strikes.len() >= MAX_TRACKED {
            strikes.retain(|_, s| now.duration_since(s.last) < FORGET_AFTER);
            while strikes.len() >= MAX_TRACKED {
                let Some(oldest) = strikes
                    .iter()
                    .min_by_key(|(_, s)| s.last)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                strikes.remove(&oldest);
            }
        }
        for k in keys(name, addr) {
            let s = strikes.entry(k).or_insert(Strikes {
                failures: 0,
                last: now,
                until: None,
            });
            if now.duration_since(s.last) >= FORGET_AFTER {
                s.failures = 0;
            }
            s.failures += 1;
            s.last = now;
            s.until = s
                .failures
                .checked_sub(FREE_FAILURES)
                .map(|over| now + FIRST_WAIT.saturating_mul(1 << over.min(16)).min(MAX_WAIT));
        }
    }

    /// A successful login clears the name (not the address: one right password does not make
    /// an address's other guesses innocent).
    pub fn succeeded(&self, name: &str) {
        let mut strikes = self.strikes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys(name, None).next() {
            strikes.remove(&k);
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.strikes.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_few_mistakes_are_free_then_waits_double() {
        let (t, now) = (Throttle::default(), Instant::now());
        for _ in 0..FREE_FAILURES - 1 {
            t.failed("ops9", A, now);
        }
        assert_eq!(t.check("ops9", A, now), Ok(()));
        t.failed("ops9", A, now);
        assert_eq!(t.check("ops9", A, now), Err(FIRST_WAIT));
        // The name waits from any address, the address for any name.
        assert_eq!(t.check("ops9", B, now), Err(FIRST_WAIT));
        assert_eq!(t.check("admin", A, now), Err(FIRST_WAIT));
        assert_eq!(t.check("admin", B, now), Ok(()));
        let later = now + FIRST_WAIT;
        assert_eq!(t.check("ops9", B, later), Ok(()));
        t.failed("ops9", B, later);
        assert_eq!(t.check("ops9", B, later), Err(FIRST_WAIT * 2));
        for _ in 0..20 {
            t.failed("ops9", B, later);
        }
        assert_eq!(t.check("ops9", B, later), Err(MAX_WAIT));
        t.succeeded("ops9");
        assert_eq!(t.check("ops9", None, later), Ok(()));
        assert_eq!(
            t.check("ops9", B, later),
            Err(MAX_WAIT),
            "the address still waits"
        );
        assert_eq!(t.check("x", A, now + FORGET_AFTER), Ok(()));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_names() {
        let (t, now) = (Throttle::default(), Instant::now());
        for i in 0..MAX_TRACKED + 500 {
            t.failed(
                &format!("{i}{}", "x".repeat(1000)),
                None,
                now + Duration::from_millis(i as u64),
            );
        }
        assert!(t.tracked() <= MAX_TRACKED);
    }
}
