//! Alert notifications against a local HTTP receiver: retried with backoff until it answers,
//! each raise and clear delivered once, filtered by site and severity, and dead-lettered when the
//! receiver never answers.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{Hub, free_port, hub_toml, publish_one, setup, wait_until};

/// Every request's answered status and JSON body, in arrival order.
type Seen = Arc<Mutex<Vec<(u16, serde_json::Value)>>>;

/// An HTTP server on loopback that answers 500 to the first `failures` requests, then 200, and
/// keeps every body it was sent.
fn receiver(failures: usize) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut log = log.lock().expect("log");
            let status = if log.len() < failures { 500 } else { 200 };
            log.push((status, serde_json::from_slice(&body).unwrap_or_default()));
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

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
        "\n[[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{port}/hook\"\nsites = [\"store-9\"]\n\
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
        .filter(|(status, _)| *status == 200)
        .map(|(_, b)| {
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
    assert_eq!(seen.iter().filter(|(st, _)| *st == 500).count(), 2);
    assert_eq!(seen[2].1["site"], "store-9");
    let dead =
        s.pg.query("SELECT attempts, last_error FROM notifications WHERE webhook = 'pager'");
    assert!(
        dead.starts_with("2|") && dead.to_lowercase().contains("refused"),
        "{dead}"
    );
}
