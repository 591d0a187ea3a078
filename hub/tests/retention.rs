//! Retention against the real PostgreSQL: a database at schema 7 with its events in one table is
//! migrated to daily partitions with every row kept; the hub's retention pass gives each recent
//! day its partition (moving the rows in), drops a day past `events_days`, deletes rows that
//! waited in the default partition longer than that and alerts cleared before `alerts_days`;
//! new and duplicate events still land once, in their day.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{Hub, hub_toml, now_ms, publish_one, root, setup, summary, wait_until};

const DAY_MS: u64 = 86_400_000;

fn event(id: &str, ts_ms: u64, received_days_ago: u64) -> String {
    format!(
        "INSERT INTO events VALUES ('{id}', 'gw-1', 'store-9', 1, 'cam0', {ts_ms}, 'summary', '{{}}', \
         now() - interval '{received_days_ago} days');"
    )
}

fn migrate(config: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .args(["migrate", "--config"])
        .arg(config)
        .output()
        .expect("aisle-hub migrate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn partitions(pg: &support::Postgres) -> String {
    pg.query(
        "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass",
    )
}

#[test]
fn events_live_in_daily_partitions_and_old_days_are_dropped_whole() {
    let s = setup();
    let now = now_ms();
    let day =
        |ago: u64| aisle_hub::retention::partition_name(((now - ago * DAY_MS) / DAY_MS) as i64);
    // A hub of schema 7 has stored four events in its single table, and two alerts.
    s.pg.query("CREATE TABLE schema_version (version bigint NOT NULL); INSERT INTO schema_version VALUES (7)");
    for n in 1..=7 {
        let file = std::fs::read_dir(root().join("hub/migrations"))
            .expect("migrations")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{n:04}_")))
            })
            .expect("migration file");
        s.pg.query(&std::fs::read_to_string(file).expect("migration"));
    }
    s.pg.query(
        &[
            event("today", now, 0),
            event("two-days", now - 2 * DAY_MS, 2),
            event("stale", now - 40 * DAY_MS, 40),
            event("epoch", 1_000, 0),
        ]
        .concat(),
    );
    s.pg.query(&format!(
        "INSERT INTO alerts (device_id, alert_id, site, rule, severity, raised_ts_ms, cleared_ts_ms) VALUES \
         ('gw-1', 'old', 'store-9', 'q', 'warning', 1000, {}), ('gw-1', 'recent', 'store-9', 'q', 'warning', {now}, {now})",
        now - 500 * DAY_MS
    ));

    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-ret",
        None,
        "\n[retention]\nevents_days = 30\nalerts_days = 365\ncheck_every_s = 1\n",
    );
    migrate(&config);
    assert_eq!(
        s.pg.query("SELECT relkind FROM pg_class WHERE relname = 'events'"),
        "p"
    );
    assert_eq!(
        s.pg.count("SELECT count(*) FROM events"),
        4,
        "the migration kept every row"
    );

    let _hub = Hub::start(&config);
    wait_until(
        Duration::from_secs(20),
        "the recent days' partitions",
        || {
            let p = partitions(&s.pg);
            p.contains(&day(0)) && p.contains(&day(2)) && p.contains(&day(1))
        },
    );
    assert_eq!(
        s.pg.query("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM events_default"),
        "epoch",
        "stored 40 days ago: deleted; stamped in 1970 but stored now: waits its 30 days"
    );
    assert_eq!(
        s.pg.query(&format!("SELECT event_id FROM {}", day(2))),
        "two-days",
        "moved into its day"
    );
    assert_eq!(s.pg.query("SELECT alert_id FROM alerts"), "recent");

    // A day past the window, as an earlier hub left it: dropped whole by the next pass.
    let old = day(35);
    let from = (now / DAY_MS - 35) * DAY_MS;
    s.pg.query(&format!(
        "CREATE TABLE {old} PARTITION OF events FOR VALUES FROM ({from}) TO ({}); {}",
        from + DAY_MS,
        event("thirty-five", from + 1, 0)
    ));
    wait_until(Duration::from_secs(20), "the old day dropped", || {
        !partitions(&s.pg).contains(&old)
    });
    assert_eq!(
        s.pg.count("SELECT count(*) FROM events WHERE event_id = 'thirty-five'"),
        0
    );

    // New events go to their day, and a copy is still dropped by the key.
    let fresh =
        summary("store-9", "gw-1", 5).replace(r#""ts_ms":5000"#, &format!(r#""ts_ms":{now}"#));
    publish_one(&s.broker, &s.pki, "aisle/store-9/gw-1/summary/cam0", &fresh);
    publish_one(&s.broker, &s.pki, "aisle/store-9/gw-1/summary/cam0", &fresh);
    wait_until(Duration::from_secs(20), "the summary stored", || {
        s.pg.count("SELECT count(*) FROM events WHERE event_id = 'gw-1-store:5'") == 1
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        s.pg.query("SELECT tableoid::regclass, count(*) FROM events WHERE event_id = 'gw-1-store:5' GROUP BY 1"),
        format!("{}|1", day(0))
    );
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of `runs` GETs of `path`, in milliseconds.
fn page_ms(c: &support::web::WebClient, cookie: &str, path: &str, runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = std::time::Instant::now();
            let (status, _) = c.get(path, cookie);
            assert_eq!(status, 200, "{path}");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

/// A month of a fleet, at a reduced rate (`--ignored`; docs/hub.md "Retention"): `HUB_RET_GATEWAYS`
/// (2000) gateways with one camera each, `HUB_RET_PER_HOUR` (1) summary an hour for
/// `HUB_RET_DAYS` (30) days, written straight into `events` (the ingest's path is measured by
/// `scale.rs`). Reports rows and bytes per day's partition and per row (indexes included), the
/// full fleet's figures extrapolated from them, a retention pass that drops a day, and the page
/// times with that data. Asserts only that the pass dropped the day.
///
/// `cargo test --release -p aisle-hub --test retention -- --ignored --nocapture`
#[test]
#[ignore = "a benchmark: minutes of inserts"]
fn a_month_of_a_fleet_in_partitions_measured() {
    let (gateways, per_hour, days) = (
        env("HUB_RET_GATEWAYS", 2000),
        env("HUB_RET_PER_HOUR", 1),
        env("HUB_RET_DAYS", 30),
    );
    let s = setup();
    let now = now_ms();
    let port = support::free_port();
    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-month",
        Some(port),
        &format!("\n[retention]\nevents_days = {days}\ncheck_every_s = 86400\n"),
    );
    migrate(&config);
    // One row a day first, so the hub's first pass makes every day's partition.
    let first_day = now / DAY_MS - (days - 1);
    s.pg.query(&format!(
        "INSERT INTO events SELECT 'seed:' || d, 'gw-0', 'store-0', d, 'cam0', d::bigint * {DAY_MS}, 'summary', '{{}}' \
         FROM generate_series({first_day}, {}) d",
        now / DAY_MS
    ));
    let hub = Hub::start(&config);
    wait_until(Duration::from_secs(60), "a partition per day", || {
        s.pg.count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
            >= days + 3
    });
    let zones = r#"[{"zone":"floor","kind":"area","occupancy_mean":3.4,"occupancy_max":7,"occupancy_last":4,"congestion":"medium"},{"zone":"till","kind":"queue","length_mean":2.2,"length_max":5,"length_last":3,"wait_p50_s":41.5,"wait_p90_s":97.0,"served":12,"abandoned":1,"service_rate_per_min":1.6,"estimated_wait_s":112.5},{"zone":"door","kind":"line","in":14,"out":11}]"#;
    let payload = format!(
        r#"{{"type":"summary","window_start_ms":0,"window_end_ms":60000,"frames":300,"zones":{zones},"health":{{"connected":true,"fps_in":5.0,"fps_out":5.0,"dropped":0,"reconnects":0}}}}"#
    );
    let step = 3_600_000 / per_hour;
    let per_gateway = days * 24 * per_hour;
    let start = first_day * DAY_MS;
    let t = std::time::Instant::now();
    s.pg.query(&format!(
        "INSERT INTO events (event_id, device_id, site, seq, camera, ts_ms, kind, payload) \
         SELECT 'st' || g || ':' || n, 'gw-' || g, 'store-' || (g / 2), n, 'cam0', \
           {start} + n::bigint * {step} + g, 'summary', '{payload}'::jsonb \
         FROM generate_series(1, {gateways}) g, generate_series(0, {per_gateway} - 1) n \
         WHERE {start} + n::bigint * {step} + g < {now}; \
         INSERT INTO devices (device_id, site, online, version, model, model_version, status_ts_ms, cameras, seen_at) \
         SELECT 'gw-' || g, 'store-' || (g / 2), true, '0.1.0', 'nanodet-m-416-int8', 1, {now}, '[]', now() \
         FROM generate_series(1, {gateways}) g; \
         INSERT INTO latest_summaries (device_id, camera, site, ts_ms, zones) \
         SELECT 'gw-' || g, 'cam0', 'store-' || (g / 2), {now}, '{zones}'::jsonb FROM generate_series(1, {gateways}) g; \
         ANALYZE events;"
    ));
    let insert_s = t.elapsed().as_secs_f64();
    let rows = s.pg.count("SELECT count(*) FROM events");
    let bytes: u64 =
        s.pg.query(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits \
             WHERE inhparent = 'events'::regclass",
        )
        .parse()
        .expect("bytes");
    let per_row = bytes as f64 / rows as f64;
    let fleet_rows_per_day = 2000.0 * 4.0 * 1440.0;
    eprintln!(
        "{rows} rows over {days} days ({gateways} gateways × {per_hour}/h) inserted in {insert_s:.0} s; \
         {:.1} MiB in the partitions, {per_row:.0} bytes a row with its indexes",
        bytes as f64 / 1048576.0
    );
    eprintln!(
        "full fleet (2,000 gateways × 4 cameras × 1 a minute = {:.2} M rows a day): {:.1} GiB a day, \
         {:.0} GiB for the default 30 days, {:.0} GiB for 90",
        fleet_rows_per_day / 1e6,
        fleet_rows_per_day * per_row / 1073741824.0,
        30.0 * fleet_rows_per_day * per_row / 1073741824.0,
        90.0 * fleet_rows_per_day * per_row / 1073741824.0
    );

    support::add_user(&config, "admin", "fleet-of-many", "fleet-admin", &[]);
    let c = support::web::WebClient::new(&s.pki.ca, port);
    let cookie = c.session("admin", "fleet-of-many");
    for path in [
        "/alerts?site=store-500",
        "/fleet",
        "/fleet?site=store-500",
        "/alerts",
    ] {
        eprintln!(
            "GET {path}: median {:.0} ms of 5",
            page_ms(&c, &cookie, path, 5)
        );
    }

    // A pass keeping a day less than the data spans (days - 1 whole days back) drops the oldest.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cfg = aisle_hub::config::HubConfig::load(&config).expect("config");
    let passed = rt.block_on(async {
        let mut db = aisle_hub::db::connect(&cfg.database)
            .await
            .expect("connect");
        let shorter = aisle_hub::config::RetentionConfig {
            events_days: u32::try_from(days - 2).expect("days"),
            ..cfg.retention.clone()
        };
        let t = std::time::Instant::now();
        let p = aisle_hub::retention::pass(&mut db, &shorter, crate::now_ms() as i64)
            .await
            .expect("pass");
        (p, t.elapsed())
    });
    let (p, took) = passed;
    let p = p.expect("the lock");
    eprintln!(
        "a pass dropping {:?} took {} ms",
        p.dropped,
        took.as_millis()
    );
    assert_eq!(p.dropped.len(), 1);
    drop(hub);
}
