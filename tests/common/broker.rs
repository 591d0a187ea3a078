//! A real MQTT broker for the tests: Debian's mosquitto on a free loopback port with TLS
//! certificates generated here, an independent subscriber (`mosquitto_sub`), and a TCP relay the
//! test can cut, so the agent reconnects only once the subscriber is back.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::free_port;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// Certificates on disk: a CA, the broker's certificate (for `localhost` only), client
/// certificates, and the bad ones the failure tests need.
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    /// A CA that signed nothing the broker uses.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(
    dir: &Path,
    name: &str,
    sans: &[&str],
    issuer: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) -> (PathBuf, PathBuf) {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    if expired {
        p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        p.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, issuer).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

impl Pki {
    pub fn generate(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let root = ca("aisle test CA");
        let other = ca("some other CA");
        let (server_cert, server_key) = leaf(dir, "server", &["localhost"], &root, false);
        let (client_cert, client_key) = leaf(dir, "client", &[], &root, false);
        let (expired_cert, expired_key) = leaf(dir, "expired", &[], &root, true);
        let write_ca = |name: &str, c: &CertifiedIssuer<'static, KeyPair>| {
            let p = dir.join(name);
            std::fs::write(&p, c.pem()).unwrap();
            p
        };
        Pki {
            ca: write_ca("ca.crt", &root),
            other_ca: write_ca("other-ca.crt", &other),
            server_cert,
            server_key,
            client_cert,
            client_key,
            expired_cert,
            expired_key,
        }
    }
}

/// mosquitto started as root drops to its own user unless told to stay: the test's files are
/// readable by the test's user only.
fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mosquitto_bin() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("mosquitto is not installed: run scripts/setup.sh")
}

/// mosquitto with TLS and required client certificates, no persistence, on 127.0.0.1.
pub struct Broker {
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl Broker {
    pub fn start(dir: &Path, pki: &Pki) -> Self {
        Self::start_with(dir, pki, "")
    }

    /// With `extra` lines appended to the broker's configuration.
    pub fn start_with(dir: &Path, pki: &Pki, extra: &str) -> Self {
        let port = free_port();
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "per_listener_settings false\nuser {}\npersistence false\nlog_dest none\nallow_anonymous true\n\
                 listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 require_certificate true\nuse_identity_as_username true\n{extra}",
                current_user(),
                pki.ca.display(),
                pki.server_cert.display(),
                pki.server_key.display()
            ),
        )
        .unwrap();
        let mut b = Broker {
            port,
            conf,
            child: None,
        };
        b.up();
        b
    }

    /// Starts the broker (again) and waits until its port accepts connections.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye to anyone, no state kept.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One message as the subscriber saw it.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("payload on {} is not JSON: {e}", self.topic))
    }
}

/// `mosquitto_sub` over mutual TLS on `aisle/#`, QoS 1.
pub struct Subscriber {
    child: Child,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    pub seen: Vec<Message>,
    probes: u64,
    port: u16,
    pki_args: Vec<String>,
}

impl Subscriber {
    pub fn start(broker: &Broker, pki: &Pki) -> Self {
        let pki_args: Vec<String> = [
            "--cafile",
            pki.ca.to_str().unwrap(),
            "--cert",
            pki.client_cert.to_str().unwrap(),
            "--key",
            pki.client_key.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        let (tx, rx) = std::sync::mpsc::channel();
        let child = Self::spawn(broker.port, &pki_args, tx.clone());
        let mut s = Subscriber {
            child,
            tx,
            rx,
            seen: Vec::new(),
            probes: 0,
            port: broker.port,
            pki_args,
        };
        s.wait_subscribed(Duration::from_secs(20));
        s
    }

    fn spawn(port: u16, pki_args: &[String], tx: Sender<Message>) -> Child {
        let mut child = Command::new("mosquitto_sub")
            .args(["-h", "localhost", "-p", &port.to_string()])
            .args(pki_args)
            .args(["-q", "1", "-t", "aisle/#", "-t", "probe/#", "-F", "%t %x"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub");
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let Some((topic, hex)) = line.split_once(' ') else {
                    continue;
                };
                let payload = (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
                    .collect();
                let m = Message {
                    topic: topic.to_string(),
                    payload,
                };
                if tx.send(m).is_err() {
                    break;
                }
            }
        });
        child
    }

    /// After a broker restart: a fresh `mosquitto_sub`, subscribed before this returns.
    pub fn resubscribe(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.drain_for(Duration::from_millis(50));
        self.child = Self::spawn(self.port, &self.pki_args, self.tx.clone());
        self.wait_subscribed(Duration::from_secs(20));
    }

    /// Publishes the bytes of `file` on `topic` at QoS 1, retained, as any client allowed on
    /// the broker could.
    pub fn publish_retained(&self, topic: &str, file: &Path) {
        let status = Command::new("mosquitto_pub")
            .args(["-h", "localhost", "-p", &self.port.to_string()])
            .args(&self.pki_args)
            .args(["-q", "1", "-r", "-t", topic, "-f"])
            .arg(file)
            .status()
            .expect("run mosquitto_pub");
        assert!(status.success(), "mosquitto_pub on {topic}");
    }

    /// Publishes probes until one comes back: the subscription is live.
    pub fn wait_subscribed(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            self.probes += 1;
            let topic = format!("probe/{}", self.probes);
            let _ = Command::new("mosquitto_pub")
                .args(["-h", "localhost", "-p", &self.port.to_string()])
                .args(&self.pki_args)
                .args(["-q", "1", "-t", &topic, "-m", "probe"])
                .stderr(Stdio::null())
                .status();
            let until = Instant::now() + Duration::from_millis(500);
            while let Ok(m) = self
                .rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                let done = m.topic == topic;
                self.seen.push(m);
                if done {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "subscriber did not come back");
        }
    }

    /// Collects messages until `done` holds for what was seen, or panics after `within`.
    pub fn until(&mut self, within: Duration, mut done: impl FnMut(&[Message]) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.seen) {
            match self
                .rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(m) => self.seen.push(m),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "gave up after {within:?}; {} messages seen, last: {:?}",
                    self.seen.len(),
                    self.seen.last().map(|m| &m.topic)
                ),
                Err(RecvTimeoutError::Disconnected) => panic!("mosquitto_sub exited"),
            }
        }
    }

    /// Takes whatever arrives in the next `d`.
    pub fn drain_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(m) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(m);
        }
    }

    /// The agent's events (not status, not probes) by sequence number: every copy received.
    pub fn events(&self) -> BTreeMap<u64, Vec<serde_json::Value>> {
        let mut by_seq: BTreeMap<u64, Vec<serde_json::Value>> = BTreeMap::new();
        for m in &self.seen {
            if m.topic.starts_with("aisle/") && !m.topic.ends_with("/status") {
                let v = m.json();
                by_seq
                    .entry(v["seq"].as_u64().unwrap())
                    .or_default()
                    .push(v);
            }
        }
        by_seq
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP relay between the agent and the broker that the test opens and cuts.
pub struct Relay {
    pub port: u16,
    open: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn new(upstream: u16, open: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(open));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (o, l) = (open.clone(), live.clone());
        std::thread::spawn(move || {
            for down in listener.incoming().map_while(Result::ok) {
                if !o.load(Ordering::SeqCst) {
                    let _ = down.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let pipes = [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up.try_clone().unwrap(), down.try_clone().unwrap()),
                ];
                l.lock().unwrap().extend([down, up]);
                for (mut from, mut to) in pipes {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, open, live }
    }

    pub fn open(&self) {
        self.open.store(true, Ordering::SeqCst);
    }

    /// Refuses new connections and breaks the live ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The `[outbox]` and `[mqtt]` sections for an agent talking to `port` on localhost.
pub fn delivery_toml(dir: &Path, pki: &Pki, port: u16) -> String {
    format!(
        "[outbox]\npath = \"{}\"\n[mqtt]\nhost = \"localhost\"\nport = {port}\nca_file = \"{}\"\n\
         client_cert = \"{}\"\nclient_key = \"{}\"\nreconnect_min_s = 0.2\nreconnect_max_s = 1.0\n",
        dir.join("outbox").display(),
        pki.ca.display(),
        pki.client_cert.display(),
        pki.client_key.display()
    )
}
