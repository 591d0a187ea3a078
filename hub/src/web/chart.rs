//! A zone's last 24 hours as an SVG bar chart drawn on the server: one bar per 15 minutes, so a
//! store manager sees when the queue built up or the shelf ran low without any script.

use maud::{Markup, html};

/// Minutes per bar.
pub const BUCKET_MIN: i64 = 15;
/// Bars in a day.
pub const BUCKETS: i64 = 24 * 60 / BUCKET_MIN;

const W: f64 = 610.0;
const H: f64 = 110.0;
/// Room for the y-axis label on the left and the hour labels below.
const LEFT: f64 = 34.0;
const BOTTOM: f64 = 16.0;

/// The zone's figure per kind, as charted: what the bars mean and their unit.
pub fn measure(kind: &str) -> &'static str {
    match kind {
        "area" => "people, mean per 15 min",
        "queue" => "queue length, mean per 15 min",
        "shelf" => "% stocked, lowest per 15 min",
        "line" => "crossings per 15 min",
        _ => "",
    }
}

/// The top of the y axis: the largest value rounded up to 1, 2 or 5 times a power of ten, so
/// the scale reads at a glance; at least 1 (a quiet day is a flat line, not a full one).
fn nice_max(max: f64) -> f64 {
    if max.is_nan() || max <= 1.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|top| *top >= max)
        .unwrap_or(10.0 * p)
}

/// `bars`: (index 0..BUCKETS from 24 h ago, value); buckets without data are left empty.
pub fn day(bars: &[(i64, f64)], label: &str) -> Markup {
    let kept: Vec<&(i64, f64)> = bars
        .iter()
        .filter(|(i, v)| (0..BUCKETS).contains(i) && v.is_finite())
        .collect();
    let top = nice_max(kept.iter().map(|b| b.1).fold(0.0, f64::max));
    let plot_w = W - LEFT;
    let plot_h = H - BOTTOM;
    let bar_w = plot_w / BUCKETS as f64;
    html! {
        svg.day xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox={"0 0 " (W) " " (H)}
            role="img" aria-label=(label) {
            title { (label) }
            line x1=(LEFT) y1=(plot_h) x2=(W) y2=(plot_h) stroke="#999" {}
            text x=(LEFT - 4.0) y="10" text-anchor="end" font-size="10" { (fmt(top)) }
            text x=(LEFT - 4.0) y=(plot_h) text-anchor="end" font-size="10" { "0" }
            @for h in (0..=24).step_by(6) {
                @let x = LEFT + plot_w * f64::from(h) / 24.0;
                line x1=(x) y1=(plot_h) x2=(x) y2=(plot_h + 3.0) stroke="#999" {}
                text x=(x) y=(H - 2.0) text-anchor=(if h == 0 { "start" } else if h == 24 { "end" } else { "middle" }) font-size="10" {
                    (if h == 24 { "now".to_string() } else { format!("−{} h", 24 - h) })
                }
            }
            @for (i, v) in kept {
                @let bh = (v.max(0.0) / top).min(1.0) * (plot_h - 2.0);
                rect.bar x=(LEFT + *i as f64 * bar_w) y=(plot_h - bh) width=(bar_w * 0.85) height=(bh)
                    fill="#457b9d" data-value=(fmt(*v)) {}
            }
        }
    }
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_to_a_readable_top() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(12.0), 20.0);
        assert_eq!(nice_max(100.0), 100.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }

    #[test]
    fn one_bar_per_bucket_with_data_scaled_to_the_top() {
        let svg = day(
            &[(0, 5.0), (50, 2.5), (95, 0.0), (96, 9.0), (10, f64::NAN)],
            "door / floor",
        )
        .into_string();
        assert_eq!(
            svg.matches("<rect").count(),
            3,
            "out-of-day and NaN buckets are dropped"
        );
        // Top of the scale 5: the first bar is full height (92 px of the 94 px plot).
        assert!(svg.contains(r#"y="2" width="#), "{svg}");
        assert!(svg.contains(r#"data-value="2.5""#));
        assert!(svg.contains("−24 h") && svg.contains(">now<"));
        assert!(svg.contains("<title>door / floor</title>"));
    }
}
