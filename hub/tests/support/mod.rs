//! The real parts the hub's tests run against: the agent's test broker (mosquitto with mutual
//! TLS, shared with the agent's tests), Debian's PostgreSQL started here, and the hub binary.
#![allow(dead_code)]

#[path = "../../../tests/common/broker.rs"]
pub mod broker;
#[path = "../../../tests/common/browser.rs"]
pub mod browser;
#[path = "../../../tests/common/https.rs"]
pub mod https;
pub mod web;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::{Broker, Pki};
use browser::Browser;
use serde_json::json;

/// The workspace's root (screenshots go under its target/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/setup.sh")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .last()
        .expect("a PostgreSQL version")
        .join("bin")
        .join(name)
}

/// Debian's PostgreSQL on a free loopback port with its data in a temporary directory, started
/// and stopped by `scripts/pg-local.sh` (as the demo's), which runs it as `postgres` under root.
pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
}

fn pg_local(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(root().join("scripts/pg-local.sh"))
        .arg(args[0])
        .arg(dir)
        .args(&args[1..])
        .output()
        .expect("scripts/pg-local.sh")
}

impl Postgres {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Serving TLS with `cert` and `key` only: a connection without TLS is refused.
    pub fn start_tls(cert: &Path, key: &Path) -> Self {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Self::start_with(&[&cert, &key])
    }

    fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let port_text = port.to_string();
        let mut args = vec!["start", port_text.as_str()];
        args.extend_from_slice(extra);
        let out = pg_local(&args, dir.path());
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Postgres { port, dir }
    }

    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=aisle dbname=postgres",
            self.port
        )
    }

    fn try_query(&self, sql: &str) -> Option<String> {
        let out = Command::new(pg_bin("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "aisle",
                "-d",
                "postgres",
                "-Atq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// One query's rows, `|`-separated columns, one line per row.
    pub fn query(&self, sql: &str) -> String {
        self.try_query(sql)
            .unwrap_or_else(|| panic!("query failed: {sql}"))
    }

    pub fn count(&self, sql: &str) -> u64 {
        self.query(sql).parse().expect("a count")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        pg_local(&["stop"], self.dir.path());
    }
}

/// The hub's config for one replica; with `web`, its pages on that loopback port, served with
/// the broker's `localhost` certificate; `extra` (e.g. `[[webhooks]]`) appended as it is.
pub fn hub_toml(
    dir: &Path,
    pki: &Pki,
    broker: &Broker,
    pg: &Postgres,
    client_id: &str,
    web: Option<u16>,
    extra: &str,
) -> PathBuf {
    let path = dir.join(format!("{client_id}.toml"));
    let mut text = format!(
        "[mqtt]\nhost = \"localhost\"\nport = {}\nca_file = {:?}\nclient_cert = {:?}\n\
         client_key = {:?}\nclient_id = {client_id:?}\n\n[database]\nurl = {:?}\n",
        broker.port,
        pki.ca,
        pki.client_cert,
        pki.client_key,
        pg.url()
    );
    if let Some(port) = web {
        text += &format!(
            "\n[web]\nlisten = \"127.0.0.1:{port}\"\ncert_file = {:?}\nkey_file = {:?}\n",
            pki.server_cert, pki.server_key
        );
    }
    text += extra;
    std::fs::write(&path, text).expect("write hub config");
    path
}

/// A replica called `client_id` on the setup's broker and database (with `web`, its pages on that
/// port), started; and its config.
pub fn start_hub(s: &Setup, client_id: &str, web: Option<u16>) -> (PathBuf, Hub) {
    let config = hub_toml(s.dir.path(), &s.pki, &s.broker, &s.pg, client_id, web, "");
    let hub = Hub::start(&config);
    (config, hub)
}

/// `aisle-hub user-add`, the password on standard input.
pub fn add_user(config: &Path, name: &str, password: &str, role: &str, sites: &[&str]) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aisle-hub"));
    c.args(["user-add", "--config"])
        .arg(config)
        .args([name, "--role", role]);
    for s in sites {
        c.args(["--site", s]);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("aisle-hub user-add");
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        format!("{password}\n").as_bytes(),
    )
    .expect("password");
    assert!(child.wait().expect("user-add").success(), "user-add {name}");
}

/// A running `aisle-hub serve`, its stderr kept for the test to read.
pub struct Hub {
    child: Option<Child>,
    pub log: Arc<Mutex<Vec<String>>>,
    config: PathBuf,
}

impl Hub {
    pub fn start(config: &Path) -> Self {
        let mut h = Hub {
            child: None,
            log: Arc::default(),
            config: config.into(),
        };
        h.up();
        h
    }

    /// (Re)starts the replica and waits until it has connected to the broker.
    pub fn up(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aisle-hub"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn aisle-hub");
        let err = child.stderr.take().expect("stderr");
        let log = self.log.clone();
        let connects_before = self.lines_with("connected to the broker");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                log.lock().expect("log").push(line);
            }
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.lines_with("connected to the broker") == connects_before {
            assert!(
                Instant::now() < deadline,
                "aisle-hub did not connect: {:?}",
                self.log.lock().expect("log")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The shared subscriptions go out right after the CONNACK.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// The running replica's process id (0 when stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn lines_with(&self, needle: &str) -> usize {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// `field`'s figure in the line a replica logs when it stops (`events=`, `refused=` …).
    pub fn stopped_total(&self, field: &str) -> u64 {
        let log = self.log.lock().expect("log");
        let line = log
            .iter()
            .find(|l| l.contains("stopped"))
            .expect("a stopped line: the replica ran until it was told to stop");
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{field}=")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{field}=N in {line}"))
    }

    /// SIGTERM, then waits for the replica to finish its batch and exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// SIGKILL: whatever it had received and not yet stored is the broker's to deliver again.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `done` holds, failing with `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `mosquitto_pub` or `mosquitto_sub` for the test broker on `port`, over mutual TLS with the
/// client certificate `tls` = [CA, certificate, key].
pub fn mosquitto(tool: &str, port: u16, tls: &[PathBuf; 3]) -> Command {
    let mut c = Command::new(tool);
    c.args(["-h", "localhost", "-p", &port.to_string()])
        .arg("--cafile")
        .arg(&tls[0])
        .arg("--cert")
        .arg(&tls[1])
        .arg("--key")
        .arg(&tls[2]);
    c
}

/// The client side of the test PKI, as [`mosquitto`] takes it.
pub fn client_tls(pki: &Pki) -> [PathBuf; 3] {
    [
        pki.ca.clone(),
        pki.client_cert.clone(),
        pki.client_key.clone(),
    ]
}

/// `mosquitto_pub -l` over mutual TLS: each line written to its stdin is one QoS 1 message.
pub fn publisher(broker: &Broker, pki: &Pki, topic: &str) -> Child {
    mosquitto("mosquitto_pub", broker.port, &client_tls(pki))
        .args(["-q", "1", "-t", topic, "-l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn mosquitto_pub")
}

pub fn publish_one(broker: &Broker, pki: &Pki, topic: &str, body: &str) {
    let mut p = publisher(broker, pki, topic);
    writeln!(p.stdin.take().expect("stdin"), "{body}").expect("write");
    assert!(p.wait().expect("mosquitto_pub").success());
}

/// A summary event as the agent publishes it (schema 3).
pub fn summary(site: &str, device: &str, seq: u64) -> String {
    format!(
        r#"{{"schema_version":3,"event_id":"{device}-store:{seq}","device_id":"{device}","site":"{site}","seq":{seq},"camera":"cam0","ts_ms":{},"payload":{{"type":"summary","window_start_ms":0,"window_end_ms":1000,"frames":5,"zones":[{{"zone":"floor","kind":"area","occupancy_mean":1.5,"occupancy_max":2,"occupancy_last":1,"congestion":"low"}}],"health":{{"connected":true,"fps_in":5.0,"fps_out":5.0,"dropped":0,"reconnects":0}}}}}}"#,
        1_000 * seq
    )
}

/// The agent's debug binary (`target/debug/aisle`), which `scripts/test.sh` builds with the
/// agent's tests before the hub's.
pub fn aisle() -> Command {
    let bin = root().join("target/debug/aisle");
    assert!(
        bin.is_file(),
        "{} is missing: build the agent first (cargo build --bin aisle; scripts/test.sh does)",
        bin.display()
    );
    let mut c = Command::new(bin);
    c.current_dir(root()).env_remove("AISLE_LOG");
    c
}

pub fn run(c: &mut Command) -> String {
    let o = c.output().expect("run aisle");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The agents, killed when the test ends however it ends.
pub struct Agents(pub Vec<Child>);

impl Drop for Agents {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A broker and a database, fresh for one test.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub pki: Pki,
    pub broker: Broker,
    pub pg: Postgres,
}

/// A broker (mutual TLS) and a database for one test. A replica's share of the traffic queues
/// at the broker while it is away (mosquitto keeps routing to a shared subscriber's session);
/// the default cap of 1000 would drop the rest.
pub fn setup() -> Setup {
    setup_with("max_queued_messages 100000\n")
}

/// With `broker` lines added to mosquitto's configuration.
pub fn setup_with(broker: &str) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::generate(&dir.path().join("pki"));
    let broker = Broker::start_with(dir.path(), &pki, broker);
    let pg = Postgres::start();
    Setup {
        dir,
        pki,
        broker,
        pg,
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// Opens the pages at `/alerts`, which sends the browser to the login form, and logs in.
pub fn log_in(b: &Browser, base: &str, name: &str, password: &str) {
    b.send(
        "POST",
        "/url",
        Some(&json!({"url": format!("{base}/alerts")})),
    );
    b.wait_for(
        "return location.pathname === '/login' && document.querySelector('#name') !== null",
        "the login page",
    );
    b.type_into("#name", name);
    b.type_into("#password", password);
    b.click("#login");
}

/// The page's visible text.
pub fn text(b: &Browser) -> String {
    b.run("return document.body.innerText")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A gateway's retained status as the agent publishes it, online, running `model` `version`.
pub fn status(site: &str, device: &str, model: &str, version: u64) -> String {
    format!(
        r#"{{"state":"online","device_id":"{device}","site":"{site}","version":"0.1.0","model":"{model}","model_version":{version},"ts_ms":{},"cameras":[],"outbox_error":null}}"#,
        now_ms()
    )
}

/// What a simulated gateway does with an offer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// downloading, verified, active, committed.
    Commit,
    /// downloading, verified, active, rolled_back (the health gate saw no people).
    RollBack,
    /// Nothing: the gateway is unplugged.
    Silent,
}

/// One message a simulated gateway got on its `cmd/model` topic.
#[derive(Debug, Clone)]
pub struct Offered {
    pub device: String,
    /// An empty message: the offer withdrawn.
    pub withdrawn: bool,
    pub at: Instant,
}

/// Gateways simulated by one `mosquitto_sub` on every `cmd/model` topic: each answers an offer
/// as its [`Answer`] says, after `delay`, with the `update` events the agent would publish.
pub struct Gateways {
    child: Child,
    pub offers: Arc<Mutex<Vec<Offered>>>,
    /// When each gateway's final step was published.
    pub answered: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Gateways {
    pub fn start(
        broker: &Broker,
        pki: &Pki,
        answers: &[(&str, Answer)],
        version: u64,
        delay: Duration,
    ) -> Self {
        let tls = client_tls(pki);
        let mut child = mosquitto("mosquitto_sub", broker.port, &tls)
            .args(["-q", "1", "-v", "-t", "aisle/+/+/cmd/model"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn mosquitto_sub");
        let out = child.stdout.take().expect("stdout");
        let offers: Arc<Mutex<Vec<Offered>>> = Arc::default();
        let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let answers: Vec<(String, Answer)> =
            answers.iter().map(|(d, a)| (d.to_string(), *a)).collect();
        let port = broker.port;
        let (seen, done) = (offers.clone(), answered.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let (topic, body) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                let parts: Vec<&str> = topic.split('/').collect();
                let (site, device) = (parts[1].to_string(), parts[2].to_string());
                let withdrawn = !body.trim_start().starts_with('{');
                seen.lock().expect("offers").push(Offered {
                    device: device.clone(),
                    withdrawn,
                    at: Instant::now(),
                });
                let answer = answers
                    .iter()
                    .find(|(d, _)| *d == device)
                    .map_or(Answer::Silent, |(_, a)| *a);
                if withdrawn || answer == Answer::Silent {
                    continue;
                }
                let offer: serde_json::Value = serde_json::from_str(body).expect("offer JSON");
                assert!(offer["signature"].is_string(), "{offer}");
                let (tls, done) = (tls.clone(), done.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let last = if answer == Answer::Commit {
                        "committed"
                    } else {
                        "rolled_back"
                    };
                    let mut p = mosquitto("mosquitto_pub", port, &tls)
                        .args([
                            "-q",
                            "1",
                            "-t",
                            &format!("aisle/{site}/{device}/model"),
                            "-l",
                        ])
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .spawn()
                        .expect("spawn mosquitto_pub");
                    let mut stdin = p.stdin.take().expect("stdin");
                    for (i, step) in ["downloading", "verified", "active", last]
                        .iter()
                        .enumerate()
                    {
                        let seq = now_ms() * 10 + i as u64;
                        writeln!(
                            stdin,
                            r#"{{"schema_version":3,"event_id":"{device}-u:{seq}","device_id":"{device}","site":"{site}","seq":{seq},"camera":null,"ts_ms":{},"payload":{{"type":"update","step":"{step}","slot":"detector","model":"nanodet-m-416","version":{version},"reason":null,"detail":null}}}}"#,
                            now_ms()
                        )
                        .expect("write");
                    }
                    drop(stdin);
                    assert!(p.wait().expect("mosquitto_pub").success());
                    done.lock()
                        .expect("answered")
                        .push((device, Instant::now()));
                });
            }
        });
        Gateways {
            child,
            offers,
            answered,
        }
    }

    /// The offers (not withdrawals) each gateway got, in order.
    pub fn offered(&self) -> Vec<String> {
        let offers = self.offers.lock().expect("offers");
        offers
            .iter()
            .filter(|o| !o.withdrawn)
            .map(|o| o.device.clone())
            .collect()
    }
}

impl Drop for Gateways {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
