//! Alerts across agent restarts, with the real agent (`target/debug/aisle`), broker and hub: an
//! alert open when the agent is SIGKILLed is taken back by the restarted agent under the same id
//! while its condition holds (one row, not two), and cleared by it once the scene no longer
//! shows the condition, within one summary interval of the agent being back. A gateway that
//! goes silent is the hub's `gateway_offline` alert, raised and cleared with its webhooks.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use support::broker::delivery_toml;
use support::web::receiver;
use support::{Hub, aisle, hub_toml, now_ms, root, setup, wait_until};

const SUMMARY_S: u64 = 5;

/// The gateway's config on `uri`: one camera whose whole picture is the zone, and a rule that
/// fires while anyone is on it (once per run: the demo's floor is empty for moments).
fn config(home: &Path, name: &str, port: u16, pki: &support::broker::Pki, uri: &str) -> PathBuf {
    let text = format!(
        "[agent]\ndevice_id = \"gw-r\"\nsite = \"store-r\"\n[runtime]\nthreads = 1\n\
         [pipeline]\nhealth_interval_s = 1.0\n[analytics]\nsummary_interval_s = {SUMMARY_S}.0\n\
         [[cameras]]\nid = \"door\"\nuri = \"{uri}\"\n\
         [[cameras.zones]]\nname = \"floor\"\nkind = \"area\"\n\
         polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n{}\
         [[rules]]\nname = \"people-on-floor\"\nzone = \"floor\"\nwhen = \"area.occupancy >= 1 for 2s\"\n\
         cooldown_s = 600.0\n",
        delivery_toml(home, pki, port),
    );
    let path = home.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("agent config");
    path
}

/// The agent, SIGKILLed when dropped.
struct Agent(Child);

impl Agent {
    fn start(config: &Path, log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("agent log");
        Self(
            aisle()
                .args(["run", "--config"])
                .arg(config)
                .env("AISLE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn aisle run"),
        )
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first health event the hub stored from a run started at `since_ms`, and whether it lists
/// `alert` as open.
fn first_health(pg: &support::Postgres, since_ms: u64, alert: &str) -> Option<(u64, bool)> {
    let row = pg.query(&format!(
        "SELECT ts_ms, coalesce(payload->'open_alerts' ? '{alert}', false) FROM events \
         WHERE kind = 'health' AND ts_ms >= {since_ms} ORDER BY ts_ms LIMIT 1"
    ));
    let (ts, listed) = row.split_once('|')?;
    Some((ts.parse().ok()?, listed == "t"))
}

#[test]
fn an_alert_open_when_the_agent_is_killed_is_taken_back_then_cleared_by_the_scene() {
    let s = setup();
    let dir = s.dir.path();
    let _hub = Hub::start(&hub_toml(dir, &s.pki, &s.broker, &s.pg, "hub-r", None, ""));
    let home = dir.join("gw-r");
    std::fs::create_dir_all(&home).expect("agent dir");
    let busy = config(
        &home,
        "busy",
        s.broker.port,
        &s.pki,
        &format!(
            "pipeline:filesrc location={} ! decodebin ! videorate ! \
             video/x-raw,framerate=5/1 ! identity sync=true",
            root().join(".deps/data/vtest.avi").display()
        ),
    );
    let empty = config(
        &home,
        "empty",
        s.broker.port,
        &s.pki,
        "test://black?width=768&height=576&fps=5",
    );
    let rows = "SELECT count(*) FROM alerts WHERE rule = 'people-on-floor'";
    let open =
        "SELECT alert_id FROM alerts WHERE rule = 'people-on-floor' AND cleared_ts_ms IS NULL";

    let agent = Agent::start(&busy, &home.join("run-1.log"));
    wait_until(Duration::from_secs(90), "the alert raised", || {
        s.pg.count(rows) == 1 && !s.pg.query(open).is_empty()
    });
    let id = s.pg.query(open);
    drop(agent);

    // The scene still busy: the restarted agent holds the alert under its id.
    let restarted = now_ms();
    let agent = Agent::start(&busy, &home.join("run-2.log"));
    wait_until(
        Duration::from_secs(60),
        "six health events after the restart",
        || {
            s.pg.count(&format!(
                "SELECT count(*) FROM events WHERE kind = 'health' AND ts_ms >= {restarted}"
            )) >= 6
        },
    );
    assert_eq!(first_health(&s.pg, restarted, &id).map(|h| h.1), Some(true));
    assert_eq!(s.pg.count(rows), 1, "the restart raised the alert again");
    assert_eq!(
        s.pg.query(open),
        id,
        "the alert stays open while people are there"
    );
    drop(agent);

    // The scene empty: cleared under the same id, within a summary interval of the agent's
    // first health event.
    let restarted = now_ms();
    let _agent = Agent::start(&empty, &home.join("run-3.log"));
    wait_until(Duration::from_secs(60), "the alert cleared", || {
        s.pg.query(open).is_empty()
    });
    let (back, _) = first_health(&s.pg, restarted, &id).expect("a health event after the restart");
    let cleared: u64 =
        s.pg.query(&format!(
            "SELECT cleared_ts_ms FROM alerts WHERE alert_id = '{id}' AND cleared_by IS NULL"
        ))
        .parse()
        .expect("cleared by the agent");
    eprintln!(
        "cleared {} ms after the agent's first health event",
        cleared as i64 - back as i64
    );
    assert!(
        cleared <= back + SUMMARY_S * 1000,
        "cleared at {cleared}, the agent back at {back}"
    );
    assert_eq!(s.pg.count(rows), 1);
}

#[test]
fn a_gateway_that_goes_silent_is_an_alert_until_it_is_back() {
    let s = setup();
    let dir = s.dir.path();
    let (hook, seen) = receiver(0);
    let _hub = Hub::start(&hub_toml(
        dir,
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-s",
        None,
        &format!(
            "\n[alerts]\ngateway_offline_after_s = 10\ncheck_every_s = 1\n\
             [[webhooks]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{hook}/\"\n"
        ),
    ));
    let home = dir.join("gw-r");
    std::fs::create_dir_all(&home).expect("agent dir");
    let empty = config(
        &home,
        "empty",
        s.broker.port,
        &s.pki,
        "test://black?width=320&height=240&fps=5",
    );
    let offline = "SELECT count(*) FROM alerts WHERE rule = 'gateway_offline'";
    let agent = Agent::start(&empty, &home.join("run-1.log"));
    wait_until(Duration::from_secs(60), "the gateway known", || {
        s.pg.count("SELECT count(*) FROM devices WHERE online AND seen_at IS NOT NULL") == 1
    });
    // Up for longer than the threshold: nothing raised while it talks.
    std::thread::sleep(Duration::from_secs(12));
    assert_eq!(s.pg.count(offline), 0);
    let killed = now_ms();
    drop(agent);
    wait_until(Duration::from_secs(40), "gateway_offline raised", || {
        s.pg.count(offline) == 1
    });
    let raised: u64 =
        s.pg.query("SELECT raised_ts_ms FROM alerts WHERE rule = 'gateway_offline'")
            .parse()
            .expect("raised_ts_ms");
    eprintln!(
        "gateway_offline raised {} ms after the kill",
        raised - killed
    );
    let _agent = Agent::start(&empty, &home.join("run-2.log"));
    wait_until(Duration::from_secs(60), "gateway_offline cleared", || {
        s.pg.count(
            "SELECT count(*) FROM alerts WHERE rule = 'gateway_offline' \
             AND cleared_ts_ms IS NOT NULL AND cleared_by = 'hub'",
        ) == 1
    });
    wait_until(Duration::from_secs(20), "both notifications", || {
        seen.lock().expect("seen").len() == 2
    });
    let bodies: Vec<(String, String)> = seen
        .lock()
        .expect("seen")
        .iter()
        .map(|r| {
            let b = &r.json;
            (
                b["alert"]["rule"].as_str().unwrap_or_default().to_string(),
                b["alert"]["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        [
            ("gateway_offline".to_string(), "raised".to_string()),
            ("gateway_offline".to_string(), "cleared".to_string())
        ]
    );
    assert_eq!(s.pg.count(offline), 1, "raised once");
}
