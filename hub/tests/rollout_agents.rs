//! The fleet hub in headless Chromium, with real agents: two `aisle run` gateways replay the
//! demo video against the test broker; a fleet admin sees their alerts arrive and acknowledges
//! one, then starts a rollout of a signed model that detects nobody from the rollouts page; the first wave's gateway installs it, its health gate
//! rolls it back, and the page shows the rollout halted before the second gateway is offered it.
//!
//! It runs the agent's debug binary (`target/debug/aisle`), which `scripts/test.sh` builds with
//! the agent's tests before the hub's.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::broker::delivery_toml;
use support::browser::Browser;
use support::https::FileServer;
use support::{
    Agents, Hub, add_user, aisle, free_port, hub_toml, log_in, root, run, setup, text, wait_until,
};

const SITE: &str = "store-1";

/// A gateway on the demo video at 5 fps in real time, taking updates signed by `key_line`.
fn agent_config(
    dir: &Path,
    device: &str,
    port: u16,
    pki: &support::broker::Pki,
    key_line: &str,
) -> PathBuf {
    let home = dir.join(device);
    std::fs::create_dir_all(&home).expect("agent dir");
    let text = format!(
        "[agent]\ndevice_id = \"{device}\"\nsite = \"{SITE}\"\n[runtime]\nthreads = 1\n\
         [pipeline]\nhealth_interval_s = 1.0\n[analytics]\nsummary_interval_s = 1.0\n\
         [[cameras]]\nid = \"door\"\nuri = \"pipeline:filesrc location={} ! decodebin ! \
         videorate ! video/x-raw,framerate=5/1 ! identity sync=true\"\n\
         [[cameras.zones]]\nname = \"floor\"\nkind = \"area\"\n\
         polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n\
         {}[ota]\ntrusted_keys = [\"{key_line}\"]\nstate_dir = \"{}\"\nca_file = \"{}\"\ntrial_frames = 15\n\
         [[rules]]\nname = \"people-on-floor\"\nzone = \"floor\"\nwhen = \"area.occupancy >= 1 for 2s\"\n\
         severity = \"warning\"\n",
        root().join(".deps/data/vtest.avi").display(),
        delivery_toml(&home, pki, port),
        home.join("models").display(),
        pki.ca.display(),
    );
    let path = home.join("gateway.toml");
    std::fs::write(&path, text).expect("agent config");
    path
}

#[test]
fn an_admin_acknowledges_an_agents_alert_then_watches_a_rollout_halt_on_a_bad_model() {
    let s = setup();
    let dir = s.dir.path();
    let files = FileServer::start(&s.pki);
    let key_line = run(aisle()
        .args(["model", "keygen", "--out"])
        .arg(dir.join("keys")))
    .trim()
    .to_string();

    // Signed and well formed, but its decoder keeps only boxes scored above 0.999: it passes the
    // canary and detects nobody in the store, which the health gate catches.
    let manifest_dir = root().join("models/nanodet-m-416");
    let blind = dir.join("blind");
    std::fs::create_dir_all(&blind).expect("blind dir");
    let onnx = std::fs::read(manifest_dir.join("nanodet-m-416.onnx")).expect("default model");
    std::fs::write(blind.join("nanodet-m-416.onnx"), &onnx).expect("model copy");
    let manifest = std::fs::read_to_string(manifest_dir.join("manifest.toml")).expect("manifest");
    std::fs::write(
        blind.join("manifest.toml"),
        manifest.replace("score_threshold = 0.35", "score_threshold = 0.999"),
    )
    .expect("blind manifest");
    let url = files.put("blind-v2.onnx", onnx, false);
    let bundles = dir.join("bundles");
    run(aisle()
        .args(["model", "pack", "--onnx"])
        .arg(blind.join("nanodet-m-416.onnx"))
        .arg("--manifest")
        .arg(blind.join("manifest.toml"))
        .args(["--version", "2", "--url", &url, "--key"])
        .arg(dir.join("keys/aisle-model.key"))
        .arg("--out")
        .arg(bundles.join("blind-v2")));

    let web = free_port();
    let config = hub_toml(
        dir,
        &s.pki,
        &s.broker,
        &s.pg,
        "hub-ro",
        Some(web),
        &format!("\n[rollouts]\ncheck_every_s = 1\nbundles_dir = {bundles:?}\n"),
    );
    let _hub = Hub::start(&config);
    add_user(&config, "admin", "waves-of-care", "fleet-admin", &[]);
    let _agents = Agents(
        ["gw-a", "gw-b"]
            .iter()
            .map(|d| {
                aisle()
                    .args(["run", "--config"])
                    .arg(agent_config(dir, d, s.broker.port, &s.pki, &key_line))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("spawn aisle run")
            })
            .collect(),
    );
    // Both gateways known to the hub, and a baseline of people counted on the current model.
    wait_until(Duration::from_secs(90), "both agents summarising", || {
        s.pg.count(
            "SELECT count(*) FROM (SELECT device_id FROM events WHERE kind = 'summary' \
             GROUP BY device_id HAVING count(*) >= 3) g",
        ) == 2
            && s.pg.count("SELECT count(*) FROM devices WHERE online") == 2
    });

    let base = format!("https://localhost:{web}");
    let b = Browser::start();
    log_in(&b, &base, "admin", "waves-of-care");
    b.wait_for("return location.pathname === '/alerts'", "logged in");
    // The agents' alerts arrive on the store page, and the admin acknowledges one.
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/alerts?site={SITE}")})),
    );
    b.wait_for(
        "if (!document.querySelector('tr.alert')) { location.reload(); return false; } return true;",
        "an agent's alert on the page",
    );
    assert!(text(&b).contains("people-on-floor · door"), "{}", text(&b));
    b.click("tr.alert button.ack");
    b.wait_for(
        "return document.querySelector('tr.alert .acked') !== null",
        "the acknowledgement",
    );
    assert!(text(&b).contains("acknowledged by admin"), "{}", text(&b));
    assert_eq!(
        s.pg.count(
            "SELECT count(*) FROM alerts WHERE acked_by = 'admin' AND rule = 'people-on-floor'"
        ),
        1
    );
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/rollouts")})),
    );
    b.wait_for(
        "return document.querySelector('#start-rollout') !== null",
        "the start form",
    );
    assert!(text(&b).contains("No rollouts yet."), "{}", text(&b));
    b.type_into("#waves", "1,100%");
    b.type_into("#halt-above", "0");
    b.click("#start-rollout");
    b.wait_for(
        "return document.querySelector('section.rollout[data-state=\"running\"]') !== null",
        "the rollout running",
    );

    // gw-a (wave 1) downloads, verifies, runs it on trial and rolls it back; the page reloads
    // itself while the rollout runs.
    wait_until(Duration::from_secs(150), "the rollout halted", || {
        s.pg.query("SELECT state FROM rollouts") == "halted"
    });
    b.wait_for(
        "return document.querySelector('section.rollout[data-state=\"halted\"]') !== null",
        "the page showing the halt",
    );
    let page = text(&b);
    assert!(
        page.contains("wave 1: 100% of its gateways failed (halts above 0%)"),
        "{page}"
    );
    assert!(page.contains("gw-a: rolled_back"), "{page}");
    assert!(page.contains("started by admin"), "{page}");
    assert_eq!(
        b.run(
            "return document.querySelector('tr.wave[data-wave=\"2\"] td:nth-child(3)').innerText"
        ),
        json!("not yet")
    );
    // The halted badge is drawn in the critical colours.
    let shot = b.screenshot("hub-rollout-halted.png");
    let (x, y) = b.centre("section.rollout .state");
    let px = shot.get_pixel(x - 12, y);
    assert!(px[0] > 230 && px[1] < 225, "badge pixel {px:?}");

    // The agent said why, the second gateway was never offered the model, and both still run v1.
    assert_eq!(
        s.pg.query(
            "SELECT payload ->> 'reason' FROM events WHERE kind = 'update' AND device_id = 'gw-a' \
             AND payload ->> 'step' = 'rolled_back'"
        ),
        "detection_collapse"
    );
    assert_eq!(
        s.pg.query("SELECT offered_at IS NULL FROM rollout_targets WHERE device_id = 'gw-b'"),
        "t"
    );
    assert_eq!(
        s.pg.count("SELECT count(*) FROM events WHERE kind = 'update' AND device_id = 'gw-b'"),
        0
    );
    wait_until(Duration::from_secs(20), "gw-a back on v1", || {
        s.pg.query("SELECT string_agg(model_version::text, ',' ORDER BY device_id) FROM devices")
            == "1,1"
    });
}
