//! Staged rollouts against the real hub, broker and database, with gateways simulated on the
//! broker (each answers its offer with the `update` events an agent publishes; the browser test
//! in `rollout_agents.rs` runs real agents). A rollout offers wave after wave only once the
//! previous one has committed, goes on after the hub is killed mid-rollout, and halts when a
//! wave's failures pass the threshold, withdrawing the offers nobody answered.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::{
    Answer, Gateways, Hub, Setup, client_tls, hub_toml, mosquitto, publish_one, setup, status,
    wait_until,
};

const MODEL: &str = "nanodet-m-416";

/// A bundle the gateways would fetch version `version` with; the simulated ones never do, so
/// the signature is a stand-in (the hub does not check it, gateways do).
fn bundle(dir: &Path, version: u64) -> PathBuf {
    let b = dir.join(format!("{MODEL}-v{version}"));
    std::fs::create_dir_all(&b).expect("bundle dir");
    std::fs::write(
        b.join("update.toml"),
        format!(
            "format = 1\nname = \"{MODEL}\"\nslot = \"person\"\nversion = {version}\n\
             url = \"https://files.invalid/v{version}.onnx\"\n[targets]\ndevices = [\"*\"]\nsites = [\"*\"]\n"
        ),
    )
    .expect("manifest");
    std::fs::write(
        b.join("update.toml.minisig"),
        "untrusted comment: test\nRWQ=\n",
    )
    .expect("signature");
    b
}

fn hub_cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
        .arg("rollout")
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .output()
        .expect("aisle-hub rollout")
}

/// A replica whose driver judges the waves every second.
fn hub_judging_every_second(s: &Setup) -> (PathBuf, Hub) {
    let config = hub_toml(
        s.dir.path(),
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-r",
        None,
        "\n[rollouts]\ncheck_every_s = 1\n",
    );
    let hub = Hub::start(&config);
    (config, hub)
}

/// Registers gateways as their retained statuses would, and waits until the hub has them all.
fn register(s: &Setup, gateways: &[(&str, &str, u64)]) {
    for (site, device, version) in gateways {
        publish_one(
            &s.broker,
            &s.pki,
            &format!("aisle/{site}/{device}/status"),
            &status(site, device, MODEL, *version),
        );
    }
    wait_until(Duration::from_secs(20), "the statuses stored", || {
        s.pg.count("SELECT count(*) FROM devices") == gateways.len() as u64
    });
}

#[test]
fn waves_follow_commits_and_a_killed_hub_carries_on() {
    let s = setup();
    let (config, mut hub) = hub_judging_every_second(&s);
    // gw-6 already runs v8: it is left out of the rollout.
    register(
        &s,
        &[
            ("store-1", "gw-1", 7),
            ("store-1", "gw-2", 7),
            ("store-1", "gw-3", 7),
            ("store-2", "gw-4", 7),
            ("store-2", "gw-5", 7),
            ("store-2", "gw-6", 8),
        ],
    );
    let answers: Vec<(&str, Answer)> = ["gw-1", "gw-2", "gw-3", "gw-4", "gw-5", "gw-6"]
        .iter()
        .map(|d| (*d, Answer::Commit))
        .collect();
    let gateways = Gateways::start(&s.broker, &s.pki, &answers, 8, Duration::from_secs(2));
    std::thread::sleep(Duration::from_millis(500));

    let v8 = bundle(s.dir.path(), 8);
    let out = hub_cli(
        &config,
        &[
            "start",
            v8.to_str().expect("path"),
            "--waves",
            "1,40%,100%",
            "--by",
            "tester",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("waves of 1, 1, 3 gateways"), "{said}");
    // One rollout per model at a time.
    let again = hub_cli(&config, &["start", v8.to_str().expect("path")]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already running (#1)"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // Kill the hub once wave 2 is offered; its gateway answers while the hub is down.
    wait_until(Duration::from_secs(30), "wave 2 offered", || {
        gateways.offered().len() == 2
    });
    hub.kill();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        gateways.offered().len(),
        2,
        "nothing offered while the hub is down"
    );
    hub.up();
    wait_until(Duration::from_secs(60), "the rollout done", || {
        s.pg.query("SELECT state FROM rollouts WHERE id = 1") == "done"
    });

    assert_eq!(gateways.offered(), ["gw-1", "gw-2", "gw-3", "gw-4", "gw-5"]);
    // Each wave was offered only after every gateway of the one before had committed.
    let offers = gateways.offers.lock().expect("offers").clone();
    let answered = gateways.answered.lock().expect("answered").clone();
    let answered_at = |d: &str| {
        answered
            .iter()
            .find(|(x, _)| x == d)
            .map(|(_, t)| *t)
            .expect("answered")
    };
    let offered_at = |d: &str| offers.iter().find(|o| o.device == d).expect("offered").at;
    assert!(offered_at("gw-2") > answered_at("gw-1"));
    for later in ["gw-3", "gw-4", "gw-5"] {
        assert!(offered_at(later) > answered_at("gw-2"), "{later}");
    }
    assert_eq!(
        s.pg.query(
            "SELECT string_agg(wave || ':' || device_id || ':' || outcome, ' ' ORDER BY device_id) \
             FROM rollout_targets"
        ),
        "1:gw-1:committed 2:gw-2:committed 3:gw-3:committed 3:gw-4:committed 3:gw-5:committed"
    );
    let list = hub_cli(&config, &["list"]);
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("#1 nanodet-m-416 v8 (nanodet-m-416-v8) done at wave 3 of 3"),
        "{list}"
    );
    // The finished rollout leaves no retained offer for a gateway to read at its next connect.
    wait_until(Duration::from_secs(20), "the offers cleared", || {
        s.pg.query("SELECT offers_cleared FROM rollouts WHERE id = 1") == "t"
    });
    let left = retained(&s, "aisle/+/+/cmd/model");
    assert!(left.is_empty(), "{left}");
}

#[test]
fn a_wave_with_too_many_failures_halts_and_unanswered_offers_are_withdrawn() {
    let s = setup();
    let (config, _hub) = hub_judging_every_second(&s);
    register(
        &s,
        &[
            ("store-1", "gw-1", 7),
            ("store-1", "gw-2", 7),
            ("store-1", "gw-3", 7),
            ("store-2", "gw-4", 7),
            ("store-2", "gw-5", 7),
        ],
    );
    // Wave 2 is gw-2 (rolls back) and gw-3 (unplugged): 50 % failed at once, above 20 %.
    let gateways = Gateways::start(
        &s.broker,
        &s.pki,
        &[
            ("gw-1", Answer::Commit),
            ("gw-2", Answer::RollBack),
            ("gw-3", Answer::Silent),
            ("gw-4", Answer::Commit),
            ("gw-5", Answer::Commit),
        ],
        8,
        Duration::from_millis(500),
    );
    std::thread::sleep(Duration::from_millis(500));
    let v8 = bundle(s.dir.path(), 8);
    let out = hub_cli(
        &config,
        &["start", v8.to_str().expect("path"), "--waves", "1,3,100%"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(Duration::from_secs(30), "the rollout halted", || {
        s.pg.query("SELECT state FROM rollouts") == "halted"
    });
    assert_eq!(
        s.pg.query("SELECT reason FROM rollouts"),
        "wave 2: 50% of its gateways failed (halts above 20%)"
    );
    // gw-3's offer is withdrawn: an empty retained message replaces it.
    wait_until(Duration::from_secs(10), "gw-3's offer withdrawn", || {
        gateways
            .offers
            .lock()
            .expect("offers")
            .iter()
            .any(|o| o.device == "gw-3" && o.withdrawn)
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        gateways.offered(),
        ["gw-1", "gw-2", "gw-3"],
        "wave 3 never offered"
    );
    assert_eq!(
        s.pg.query(
            "SELECT string_agg(device_id || ':' || outcome || ':' || coalesce(step, '-'), ' ' \
             ORDER BY device_id) FROM rollout_targets"
        ),
        "gw-1:committed:committed gw-2:failed:rolled_back gw-3:pending:withdrawn \
         gw-4:pending:- gw-5:pending:-"
    );
    // A gateway connecting now finds no retained offer for gw-3.
    let left = retained(&s, "aisle/store-1/gw-3/cmd/model");
    assert!(left.is_empty(), "{left}");
}

/// The retained offers a gateway subscribing to `topic` now would get.
fn retained(s: &Setup, topic: &str) -> String {
    let out = mosquitto("mosquitto_sub", s.broker.port, &client_tls(&s.pki))
        .args(["--retained-only", "-t", topic, "-W", "2", "-v"])
        .output()
        .expect("mosquitto_sub");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
