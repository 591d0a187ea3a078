//! The hub against the real parts: mosquitto over mutual TLS, PostgreSQL, two replicas sharing
//! the fleet's messages, one of them killed mid-stream.

mod support;

use std::io::Write;
use std::process::Child;
use std::time::Duration;

use support::{Hub, hub_toml, publish_one, publisher, setup, summary, wait_until};

#[test]
fn two_replicas_one_killed_mid_stream_store_every_event_exactly_once() {
    let s = setup();
    let mut a = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-a",
        None,
        "",
    ));
    let mut b = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-b",
        None,
        "",
    ));
    const DEVICES: u64 = 4;
    const PER_DEVICE: u64 = 750;
    let mut pubs: Vec<(String, String, Child)> = (0..DEVICES)
        .map(|d| {
            let (site, device) = (format!("store-{}", d % 2), format!("gw-{d}"));
            let topic = format!("aisle/{site}/{device}/summary/cam0");
            let child = publisher(&s.broker, &s.pki, &topic);
            (site, device, child)
        })
        .collect();
    for seq in 0..PER_DEVICE {
        for (site, device, child) in &mut pubs {
            let stdin = child.stdin.as_mut().expect("stdin");
            writeln!(stdin, "{}", summary(site, device, seq)).expect("publish");
            // At least once: every tenth event arrives twice, as after a lost PUBACK.
            if seq % 10 == 0 {
                writeln!(stdin, "{}", summary(site, device, seq)).expect("publish");
            }
        }
        if seq == 300 {
            a.kill();
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    for (_, _, mut child) in pubs {
        drop(child.stdin.take());
        assert!(child.wait().expect("mosquitto_pub").success());
    }
    // The killed replica comes back with its session: what the broker held for it arrives now.
    a.up();
    let want = DEVICES * PER_DEVICE;
    wait_until(Duration::from_secs(60), "every event in the table", || {
        let n = s.pg.count("SELECT count(*) FROM events");
        eprintln!("{n} of {want} events stored");
        n >= want
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(s.pg.count("SELECT count(*) FROM events"), want);
    assert_eq!(
        s.pg.query(
            "SELECT string_agg(device_id || ':' || n || ':' || lo || ':' || hi, ',' ORDER BY device_id) \
             FROM (SELECT device_id, count(*) n, min(seq) lo, max(seq) hi FROM events GROUP BY 1) t"
        ),
        "gw-0:750:0:749,gw-1:750:0:749,gw-2:750:0:749,gw-3:750:0:749"
    );
    // The running ranges both replicas kept agree: each gateway's 750, none missing.
    assert_eq!(
        s.pg.query(
            "SELECT string_agg(device_id || ':' || stored || ':' || (last_seq - first_seq + 1 - stored), \
             ',' ORDER BY device_id) FROM event_sequences"
        ),
        "gw-0:750:0,gw-1:750:0,gw-2:750:0,gw-3:750:0"
    );
    b.stop();
    let by_b = b.stopped_total("events");
    assert!(
        by_b > 0 && by_b < want,
        "the replicas split the work: b stored {by_b} of {want}"
    );
}

#[test]
fn alerts_statuses_and_refusals() {
    let s = setup();
    let hub = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-1",
        None,
        "",
    ));
    let alert = |seq: u64, state: &str| {
        format!(
            r#"{{"schema_version":3,"event_id":"gw-1-store:{seq}","device_id":"gw-1","site":"store-9","seq":{seq},"camera":"till","ts_ms":{},"payload":{{"type":"alert","alert_id":"queue-1","rule":"kiosk-queue","severity":"warning","state":"{state}","zone":"kiosk","metric":"length","value":6.0,"threshold":5.0}}}}"#,
            1_000 * seq
        )
    };
    // The clear overtakes the raise (they may reach different replicas): one alert, both times.
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-1/alert",
        &alert(8, "cleared"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-1/alert",
        &alert(5, "raised"),
    );
    let status = r#"{"state":"online","device_id":"gw-1","site":"store-9","version":"0.1.0","model":"nanodet-m-416","model_version":3,"ts_ms":9000,"cameras":[{"camera":"till","connected":true,"fps_in":5.0,"fps_out":5.0,"dropped":0,"reconnects":0}],"outbox_error":null}"#;
    publish_one(&s.broker, &s.pki, "aisle/store-9/gw-1/status", status);
    let picture = summary("store-9", "gw-1", 1).replace(
        r#""frames":5"#,
        &format!(r#""frames":5,"crop":"{}""#, "/9j/4AAQ".repeat(2000)),
    );
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-9/gw-1/summary/cam0",
        &picture,
    );
    // Someone else's certificate speaking for gw-1 from another store's topic.
    publish_one(
        &s.broker,
        &s.pki,
        "aisle/store-1/gw-1/summary/cam0",
        &summary("store-9", "gw-1", 2),
    );
    wait_until(
        Duration::from_secs(20),
        "alerts, status and refusals",
        || {
            s.pg.count("SELECT count(*) FROM events") == 2
                && s.pg.count("SELECT count(*) FROM devices") == 1
                && hub.lines_with("message refused") == 2
        },
    );
    assert_eq!(
        s.pg.query("SELECT alert_id, rule, zone, value, raised_ts_ms, cleared_ts_ms FROM alerts"),
        "queue-1|kiosk-queue|kiosk|6|5000|8000"
    );
    assert_eq!(
        s.pg.query("SELECT online, model, model_version, cameras->0->>'camera' FROM devices"),
        "t|nanodet-m-416|3|till"
    );
    assert_eq!(hub.lines_with("image-like"), 1);
    assert_eq!(hub.lines_with(r#"the body names "store-9"/"gw-1""#), 1);
    assert_eq!(s.pg.query("SELECT version FROM schema_version"), "8");
    // Alerts 5 and 8 of gw-1's outbox arrived; 6 and 7 did not.
    assert_eq!(
        s.pg.query("SELECT store_id, first_seq, last_seq, stored FROM event_sequences"),
        "gw-1-store|5|8|2"
    );
}

/// A gateway whose outbox was lost (a replaced disk) never sends the clear of an alert it had
/// open: its health report, which lists the alerts it holds open, closes the others.
#[test]
fn a_health_report_closes_the_camera_alerts_the_gateway_no_longer_holds() {
    let s = setup();
    let hub = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-1",
        None,
        "",
    ));
    let alert = |seq: u64, id: &str, camera: &str| {
        format!(
            r#"{{"schema_version":3,"event_id":"gw-1-store:{seq}","device_id":"gw-1","site":"store-9","seq":{seq},"camera":{camera},"ts_ms":{},"payload":{{"type":"alert","alert_id":"{id}","rule":"kiosk-queue","severity":"warning","state":"raised","zone":"kiosk","metric":"length","value":6.0,"threshold":5.0}}}}"#,
            1_000 * seq
        )
    };
    let health = |seq: u64, open: &str| {
        format!(
            r#"{{"schema_version":3,"event_id":"gw-1-store:{seq}","device_id":"gw-1","site":"store-9","seq":{seq},"ts_ms":{},"payload":{{"type":"health","uptime_s":5,"cameras":[],"inference_ms":0.0,"outbox":{{"pending":0,"bytes":0,"oldest_age_s":null,"dropped_summaries":0,"dropped_alerts":0,"lost_unstored":0,"error":null}},"mqtt":{{"connected":true,"reconnects":0,"published":0,"last_error":null}}{open}}}}}"#,
            1_000 * seq
        )
    };
    let topic = "aisle/store-9/gw-1/alert";
    publish_one(&s.broker, &s.pki, topic, &alert(1, "lost", r#""till""#));
    publish_one(&s.broker, &s.pki, topic, &alert(2, "held", r#""till""#));
    publish_one(&s.broker, &s.pki, topic, &alert(3, "reset", "null"));
    publish_one(&s.broker, &s.pki, topic, &alert(9, "later", r#""till""#));
    wait_until(Duration::from_secs(20), "four open alerts", || {
        s.pg.count("SELECT count(*) FROM alerts WHERE cleared_ts_ms IS NULL") == 4
    });
    // An agent that does not report its open alerts closes nothing.
    let health_topic = "aisle/store-9/gw-1/health";
    publish_one(&s.broker, &s.pki, health_topic, &health(4, ""));
    publish_one(
        &s.broker,
        &s.pki,
        health_topic,
        &health(5, r#","open_alerts":["held"]"#),
    );
    wait_until(Duration::from_secs(20), "the unlisted alert closed", || {
        s.pg.count("SELECT count(*) FROM alerts WHERE cleared_ts_ms IS NOT NULL") == 1
    });
    // Raised after the report (`later`), not a camera's (`reset`), or listed (`held`): open.
    assert_eq!(
        s.pg.query("SELECT alert_id, cleared_ts_ms, cleared_by FROM alerts ORDER BY alert_id"),
        "held||\nlater||\nlost|5000|gateway report\nreset||"
    );
    assert_eq!(hub.lines_with("message refused"), 0);
}
