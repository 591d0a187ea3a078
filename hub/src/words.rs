//! Figures in words, the same on the pages and in notifications: a duration as people say it, a
//! time of day with its zone, a measured value without spurious decimals.

/// `45 s`, `12 min`, `3 h`.
pub fn age(s: i64) -> String {
    match s {
        s if s < 120 => format!("{} s", s.max(0)),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

/// The time of day of `ts_ms` (Unix milliseconds), named as UTC: a reader in another zone must
/// not take it for their own.
pub fn clock(ts_ms: i64) -> String {
    let minutes = ts_ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{:02}:{:02} UTC", minutes / 60, minutes % 60)
}

/// `6`, `2.5`; `–` for nothing.
pub fn number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
        None => "–".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_say_them() {
        assert_eq!(age(45), "45 s");
        assert_eq!(age(600), "10 min");
        assert_eq!(age(10_800), "3 h");
        assert_eq!(clock(1_796_527_643_358), "03:27 UTC");
        assert_eq!(clock(-60_000), "23:59 UTC");
        assert_eq!(number(Some(6.0)), "6");
        assert_eq!(number(Some(2.46)), "2.5");
        assert_eq!(number(None), "–");
    }
}
