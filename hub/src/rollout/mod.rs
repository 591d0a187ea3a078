//! Staged rollouts: a signed bundle offered to the fleet wave by wave, each wave judged from its
//! gateways' `update` events before the next is offered, halted when too many fail. This file is
//! the pure part (which gateway is in which wave, what a wave's reports mean); `bundle` reads a
//! bundle from disk, `store` keeps a rollout's state in PostgreSQL (so it survives a restart of
//! any replica), `driver` publishes the offers and moves rollouts on.

pub mod bundle;
pub mod driver;
pub mod store;

/// One wave's size as the admin wrote it: cumulative, a count or a share of the targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaveSize {
    Count(usize),
    Percent(u8),
}

/// `1,10%,100%`: sizes growing wave by wave, the last reaching every target.
pub fn parse_waves(text: &str) -> Result<Vec<WaveSize>, String> {
    let waves = text
        .split(',')
        .map(|w| {
            let w = w.trim();
            match w.strip_suffix('%') {
                Some(p) => match p.parse::<u8>() {
                    Ok(p @ 1..=100) => Ok(WaveSize::Percent(p)),
                    _ => Err(format!("wave {w:?}: a share is 1% to 100%")),
                },
                None => match w.parse::<usize>() {
                    Ok(n) if n > 0 => Ok(WaveSize::Count(n)),
                    _ => Err(format!(
                        "wave {w:?}: a count of gateways (1, 2, …) or a share (10%)"
                    )),
                },
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    match waves.last() {
        Some(WaveSize::Percent(100)) => Ok(waves),
        _ => Err("the last wave must be 100%, so every target is offered the model".into()),
    }
}

/// The gateways of each wave, in the order given (the caller sorts them, e.g. by id), each
/// gateway in exactly one wave. Waves that would add nobody are left out.
pub fn assign(devices: &[String], waves: &[WaveSize]) -> Vec<Vec<String>> {
    let n = devices.len();
    let mut out = Vec::new();
    let mut taken = 0;
    for w in waves {
        let upto = match *w {
            WaveSize::Count(c) => c.min(n),
            WaveSize::Percent(p) => (n * usize::from(p)).div_ceil(100),
        };
        if upto > taken {
            out.push(devices[taken..upto].to_vec());
            taken = upto;
        }
    }
    out
}

/// What a gateway's update events say about the offered version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Committed,
    Failed,
}

/// The `step` of an `update` event (docs/ota.md) as a rollout sees it.
pub fn outcome(step: &str) -> Outcome {
    match step {
        "committed" => Outcome::Committed,
        "rejected" | "rolled_back" => Outcome::Failed,
        _ => Outcome::Pending,
    }
}

/// A gateway's outcome from the steps it reported after the offer, oldest first: the first
/// `committed`, `rejected` or `rolled_back` decides (a later step belongs to another offer);
/// with none, a gateway silent for `timeout_ms` since the offer counts as failed (`no_report`),
/// so an unplugged gateway cannot hold a rollout forever.
pub fn settle<'a>(
    steps: impl IntoIterator<Item = &'a str>,
    since_offer_ms: i64,
    timeout_ms: i64,
) -> (Outcome, Option<&'a str>) {
    for step in steps {
        match outcome(step) {
            Outcome::Pending => {}
            decided => return (decided, Some(step)),
        }
    }
    if since_offer_ms > timeout_ms {
        (Outcome::Failed, Some(NO_REPORT))
    } else {
        (Outcome::Pending, None)
    }
}

/// The step recorded for a gateway that did not report within the wave's timeout.
pub const NO_REPORT: &str = "no_report";

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Some gateways have not reported yet.
    Wait,
    /// Offer the next wave.
    Advance,
    /// Too many failed: stop offering.
    Halt { failed_share: f64 },
    /// The last wave is through.
    Done,
}

/// Judges a wave from its gateways' outcomes: halts as soon as the failed share passes
/// `halt_above` (no need to wait for the rest), advances once everyone has reported.
pub fn judge(outcomes: &[Outcome], halt_above: f64, last: bool) -> Verdict {
    let size = outcomes.len().max(1) as f64;
    let failed = outcomes.iter().filter(|o| **o == Outcome::Failed).count() as f64;
    let pending = outcomes.contains(&Outcome::Pending);
    if failed / size > halt_above {
        Verdict::Halt {
            failed_share: failed / size,
        }
    } else if pending {
        Verdict::Wait
    } else if last {
        Verdict::Done
    } else {
        Verdict::Advance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("gw-{i:02}")).collect()
    }

    #[test]
    fn waves_parse_and_must_end_at_everyone() {
        assert_eq!(
            parse_waves("1, 10%,100%"),
            Ok(vec![
                WaveSize::Count(1),
                WaveSize::Percent(10),
                WaveSize::Percent(100)
            ])
        );
        assert!(parse_waves("1,50%").unwrap_err().contains("100%"));
        assert!(parse_waves("0,100%").unwrap_err().contains("\"0\""));
        assert!(parse_waves("1,150%").unwrap_err().contains("1% to 100%"));
    }

    #[test]
    fn every_gateway_is_in_exactly_one_wave() {
        let waves = parse_waves("1,10%,100%").unwrap();
        let w = assign(&ids(40), &waves);
        assert_eq!(w.iter().map(Vec::len).collect::<Vec<_>>(), [1, 3, 36]);
        assert_eq!(w.concat(), ids(40));
        // With few gateways, waves that would add nobody vanish.
        let w = assign(&ids(3), &parse_waves("1,10%,50%,100%").unwrap());
        assert_eq!(w.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1, 1]);
    }

    #[test]
    fn a_wave_halts_early_advances_when_all_report_and_ends() {
        use Outcome::*;
        assert_eq!(judge(&[Committed, Pending], 0.2, false), Verdict::Wait);
        assert_eq!(judge(&[Committed, Committed], 0.2, false), Verdict::Advance);
        assert_eq!(judge(&[Committed, Committed], 0.2, true), Verdict::Done);
        assert_eq!(
            judge(&[Failed, Pending, Pending, Pending], 0.2, false),
            Verdict::Halt { failed_share: 0.25 }
        );
        // At the threshold exactly, not over it: the wave goes on.
        assert_eq!(
            judge(
                &[Failed, Committed, Committed, Committed, Committed],
                0.2,
                false
            ),
            Verdict::Advance
        );
        assert_eq!(outcome("rolled_back"), Failed);
        assert_eq!(outcome("verified"), Pending);
    }

    #[test]
    fn the_first_final_step_decides_and_silence_times_out() {
        use Outcome::*;
        let steps = [
            "downloading",
            "verified",
            "active",
            "rolled_back",
            "committed",
        ];
        assert_eq!(settle(steps, 0, 1_000), (Failed, Some("rolled_back")));
        assert_eq!(settle(["downloading"], 999, 1_000), (Pending, None));
        assert_eq!(
            settle(["downloading"], 1_001, 1_000),
            (Failed, Some(NO_REPORT))
        );
        assert_eq!(
            settle(["verified", "committed"], 5_000, 1_000),
            (Committed, Some("committed"))
        );
    }
}
