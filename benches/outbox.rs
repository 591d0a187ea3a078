//! Outbox throughput: events numbered, serialised, appended to sled and made durable (fsync), in
//! batches as the writer does under load. Issue target: at least 10 000 durable events/s on the
//! 2-core CI machine. Also the publisher's read-and-remove path.

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use aisle::analytics::zones::{Level, ZoneMetrics};
use aisle::events::{CameraHealth, Payload, Summary, ZoneSummary};
use aisle::outbox::{Incoming, Limits, Outbox, OutboxCounters, SledOutbox, Writer};

/// A realistic summary: three zones, about 600 bytes of JSON.
fn summary(ts_ms: u64) -> Incoming {
    let zones = ["plaza", "midline", "kiosk"]
        .iter()
        .map(|z| ZoneSummary {
            zone: z.to_string(),
            metrics: ZoneMetrics::Area {
                occupancy_mean: 5.5,
                occupancy_max: 8,
                occupancy_last: 4,
                congestion: Level::Low,
            },
        })
        .collect();
    Incoming {
        camera: Some("plaza".into()),
        ts_ms,
        payload: Payload::Summary(Summary {
            window_start_ms: ts_ms.saturating_sub(10_000),
            window_end_ms: ts_ms,
            frames: 198,
            zones,
            health: CameraHealth::default(),
        }),
    }
}

const LIMITS: Limits = Limits {
    max_bytes: 1 << 40,
    max_age_ms: u64::MAX,
};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = SledOutbox::open(&dir.path().join("outbox")).expect("open");
    let store = Arc::new(store);
    let mut writer = Writer::new(
        store.clone(),
        "gw",
        "site",
        LIMITS,
        Arc::new(OutboxCounters::default()),
    );
    let mut g = c.benchmark_group("outbox");
    for batch in [1u64, 100] {
        g.throughput(Throughput::Elements(batch));
        g.bench_function(format!("append+flush batch {batch}"), |b| {
            let ts = std::cell::Cell::new(0u64);
            b.iter_batched(
                || {
                    (0..batch)
                        .map(|i| summary(ts.get() + i))
                        .collect::<Vec<_>>()
                },
                |events| {
                    ts.set(ts.get() + batch);
                    writer.accept(events);
                    writer.flush(ts.get())
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.throughput(Throughput::Elements(1));
    g.bench_function("read+remove", |b| {
        b.iter_batched(
            || {
                if store.stats().pending() == 0 {
                    writer.accept((0..1000).map(summary));
                    writer.flush(1000);
                }
            },
            |()| {
                let r = store.first_from(0).expect("read").expect("a record");
                store.remove(r.seq).expect("remove");
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
