//! Model updates over the network, end to end with real parts on loopback: mosquitto over mutual
//! TLS, an HTTPS file server, and the agent running on the demo video. An admin publishes a
//! signed version 2 with `aisle model publish`; the agent downloads it (resuming a dropped
//! download), checks it, swaps it in without stopping the camera and commits it after the
//! health gate; a tampered version 3 is rejected while 2 keeps serving. A signed model that
//! detects nobody is rolled back by the health gate. And the agent is killed at every step of an
//! update: after each restart a valid model serves and the model store is consistent.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::broker::{Broker, Message, Pki, Subscriber, delivery_toml};
use common::https::FileServer;
use common::*;

const DEVICE: &str = "gw-1";
const SITE: &str = "s1";

struct Fleet {
    dir: tempfile::TempDir,
    pki: Pki,
    broker: Broker,
    sub: Subscriber,
    files: FileServer,
    key_line: String,
}

impl Fleet {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(&dir.path().join("pki"));
        let broker = Broker::start(dir.path(), &pki);
        let sub = Subscriber::start(&broker, &pki);
        let files = FileServer::start(&pki);
        let key_line = keygen(&dir.path().join("keys"));
        Self {
            dir,
            pki,
            broker,
            sub,
            files,
            key_line,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The agent on the demo video at 5 fps in real time, taking updates.
    fn config(&self) -> PathBuf {
        let text = format!(
            "[agent]\ndevice_id = \"{DEVICE}\"\nsite = \"{SITE}\"\n[runtime]\nthreads = 1\n\
             [pipeline]\nhealth_interval_s = 1.0\n[analytics]\nsummary_interval_s = 1.0\n\
             [[cameras]]\nid = \"door\"\nuri = \"pipeline:filesrc location={} ! decodebin ! \
             videorate ! video/x-raw,framerate=5/1 ! identity sync=true\"\n\
             {}[ota]\ntrusted_keys = [\"{}\"]\nstate_dir = \"{}\"\nca_file = \"{}\"\ntrial_frames = 15\n",
            vtest().display(),
            delivery_toml(self.dir.path(), &self.pki, self.broker.port),
            self.key_line,
            self.path("models").display(),
            self.pki.ca.display(),
        );
        write(self.dir.path(), "gateway.toml", text)
    }

    /// Signs `onnx` (default: the bundled model) with decoder settings from `manifest` as
    /// `version`, to be downloaded from `url`.
    fn pack(&self, version: u64, manifest: &Path, url: &str) -> PathBuf {
        let out = self.path(&format!("bundle-{version}"));
        let _ = std::fs::remove_dir_all(&out);
        let o = aisle()
            .args(["model", "pack", "--onnx"])
            .arg(manifest.with_file_name("nanodet-m-416.onnx"))
            .arg("--manifest")
            .arg(manifest)
            .args(["--version", &version.to_string(), "--url", url, "--key"])
            .arg(self.path("keys/aisle-model.key"))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        out
    }

    /// `version` of the bundled model, served over HTTPS (`cut`: the first response drops).
    fn release(&self, version: u64, manifest: &Path, cut: bool) -> PathBuf {
        let onnx = std::fs::read(manifest.with_file_name("nanodet-m-416.onnx")).unwrap();
        let url = self.files.put(&format!("v{version}.onnx"), onnx, cut);
        self.pack(version, manifest, &url)
    }

    fn publish(&self, bundle: &Path) {
        let out = self.publish_args(&[bundle.to_str().unwrap()]);
        assert!(out.contains("offered on aisle/s1/gw-1/cmd/model"), "{out}");
    }

    /// Runs `aisle model publish ARGS…` against the test broker; returns its stdout.
    fn publish_args(&self, args: &[&str]) -> String {
        let o = aisle()
            .args(["model", "publish"])
            .args(args)
            .args([
                "--broker",
                &format!("localhost:{}", self.broker.port),
                "--ca",
            ])
            .arg(&self.pki.ca)
            .arg("--cert")
            .arg(&self.pki.client_cert)
            .arg("--key")
            .arg(&self.pki.client_key)
            .args(["--target", &format!("{SITE}/{DEVICE}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    }

    /// Waits for the model event with `step` for `version`, and returns it.
    fn wait_step(&mut self, step: &str, version: u64, within: Duration) -> serde_json::Value {
        self.wait_reason(step, version, None, within)
    }

    /// Waits for the model event with `step` for `version` (and `reason`, when given).
    fn wait_reason(
        &mut self,
        step: &str,
        version: u64,
        reason: Option<&str>,
        within: Duration,
    ) -> serde_json::Value {
        let found = |seen: &[Message]| {
            seen.iter()
                .filter(|m| m.topic == "aisle/s1/gw-1/model")
                .map(Message::json)
                .find(|e| {
                    let p = &e["payload"];
                    p["step"] == step
                        && p["version"] == version
                        && reason.is_none_or(|r| p["reason"] == r)
                })
        };
        self.sub.until(within, |seen| found(seen).is_some());
        found(&self.sub.seen).unwrap()
    }

    fn steps(&self, version: u64) -> Vec<String> {
        self.sub
            .seen
            .iter()
            .filter(|m| m.topic == "aisle/s1/gw-1/model")
            .map(Message::json)
            .filter(|e| e["payload"]["version"] == version)
            .map(|e| e["payload"]["step"].as_str().unwrap().to_string())
            .collect()
    }

    fn latest_status(&self) -> serde_json::Value {
        self.sub
            .seen
            .iter()
            .rev()
            .find(|m| m.topic == "aisle/s1/gw-1/status")
            .map(Message::json)
            .expect("a status")
    }

    fn summaries(&self) -> usize {
        self.sub
            .seen
            .iter()
            .filter(|m| m.topic.starts_with("aisle/s1/gw-1/summary/"))
            .count()
    }

    fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.path("models/state.json")).unwrap()).unwrap()
    }
}

fn default_model() -> PathBuf {
    default_manifest()
}

#[test]
fn an_update_is_downloaded_swapped_in_and_committed_and_a_tampered_one_is_rejected() {
    let mut f = Fleet::new();
    let mut agent = Daemon::start(&f.config(), &[]);
    let started = agent
        .wait_for("agent started", Duration::from_secs(60))
        .expect("agent started");
    assert_eq!(started["model_version"], 1);

    let v2 = f.release(2, &default_model(), true);
    let published = std::time::Instant::now();
    f.publish(&v2);
    let committed = f.wait_step("committed", 2, Duration::from_secs(90));
    let took = published.elapsed();
    assert_eq!(committed["payload"]["model"], "nanodet-m-416");
    assert_eq!(
        f.steps(2),
        ["downloading", "verified", "active", "committed"]
    );
    // The canary ran the new model on the camera's own latest frame, not only a synthetic one.
    let canary = agent
        .wait_for("canary passed", Duration::from_secs(5))
        .expect("canary logged");
    assert_eq!(canary["recent_frames"], 1, "{canary}");
    // Figures for docs/ota.md (reported, not asserted): when each step happened on the agent.
    let ts: Vec<u64> = f
        .sub
        .seen
        .iter()
        .filter(|m| m.topic == "aisle/s1/gw-1/model")
        .map(Message::json)
        .filter(|e| e["payload"]["version"] == 2)
        .map(|e| e["ts_ms"].as_u64().unwrap())
        .collect();
    println!(
        "publish to committed {:.1} s; downloading to verified {} ms, to active {} ms, to committed {} ms",
        took.as_secs_f64(),
        ts[1] - ts[0],
        ts[2] - ts[0],
        ts[3] - ts[0]
    );
    // The first response was cut halfway: the agent resumed with a range request.
    let asks: Vec<_> = f
        .files
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v2.onnx")
        .collect();
    assert!(asks.len() >= 2, "{asks:?}");
    assert!(asks[0].range.is_none(), "{asks:?}");
    let resumed = asks[1].range.as_deref().expect("a range request");
    assert!(
        resumed.starts_with("bytes=") && resumed != "bytes=0-",
        "{resumed}"
    );
    f.sub.until(Duration::from_secs(10), |seen| {
        seen.iter()
            .rev()
            .any(|m| m.topic == "aisle/s1/gw-1/status" && m.json()["model_version"] == 2)
    });

    // Version 3 is signed, then its artifact is changed on the server.
    let v3 = f.release(3, &default_model(), false);
    let mut tampered = std::fs::read(default_model().with_file_name("nanodet-m-416.onnx")).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    f.files.put("v3.onnx", tampered, false);
    let before = f.summaries();
    f.publish(&v3);
    let rejected = f.wait_step("rejected", 3, Duration::from_secs(60));
    assert_eq!(rejected["payload"]["reason"], "artifact_hash", "{rejected}");
    assert_eq!(f.steps(3), ["downloading", "rejected"]);
    // Version 2 kept serving frames throughout.
    f.sub.until(Duration::from_secs(20), |seen| {
        seen.iter()
            .filter(|m| m.topic.starts_with("aisle/s1/gw-1/summary/"))
            .count()
            > before + 2
    });
    assert_eq!(f.latest_status()["model_version"], 2);

    // Once the fleet has it, the admin clears the retained offer; the agent ignores the empty
    // message rather than reporting a malformed offer.
    let out = f.publish_args(&["--clear"]);
    assert!(out.contains("cleared aisle/s1/gw-1/cmd/model"), "{out}");
    f.sub.drain_for(Duration::from_secs(2));
    assert!(
        !f.sub
            .seen
            .iter()
            .filter(|m| m.topic == "aisle/s1/gw-1/model")
            .any(|m| m.json()["payload"]["reason"] == "bad_offer"),
        "the cleared offer was reported"
    );

    let (status, rest) = agent.terminate();
    assert!(status.success(), "{status:?}");
    assert!(!rest.iter().any(|e| e["level"] == "ERROR"), "{rest:?}");
    let s = &f.state()["slots"]["person"];
    assert_eq!(
        (s["active"]["version"].as_u64(), s["floor"].as_u64()),
        (Some(2), Some(2))
    );
    assert!(
        s.get("trial").is_none() && s.get("staging").is_none(),
        "{s}"
    );
    assert!(!f.path("models/person/3").exists(), "nothing of v3 kept");
}

#[test]
fn a_model_that_stops_seeing_people_is_rolled_back_and_cannot_be_replayed() {
    let mut f = Fleet::new();
    // Signed and well formed, but its decoder only keeps boxes scored above 0.999: it passes the
    // canary (finite outputs, fast) and detects nobody in the store.
    let blind = tempfile::tempdir().unwrap();
    let blind = model_variant(blind.path(), None, |t| {
        t.replace("score_threshold = 0.35", "score_threshold = 0.999")
    });
    let v2 = f.release(2, &blind, false);
    let mut agent = Daemon::start(&f.config(), &[]);
    agent
        .wait_for("agent started", Duration::from_secs(60))
        .expect("agent started");
    // A baseline of people on the current model first.
    f.sub.until(Duration::from_secs(30), |seen| {
        seen.iter()
            .filter(|m| m.topic.starts_with("aisle/s1/gw-1/summary/"))
            .count()
            >= 3
    });
    f.publish(&v2);
    let rolled = f.wait_step("rolled_back", 2, Duration::from_secs(90));
    assert_eq!(
        rolled["payload"]["reason"], "detection_collapse",
        "{rolled}"
    );
    assert_eq!(
        f.steps(2),
        ["downloading", "verified", "active", "rolled_back"]
    );
    f.sub.until(Duration::from_secs(10), |seen| {
        seen.iter()
            .rev()
            .any(|m| m.topic == "aisle/s1/gw-1/status" && m.json()["model_version"] == 1)
    });
    let s = &f.state()["slots"]["person"];
    assert!(s["active"].is_null(), "back to the configured model: {s}");
    assert_eq!(s["floor"], 2);

    // The same signed offer again (an attacker replaying it) is refused by the floor.
    agent.terminate();
    let mut agent = Daemon::start(&f.config(), &[]);
    agent
        .wait_for("agent started", Duration::from_secs(60))
        .expect("agent restarted");
    // The retained offer comes back on reconnect.
    f.wait_reason("rejected", 2, Some("replay"), Duration::from_secs(30));
    let (status, _) = agent.terminate();
    assert!(status.success());
}

#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs the fault-injection feature (scripts/test.sh turns it on)"
)]
fn a_crash_at_any_step_of_an_update_leaves_a_valid_model_serving() {
    let mut f = Fleet::new();
    let config = f.config();
    for (i, step) in aisle::fault::STEPS.iter().enumerate() {
        let version = i as u64 + 2;
        let bundle = f.release(version, &default_model(), false);
        let mut agent = Daemon::start(&config, &[(aisle::fault::CRASH_ENV, step)]);
        agent
            .wait_for("agent started", Duration::from_secs(60))
            .expect("agent started");
        f.publish(&bundle);
        let killed = agent.wait_for(
            "fault injection: killing the agent",
            Duration::from_secs(90),
        );
        assert!(killed.is_some(), "{step}: no crash");
        let (status, _) = agent.signal(0);
        assert!(!status.success(), "{step}: {status:?}");

        // Restarted as systemd would: the retained offer arrives again.
        let mut agent = Daemon::start(&config, &[]);
        let started = agent
            .wait_for("agent started", Duration::from_secs(60))
            .expect("agent restarted");
        let settled = match *step {
            // Nothing was staged yet: the update simply runs again.
            "downloaded" => f.wait_step("committed", version, Duration::from_secs(90)),
            // Staged or on trial: undone at start, then the offer is a replay.
            _ => f.wait_reason("rejected", version, Some("replay"), Duration::from_secs(60)),
        };
        let s = f.state()["slots"]["person"].clone();
        assert!(
            s.get("trial").is_none() && s.get("staging").is_none(),
            "{step}: {s}"
        );
        assert_eq!(s["floor"], version, "{step}: {s}");
        let serving = started["model_version"].as_u64().unwrap();
        match *step {
            "downloaded" => assert_eq!(s["active"]["version"], version, "{step}: {s}"),
            "activated" | "on_trial" => {
                assert_eq!(settled["payload"]["reason"], "replay", "{step}");
                let steps = f.steps(version);
                assert!(
                    steps.contains(&"rolled_back".to_string()),
                    "{step}: {steps:?}"
                );
                assert!(
                    s["active"]["version"].as_u64() < Some(version),
                    "{step}: {s}"
                );
            }
            _ => {
                let steps = f.steps(version);
                assert!(steps.contains(&"rejected".to_string()), "{step}: {steps:?}");
                assert_eq!(
                    s["active"]["version"].as_u64(),
                    Some(serving).filter(|v| *v > 1),
                    "{step}: {s}"
                );
            }
        }
        // Whatever is active loads and serves: the agent is processing frames.
        let before = f.summaries();
        f.sub.until(Duration::from_secs(20), |seen| {
            seen.iter()
                .filter(|m| m.topic.starts_with("aisle/s1/gw-1/summary/"))
                .count()
                > before
        });
        let (status, _) = agent.terminate();
        assert!(status.success(), "{step}: {status:?}");
    }
}

/// Regression (#28): a retained message on the command topic larger than the agent's MQTT client
/// takes used to end the connection on every reconnect, stopping delivery for good. Now the agent
/// reports it once as a rejected offer, leaves the command topic alone for a while and keeps
/// delivering; a message under another `cmd/` topic is never received at all.
#[test]
fn an_oversized_retained_command_is_reported_once_and_delivery_goes_on() {
    let mut f = Fleet::new();
    let big = write(f.dir.path(), "big.bin", vec![b'x'; 1024 * 1024]);
    f.sub.publish_retained("aisle/s1/gw-1/cmd/model", &big);
    f.sub.publish_retained("aisle/s1/gw-1/cmd/junk", &big);
    let mut agent = Daemon::start(&f.config(), &[]);
    agent
        .wait_for("agent started", Duration::from_secs(60))
        .expect("agent started");
    let too_large = |seen: &[Message]| {
        seen.iter()
            .filter(|m| m.topic == "aisle/s1/gw-1/model")
            .map(Message::json)
            .filter(|e| e["payload"]["reason"] == "offer_too_large")
            .count()
    };
    f.sub
        .until(Duration::from_secs(30), |seen| too_large(seen) >= 1);
    let summaries = f.summaries();
    f.sub.until(Duration::from_secs(30), |seen| {
        seen.iter()
            .filter(|m| m.topic.starts_with("aisle/s1/gw-1/summary/"))
            .count()
            >= summaries + 5
    });
    assert_eq!(too_large(&f.sub.seen), 1, "reported once");
    let health = f
        .sub
        .seen
        .iter()
        .rev()
        .find(|m| m.topic == "aisle/s1/gw-1/health")
        .map(Message::json)
        .expect("a health event");
    let reconnects = health["payload"]["mqtt"]["reconnects"].as_u64();
    assert_eq!(reconnects, Some(1), "one reconnect, not a loop: {health}");
    let (status, _) = agent.terminate();
    assert!(status.success());
}
