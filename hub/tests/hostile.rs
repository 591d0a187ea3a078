//! A fuzzed ingest: every field of every kind of message a gateway sends, replaced in turn by
//! values a broken agent or a hostile holder of a gateway certificate could send (wrong types,
//! NUL and control characters, huge, negative and fractional numbers, stamps far in the future),
//! through real mosquitto into a real PostgreSQL. The replica must store or refuse each one,
//! acknowledge it and go on; no page may then fail for any role; one store's messages must not
//! touch another store's gateway that has the same id.

mod support;

use std::io::Write;
use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};
use support::browser::Browser;
use support::{add_user, free_port, log_in, now_ms, publisher, setup, start_hub, text, wait_until};

const SITE: &str = "store-9";
const DEVICE: &str = "gw-1";

/// The values each field is replaced by in turn.
fn hostile(now: u64) -> Vec<Value> {
    vec![
        json!("a\u{0}b"),
        json!("\u{7}\n\t\u{1b}[31m"),
        json!(""),
        json!("x".repeat(1500)),
        json!("lots"),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(1.7e308),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(now + 365 * 86_400_000),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
    ]
}

/// One valid message of each kind, as the agent publishes it, with the topic it goes on.
fn templates(now: u64) -> Vec<(String, Value)> {
    let event = |camera: Option<&str>, payload: Value| {
        let mut e = json!({"schema_version": 3, "event_id": "", "device_id": DEVICE, "site": SITE,
            "seq": 0, "ts_ms": now, "payload": payload});
        if let Some(c) = camera {
            e["camera"] = json!(c);
        }
        e
    };
    let prefix = format!("aisle/{SITE}/{DEVICE}");
    let camera = json!({"camera": "till", "connected": true, "fps_in": 5.0, "fps_out": 5.0,
        "dropped": 0, "reconnects": 0});
    vec![
        (
            format!("{prefix}/summary/till"),
            event(
                Some("till"),
                json!({"type": "summary", "window_start_ms": now - 60_000, "window_end_ms": now,
                "frames": 300, "zones": [
                    {"zone": "floor", "kind": "area", "occupancy_mean": 2.5, "occupancy_max": 4,
                     "occupancy_last": 2, "congestion": "low"},
                    {"zone": "door", "kind": "line", "in": 3, "out": 2},
                    {"zone": "kiosk", "kind": "queue", "length_mean": 2.0, "length_max": 3,
                     "length_last": 2, "wait_p50_s": 40.0, "wait_p90_s": 80.0, "served": 2,
                     "abandoned": 0, "service_rate_per_min": 1.0, "estimated_wait_s": 120.0},
                    {"zone": "bay", "kind": "shelf", "fill": 0.75, "fill_min": 0.5,
                     "empty_cells": ["r1b2"], "low_cells": [], "samples": 6, "occluded": 1}],
                "health": {"connected": true, "fps_in": 5.0, "fps_out": 5.0, "dropped": 0,
                           "reconnects": 0}}),
            ),
        ),
        (
            format!("{prefix}/alert"),
            event(
                Some("till"),
                json!({"type": "alert", "alert_id": "q-1", "rule": "kiosk-queue",
                "severity": "warning", "state": "raised", "zone": "kiosk", "metric": "length",
                "value": 6.0, "threshold": 5.0}),
            ),
        ),
        (
            format!("{prefix}/health"),
            event(
                None,
                json!({"type": "health", "uptime_s": 60, "cameras": [camera.clone()],
                "inference_ms": 8.5, "outbox": {"pending": 0, "bytes": 0, "oldest_age_s": null,
                "dropped_summaries": 0, "dropped_alerts": 0, "lost_unstored": 0, "error": null},
                "mqtt": {"connected": true, "reconnects": 0, "published": 10, "last_error": null}}),
            ),
        ),
        (
            format!("{prefix}/model"),
            event(
                None,
                json!({"type": "update", "step": "committed", "slot": "detector",
                "model": "nanodet-m-416", "version": 3, "reason": null, "detail": null}),
            ),
        ),
        (
            format!("{prefix}/status"),
            json!({"state": "online", "device_id": DEVICE, "site": SITE, "version": "0.1.0",
                "model": "nanodet-m-416", "model_version": 3, "ts_ms": now,
                "cameras": [camera], "outbox_error": null}),
        ),
    ]
}

/// JSON pointers to every value in `v`, containers included.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
        _ => {}
    }
    if !at.is_empty() {
        out.push(at);
    }
}

/// Numbers a message apart: its own event id and sequence number, one second of time apart.
fn numbered(mut m: Value, n: u64) -> Value {
    if m.get("event_id").is_some() {
        m["event_id"] = json!(format!("fuzz-store:{n}"));
        m["seq"] = json!(n);
    }
    m
}

fn send(pubs: &mut [(String, Child)], topic: &str, body: &Value) {
    let (_, child) = pubs
        .iter_mut()
        .find(|(t, _)| t == topic)
        .expect("a publisher per topic");
    let stdin = child.stdin.as_mut().expect("stdin");
    writeln!(stdin, "{body}").expect("publish");
}

#[test]
fn hostile_messages_are_stored_or_refused_and_nothing_stops_ingest_or_a_page() {
    let s = setup();
    let port = free_port();
    let (config, mut hub) = start_hub(&s, "hub-fuzz", Some(port));
    add_user(&config, "ops9", "till-rolls-9", "store-ops", &[SITE]);
    add_user(&config, "admin", "fleet-of-many", "fleet-admin", &[]);

    let now = now_ms();
    let templates = templates(now);
    let mut pubs: Vec<(String, Child)> = templates
        .iter()
        .map(|(t, _)| (t.clone(), publisher(&s.broker, &s.pki, t)))
        .collect();
    let mut sent = 0u64;
    for (topic, template) in &templates {
        let mut paths = Vec::new();
        pointers(template, String::new(), &mut paths);
        for path in &paths {
            for bad in hostile(now) {
                let mut m = numbered(template.clone(), sent);
                if let Some(slot) = m.pointer_mut(path) {
                    *slot = bad;
                }
                send(&mut pubs, topic, &m);
                sent += 1;
            }
        }
    }
    // Each kind once more, intact, last on its topic: once these are in, everything before is.
    for (topic, template) in &templates {
        let mut m = numbered(template.clone(), 1_000_000 + sent);
        if m.get("event_id").is_none() {
            m["ts_ms"] = json!(now + 1);
        }
        send(&mut pubs, topic, &m);
        sent += 1;
    }
    for (_, mut child) in pubs {
        drop(child.stdin.take());
        assert!(child.wait().expect("mosquitto_pub").success());
    }
    wait_until(Duration::from_secs(60), "the intact messages", || {
        s.pg.count("SELECT count(*) FROM events WHERE event_id LIKE 'fuzz-store:1______'") == 4
            && s.pg.count(&format!(
                "SELECT count(*) FROM devices WHERE status_ts_ms = {}",
                now + 1
            )) == 1
    });

    // A row a hub stored before it bounded numbers (written here directly): the day's charts
    // still draw.
    s.pg.query(&format!(
        "INSERT INTO events (event_id, device_id, site, seq, camera, ts_ms, kind, payload) VALUES \
         ('legacy:1', '{DEVICE}', '{SITE}', 1, 'till', {now}, 'summary', '{{\"type\": \"summary\", \
         \"zones\": [{{\"zone\": \"floor\", \"kind\": \"area\", \"occupancy_mean\": 1e999}}, \
         {{\"zone\": \"door\", \"kind\": \"line\", \"in\": -1e999, \"out\": \"lots\"}}]}}')"
    ));

    // Every page, as each role, renders.
    let base = format!("https://localhost:{port}");
    let b = Browser::start();
    for (user, password, pages) in [
        (
            "ops9",
            "till-rolls-9",
            &["/alerts", "/alerts?site=store-9"][..],
        ),
        (
            "admin",
            "fleet-of-many",
            &["/alerts", "/fleet", "/fleet?site=store-9", "/rollouts"][..],
        ),
    ] {
        b.send("DELETE", "/cookie", None);
        log_in(&b, &base, user, password);
        b.wait_for("return location.pathname === '/alerts'", "the alerts page");
        for page in pages {
            b.send(
                "POST",
                "/url",
                Some(&json!({"url": format!("{base}{page}")})),
            );
            let body = text(&b);
            assert!(
                !body.contains("internal error") && !body.is_empty(),
                "{user} {page}: {body}"
            );
        }
    }
    assert_eq!(hub.lines_with("page failed"), 0);

    hub.stop();
    wait_until(Duration::from_secs(10), "the stopped line", || {
        hub.lines_with("stopped") == 1
    });
    let (events, duplicates, statuses, refused) = (
        hub.stopped_total("events"),
        hub.stopped_total("duplicates"),
        hub.stopped_total("statuses"),
        hub.stopped_total("refused"),
    );
    println!(
        "fuzzed ingest: {sent} messages of {} kinds; {events} events stored, {duplicates} duplicates, \
         {statuses} statuses, {refused} refused",
        templates.len()
    );
    assert_eq!(
        events + duplicates + statuses + refused,
        sent,
        "every message stored or refused"
    );
    assert!(
        refused > sent / 2,
        "most of these messages are not ones an agent sends"
    );
    assert_eq!(
        s.pg.count(&format!(
            "SELECT count(*) FROM events WHERE ts_ms > {}",
            now + 600_000
        )),
        0,
        "nothing from the future is stored"
    );
}

#[test]
fn a_device_id_reused_by_another_store_is_another_gateway() {
    let s = setup();
    let (_, mut hub) = start_hub(&s, "hub-sites", None);
    let now = now_ms();
    let alert = |site: &str, seq: u64, state: &str| {
        json!({"schema_version": 3, "event_id": format!("{site}-gwx:{seq}"), "device_id": "gwx",
            "site": site, "seq": seq, "camera": "till", "ts_ms": now + seq,
            "payload": {"type": "alert", "alert_id": "q-7", "rule": "kiosk-queue",
            "severity": "warning", "state": state, "zone": "kiosk", "metric": "length",
            "value": 6.0, "threshold": 5.0}})
    };
    let status = |site: &str, version: &str, ts: u64| {
        json!({"state": "online", "device_id": "gwx", "site": site, "version": version,
            "model": "nanodet-m-416", "model_version": 3, "ts_ms": ts, "cameras": [],
            "outbox_error": null})
    };
    let one = |topic: &str, body: &Value| {
        support::publish_one(&s.broker, &s.pki, topic, &body.to_string());
    };
    one("aisle/s1/gwx/alert", &alert("s1", 1, "raised"));
    one("aisle/s1/gwx/status", &status("s1", "0.1.0", now));
    one("aisle/s2/gwx/alert", &alert("s2", 2, "cleared"));
    one("aisle/s2/gwx/status", &status("s2", "evil", now + 5));
    wait_until(Duration::from_secs(20), "both stores' messages", || {
        s.pg.count("SELECT count(*) FROM events") == 2
            && s.pg.count("SELECT count(*) FROM devices") == 2
    });
    assert_eq!(
        s.pg.query("SELECT site, cleared_ts_ms IS NULL FROM alerts ORDER BY site"),
        "s1|t\ns2|f",
        "s2's clear left s1's alert open"
    );
    assert_eq!(
        s.pg.query("SELECT site, version FROM devices ORDER BY site"),
        "s1|0.1.0\ns2|evil"
    );
    hub.stop();
}

#[test]
fn a_message_the_database_refuses_is_refused_alone_and_ingest_goes_on() {
    let s = setup();
    let (_, mut hub) = start_hub(&s, "hub-poison", None);
    // A constraint the hub's own checks do not know stands in for whatever a future message
    // holds that PostgreSQL will not take.
    s.pg.query(
        "ALTER TABLE events ADD CONSTRAINT test_poison CHECK (camera IS DISTINCT FROM 'poison')",
    );
    let mut good = publisher(&s.broker, &s.pki, "aisle/store-9/gw-1/summary/cam0");
    let mut bad = publisher(&s.broker, &s.pki, "aisle/store-9/gw-1/summary/poison");
    for seq in 0..20 {
        writeln!(
            good.stdin.as_mut().expect("stdin"),
            "{}",
            support::summary(SITE, DEVICE, seq)
        )
        .expect("publish");
        if seq == 10 {
            let poison = support::summary(SITE, DEVICE, 100).replace("\"cam0\"", "\"poison\"");
            writeln!(bad.stdin.as_mut().expect("stdin"), "{poison}").expect("publish");
        }
    }
    for mut child in [good, bad] {
        drop(child.stdin.take());
        assert!(child.wait().expect("mosquitto_pub").success());
    }
    wait_until(Duration::from_secs(30), "the good summaries", || {
        s.pg.count("SELECT count(*) FROM events") == 20
            && hub.lines_with("message refused by the database") == 1
    });
    // Delivered once, refused once: the broker does not bring it back after a restart.
    hub.stop();
    hub.up();
    support::publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-1/summary/cam0",
        &support::summary(SITE, DEVICE, 21),
    );
    wait_until(Duration::from_secs(20), "ingest after the restart", || {
        s.pg.count("SELECT count(*) FROM events") == 21
    });
    assert_eq!(hub.lines_with("message refused by the database"), 1);
    assert_eq!(hub.lines_with("summary/poison"), 1);
    hub.stop();
}
