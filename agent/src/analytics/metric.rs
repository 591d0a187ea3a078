//! The zone metrics alert rules test (`queue.length >= 4 for 60s`), as one type that zones, rules
//! and the config's checks share: a name each, owned by one zone kind, so the four places that
//! used to agree on strings now agree by construction.

use super::zones::ZoneKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Occupancy,
    Congestion,
    In,
    Out,
    Length,
    WaitP50,
    WaitP90,
    EstimatedWait,
    Served,
    Abandoned,
    ServiceRate,
    Fill,
    Empty,
    Low,
}

impl Metric {
    pub const ALL: [Metric; 14] = [
        Metric::Occupancy,
        Metric::Congestion,
        Metric::In,
        Metric::Out,
        Metric::Length,
        Metric::WaitP50,
        Metric::WaitP90,
        Metric::EstimatedWait,
        Metric::Served,
        Metric::Abandoned,
        Metric::ServiceRate,
        Metric::Fill,
        Metric::Empty,
        Metric::Low,
    ];

    /// The name rules and alerts use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Occupancy => "occupancy",
            Self::Congestion => "congestion",
            Self::In => "in",
            Self::Out => "out",
            Self::Length => "length",
            Self::WaitP50 => "wait_p50",
            Self::WaitP90 => "wait_p90",
            Self::EstimatedWait => "estimated_wait",
            Self::Served => "served",
            Self::Abandoned => "abandoned",
            Self::ServiceRate => "service_rate",
            Self::Fill => "fill",
            Self::Empty => "empty",
            Self::Low => "low",
        }
    }

    /// The kind of zone that has this metric.
    pub fn kind(self) -> ZoneKind {
        match self {
            Self::Occupancy | Self::Congestion => ZoneKind::Area,
            Self::In | Self::Out => ZoneKind::Line,
            Self::Length
            | Self::WaitP50
            | Self::WaitP90
            | Self::EstimatedWait
            | Self::Served
            | Self::Abandoned
            | Self::ServiceRate => ZoneKind::Queue,
            Self::Fill | Self::Empty | Self::Low => ZoneKind::Shelf,
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The metrics of a kind of zone, in the order docs list them.
    pub fn of(kind: ZoneKind) -> impl Iterator<Item = Metric> {
        Self::ALL.into_iter().filter(move |m| m.kind() == kind)
    }

    /// `length, wait_p50, …`: the metrics of `kind`, for error messages.
    pub fn names_of(kind: ZoneKind) -> String {
        Self::of(kind)
            .map(Self::name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_one_name_and_round_trips() {
        for m in Metric::ALL {
            assert_eq!(Metric::named(m.name()), Some(m));
            assert_eq!(
                Metric::ALL.iter().filter(|o| o.name() == m.name()).count(),
                1
            );
        }
        assert_eq!(Metric::names_of(ZoneKind::Line), "in, out");
        assert_eq!(Metric::named("lenght"), None);
    }
}
