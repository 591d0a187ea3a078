//! Alert notifications against a local HTTP receiver: retried with backoff until it answers,
//! each raise and clear delivered once, filtered by site and severity, dead-lettered when the
//! receiver never answers, and in each chat format the shape its service reads.

mod support;

use std::time::Duration;

use support::web::receiver;
use support::{Hub, free_port, hub_toml, publish_one, setup, wait_until};

fn alert(site: &str, seq: u64, id: &str, severity: &str, state: &str) -> String {
    format!(
        r#"{{"schema_version":3,"event_id":"gw:{site}:{seq}","device_id":"gw","site":"{site}","seq":{seq},"camera":"till","ts_ms":{seq}000,"payload":{{"type":"alert","alert_id":"{id}","rule":"queue","severity":"{severity}","state":"{state}","zone":"kiosk","metric":"length","value":6.0,"threshold":5.0}}}}"#
    )
}

#[test]
fn alerts_reach_webhooks_once_after_retries_and_the_unreachable_one_is_dead_lettered() {
    let s = setup();
    let (port, seen) = receiver(2);
    let closed = free_port();
    let webhooks = format!(
        "\n[alerts]\nregroup_s = 0\n\n[[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsites = [\"store-9\"]\n\
         max_attempts = 5\n\n[[webhooks]]\nname = \"pager\"\nurl = \"http://127.0.0.1:{closed}/\"\n\
         min_severity = \"critical\"\nmax_attempts = 2\ntimeout_s = 2\n"
    );
    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-n",
        None,
        &webhooks,
    );
    let _hub = Hub::start(&config);
    let topic = |site: &str| format!("aisle/{site}/gw/alert");
    publish_one(
        &s.broker,
        &s.pki,
        &topic("store-9"),
        &alert("store-9", 1, "a", "warning", "raised"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        &topic("store-9"),
        &alert("store-9", 2, "b", "info", "raised"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        &topic("store-1"),
        &alert("store-1", 3, "c", "critical", "raised"),
    );
    publish_one(
        &s.broker,
        &s.pki,
        &topic("store-9"),
        &alert("store-9", 4, "a", "warning", "cleared"),
    );
    // Delivered twice over MQTT, as after a lost PUBACK: still one notification.
    publish_one(
        &s.broker,
        &s.pki,
        &topic("store-9"),
        &alert("store-9", 4, "a", "warning", "cleared"),
    );
    wait_until(
        Duration::from_secs(60),
        "ops sent twice, pager dead",
        || {
            s.pg.query(
            "SELECT string_agg(webhook || ':' || state, ',' ORDER BY webhook, event_id) FROM notifications",
        ) == "ops:sent,ops:sent,pager:dead"
        },
    );
    let seen = seen.lock().expect("seen");
    let delivered: Vec<(String, String)> = seen
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| {
            let b = &r.json;
            (
                b["alert"]["alert_id"].as_str().unwrap_or("?").to_string(),
                b["alert"]["state"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    let mut sorted = delivered.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            ("a".into(), "cleared".into()),
            ("a".into(), "raised".into())
        ],
        "each raise and clear once, the info alert and store-1 not at all"
    );
    assert_eq!(seen.iter().filter(|r| r.status == 500).count(), 2);
    assert_eq!(seen[2].json["site"], "store-9");
    let dead =
        s.pg.query("SELECT attempts, last_error FROM notifications WHERE webhook = 'pager'");
    assert!(
        dead.starts_with("2|") && dead.to_lowercase().contains("refused"),
        "{dead}"
    );
}

/// One raise and its clear, to one webhook per format on the same receiver (told apart by path).
#[test]
fn each_webhook_format_carries_the_line_its_service_shows() {
    let s = setup();
    let (port, seen) = receiver(0);
    let formats = ["json", "slack", "teams", "google-chat", "ntfy", "text"];
    let mut extra =
        "\n[alerts]\nregroup_s = 0\npage_url = \"https://hub.example.com\"\n".to_string();
    for f in formats {
        extra += &format!(
            "\n[[webhooks]]\nname = \"{f}\"\nurl = \"http://127.0.0.1:{port}/{f}\"\nformat = \"{f}\"\n"
        );
    }
    let _hub = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-f",
        None,
        &extra,
    ));
    let topic = "aisle/store-9/gw/alert";
    publish_one(
        &s.broker,
        &s.pki,
        topic,
        &alert("store-9", 60, "a", "critical", "raised"),
    );
    wait_until(Duration::from_secs(30), "six raises", || {
        seen.lock().expect("seen").len() == 6
    });
    publish_one(
        &s.broker,
        &s.pki,
        topic,
        &alert("store-9", 240, "a", "critical", "cleared"),
    );
    wait_until(Duration::from_secs(30), "six clears", || {
        seen.lock().expect("seen").len() == 12
    });
    let seen = seen.lock().expect("seen");
    let at = |path: &str, n: usize| {
        seen.iter()
            .filter(|r| r.path == path)
            .nth(n)
            .unwrap_or_else(|| panic!("{path} #{n}"))
            .clone()
    };
    let line = "CRITICAL store-9: queue · kiosk (till), length 6 (limit 5), since 00:01 UTC — https://hub.example.com/alerts?site=store-9";
    let ended = "ENDED store-9: queue · kiosk (till): ended after 3 min, at 00:04 UTC — https://hub.example.com/alerts?site=store-9";
    for (n, want) in [(0, line), (1, ended)] {
        assert_eq!(at("/json", n).json["alert"]["alert_id"], "a");
        assert_eq!(
            at("/json", n).header("content-type"),
            Some("application/json")
        );
        assert_eq!(at("/slack", n).json["text"], want);
        assert_eq!(at("/google-chat", n).json["text"], want);
        let card = at("/teams", n).json;
        assert_eq!(card["type"], "message");
        let content = &card["attachments"][0]["content"];
        assert_eq!(content["type"], "AdaptiveCard");
        assert_eq!(content["body"][0]["text"], want);
        assert_eq!(at("/text", n).text, want);
        assert!(
            at("/text", n)
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/plain"))
        );
    }
    let ntfy = at("/ntfy", 0);
    assert_eq!(
        ntfy.text,
        "kiosk (till), length 6 (limit 5), since 00:01 UTC"
    );
    assert_eq!(ntfy.header("title"), Some("CRITICAL store-9: queue"));
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert_eq!(
        ntfy.header("click"),
        Some("https://hub.example.com/alerts?site=store-9")
    );
    assert_eq!(at("/ntfy", 1).header("title"), Some("ENDED store-9: queue"));
}

/// An alert that flaps (on 2 s, off 10 s, on 3 s) within the regroup window: one row, reopened
/// once, and one raise and one clear notification, the clear saying how long the whole episode
/// lasted.
#[test]
fn a_flapping_alert_is_one_row_and_two_notifications() {
    let s = setup();
    let (port, seen) = receiver(0);
    let _hub = Hub::start(&hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-flap",
        None,
        &format!(
            "\n[alerts]\nregroup_s = 12\n\n[[webhooks]]\nname = \"ops\"\n\
             url = \"http://127.0.0.1:{port}/\"\nformat = \"text\"\n"
        ),
    ));
    let topic = "aisle/store-9/gw/alert";
    for (seq, id, state) in [
        (10, "a1", "raised"),
        (12, "a1", "cleared"),
        (22, "a2", "raised"),
        (25, "a2", "cleared"),
    ] {
        publish_one(
            &s.broker,
            &s.pki,
            topic,
            &alert("store-9", seq, id, "warning", state),
        );
    }
    wait_until(
        Duration::from_secs(40),
        "the raise and the final clear sent",
        || {
            s.pg.count("SELECT count(*) FROM notifications WHERE state = 'sent'") == 2
        },
    );
    assert_eq!(
        s.pg.query("SELECT alert_id, raised_ts_ms, cleared_ts_ms, flaps FROM alerts"),
        "a1|10000|25000|1"
    );
    let texts: Vec<String> = seen
        .lock()
        .expect("seen")
        .iter()
        .map(|r| r.text.clone())
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].starts_with("WARNING store-9: queue"), "{texts:?}");
    assert!(texts[1].contains("ended after 15 s"), "{texts:?}");
}
