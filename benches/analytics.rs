//! Tracker + zones + rules per frame with 30 people walking: the analytics cost the agent adds
//! on top of detection (issue target: under 0.3 ms per frame).

use criterion::{Criterion, criterion_group, criterion_main};

use aisle::analytics::camera::{AnalyticsConfig, CameraAnalytics};
use aisle::analytics::rules::{Rule, RuleConfig, Severity};
use aisle::analytics::zones::ZoneConfig;
use aisle::detect::{BBox, Detection};
use aisle::events::CameraHealth;

fn zones() -> Vec<ZoneConfig> {
    let text = [
        "name = \"floor\"\nkind = \"area\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\ncongestion = { medium = 10, high = 20 }",
        "name = \"door\"\nkind = \"line\"\nline = [[0.5, 0.0], [0.5, 1.0]]",
        "name = \"till\"\nkind = \"queue\"\npolygon = [[0.6, 0.1], [0.95, 0.1], [0.95, 0.9], [0.6, 0.9]]\nservice_line = [[0.95, 0.1], [0.95, 0.9]]",
    ];
    text.iter()
        .map(|t| toml::from_str(t).expect("zone"))
        .collect()
}

fn rule(name: &str, zone: &str, when: &str) -> Rule {
    let cfg = RuleConfig {
        name: name.into(),
        zone: zone.into(),
        camera: None,
        when: when.into(),
        clear: None,
        cooldown_s: 0.0,
        severity: Severity::Warning,
    };
    Rule::new(cfg, "cam").expect("rule")
}

/// 30 people on a grid, each drifting right a little every frame.
fn people(frame: u64) -> Vec<Detection> {
    (0..30)
        .map(|i| {
            let x = ((i % 6) as f32 * 120.0 + frame as f32 * 2.0) % 700.0;
            let y = (i / 6) as f32 * 100.0 + 20.0;
            Detection {
                class: 0,
                score: 0.8,
                bbox: BBox::new(x, y, x + 40.0, y + 90.0),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = vec![
        rule("busy", "floor", "area.occupancy >= 25 for 10s"),
        rule("queue", "till", "queue.length >= 5 for 30s"),
        rule("wait", "till", "queue.wait_p90 > 300s"),
    ];
    let mut analytics = CameraAnalytics::new("cam", zones(), rules, &AnalyticsConfig::default());
    let frames: Vec<Vec<Detection>> = (0..200).map(people).collect();
    let health = CameraHealth::default();
    let mut out = Vec::new();
    let mut t = 0u64;
    c.bench_function("tracker+zones+rules, 30 people, 3 zones, 3 rules", |b| {
        b.iter(|| {
            t += 100;
            let dets = &frames[(t / 100 % 200) as usize];
            analytics
                .on_frame(t, 768, 576, dets, &mut out)
                .expect("zones fit");
            analytics.on_tick(t, true, &health, &mut out);
            out.clear();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
