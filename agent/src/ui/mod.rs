//! `aisle ui`: a local zone editor. One page (`page.html`, no framework) shows each enabled
//! camera's latest picture with its zones over it; corners and line ends are dragged, zones added
//! and deleted, shelf levels and bays set, and live counts read off a fresh snapshot. Save writes
//! the config in place through [`edit`] (comments kept) after `Config::load` accepted the result,
//! exactly as `aisle check-config` would; a refused config comes back as its `field: reason` list
//! and the file is not touched.
//!
//! It is for an installer at the gateway or behind `ssh -L`: it listens on loopback unless told
//! otherwise, every request needs the token printed at start, and requests naming another host
//! are refused (a web page elsewhere cannot reach it through DNS rebinding). Pictures are served
//! to that browser only; nothing is published.

pub mod edit;

use std::collections::HashMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use thiserror::Error;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::config::{Config, ConfigError};
use crate::detect::Detector;
use crate::snapshot::{self, Snapshot};

/// The largest Save the page can send: zones, not pictures.
const MAX_BODY: u64 = 1 << 20;
const PAGE: &str = include_str!("page.html");

#[derive(Debug, Error)]
pub enum UiError {
    #[error(
        "{0} is not a loopback address: the editor has no TLS, so reach it over `ssh -L` (or pass --allow-remote to serve this network anyway)"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },
}

pub struct Settings {
    pub listen: SocketAddr,
    /// Serve an address other than loopback.
    pub allow_remote: bool,
    /// Frames each snapshot runs before its picture, so tracks and counts are live.
    pub frames: u64,
    /// How long a picture may take: a camera that does not answer must not hang the page.
    pub picture_timeout: Duration,
}

/// A camera's latest look, served until the page asks for a fresh one or the zones change.
struct Shot {
    png: Vec<u8>,
    width: u32,
    height: u32,
    /// Each zone's live figure (`3 people`), as `aisle snapshot` draws it.
    zones: Vec<(String, String)>,
    detections: usize,
}

struct Editor {
    path: PathBuf,
    cfg: Config,
    detector: Detector,
    token: String,
    /// Host headers the page may arrive with.
    hosts: Vec<String>,
    /// With `--allow-remote`, also any address of this machine, as `IP:port`: a browser that
    /// was sent here by a DNS name (a rebinding attack) names that name, never an address.
    port_on_any_address: Option<u16>,
    frames: u64,
    picture_timeout: Duration,
    shots: HashMap<String, Shot>,
    stop: Arc<AtomicBool>,
}

/// Serves the editor for the config at `path` until `stop` is set; `ready` gets the address to
/// open (with the token) once it listens.
pub fn serve(
    path: &Path,
    cfg: Config,
    detector: Detector,
    settings: &Settings,
    stop: &Arc<AtomicBool>,
    ready: impl FnOnce(&str),
) -> Result<(), UiError> {
    if !settings.listen.ip().is_loopback() && !settings.allow_remote {
        return Err(UiError::NotLoopback(settings.listen));
    }
    let server = Server::http(settings.listen).map_err(|e| UiError::Listen {
        addr: settings.listen,
        reason: e.to_string(),
    })?;
    let addr = server.server_addr().to_ip().unwrap_or(settings.listen);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let port = addr.port();
    let mut hosts = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
    hosts.push(addr.to_string());
    // Listening on every address: the way in printed is the loopback one; from elsewhere, the
    // machine's own address.
    let shown = if addr.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    } else {
        addr
    };
    let mut editor = Editor {
        path: path.to_path_buf(),
        cfg,
        detector,
        token,
        hosts,
        port_on_any_address: settings.allow_remote.then_some(port),
        frames: settings.frames,
        picture_timeout: settings.picture_timeout,
        shots: HashMap::new(),
        stop: stop.clone(),
    };
    ready(&format!("http://{shown}/?token={}", editor.token));
    while !stop.load(Ordering::Relaxed) {
        match server.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(request)) => editor.handle(request),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "ui: request not read"),
        }
    }
    Ok(())
}

/// A response header; every name and value here is a constant of this file.
fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("constant headers are valid")
}

/// A stop flag that turns on after `timeout`, or with `command` (the command's own).
fn stop_after(timeout: Duration, command: &Arc<AtomicBool>) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let (set, also) = (flag.clone(), command.clone());
    let deadline = std::time::Instant::now() + timeout;
    let timer = std::thread::Builder::new()
        .name("ui-timeout".into())
        .spawn(move || {
            while std::time::Instant::now() < deadline && !also.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            set.store(true, Ordering::Relaxed);
        });
    match timer {
        Ok(_) => flag,
        // No thread for the timer: the picture runs under the command's own stop only.
        Err(_) => command.clone(),
    }
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn query<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    url.split_once('?')?.1.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then_some(v)
    })
}

/// Points are `f32` in the config: shown as the config writes them (`0.2`, not the `f64`
/// widening `0.20000000298023224`), so an untouched point goes back unchanged.
fn shortest(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Array(items) => items.iter_mut().for_each(shortest),
        serde_json::Value::Number(n) => {
            if let Some(v) = n
                .as_f64()
                .and_then(|f| (f as f32).to_string().parse::<f64>().ok())
            {
                *value = json!(v);
            }
        }
        _ => {}
    }
}

type Reply = Response<std::io::Cursor<Vec<u8>>>;

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header("Referrer-Policy", "no-referrer"))
        .with_header(header(
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
        ))
}

fn json_reply(status: u16, value: &serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string().into_bytes())
}

fn error_reply(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "error": message }))
}

impl Editor {
    fn handle(&mut self, mut request: Request) {
        let response = self.route(&mut request);
        if let Err(e) = request.respond(response) {
            tracing::debug!(error = %e, "ui: the browser went away");
        }
    }

    fn authorised(&self, request: &Request) -> Result<(), Reply> {
        let host = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Host"))
            .map(|h| h.value.as_str().to_string());
        let by_address = |h: &str| {
            h.parse::<std::net::SocketAddr>()
                .is_ok_and(|a| Some(a.port()) == self.port_on_any_address)
        };
        if !host.is_some_and(|h| self.hosts.contains(&h) || by_address(&h)) {
            return Err(error_reply(403, "unexpected Host header"));
        }
        let given = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("X-Aisle-Token"))
            .map(|h| h.value.as_str().to_string())
            .or_else(|| query(request.url(), "token").map(str::to_string));
        match given {
            Some(t) if same(&t, &self.token) => Ok(()),
            _ => Err(error_reply(
                401,
                "this page needs the token `aisle ui` printed when it started",
            )),
        }
    }

    fn route(&mut self, request: &mut Request) -> Reply {
        if let Err(refused) = self.authorised(request) {
            return refused;
        }
        let url = request.url().to_string();
        let path = url.split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (request.method(), parts.as_slice()) {
            (Method::Get, [""]) => reply(200, "text/html; charset=utf-8", PAGE.into()),
            (Method::Get, ["api", "state"]) => json_reply(200, &self.state()),
            (Method::Get, ["api", "cameras", id, "frame.png"]) => {
                let fresh = query(&url, "refresh") == Some("1");
                match self.shot(id, fresh) {
                    Ok(shot) => reply(200, "image/png", shot.png.clone()),
                    Err(e) => error_reply(502, &e),
                }
            }
            (Method::Get, ["api", "cameras", id, "live"]) => match self.shot(id, false) {
                Ok(s) => json_reply(
                    200,
                    &json!({
                        "width": s.width,
                        "height": s.height,
                        "detections": s.detections,
                        "zones": s.zones.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>(),
                    }),
                ),
                Err(e) => error_reply(502, &e),
            },
            (Method::Post, ["api", "save"]) => {
                let mut body = String::new();
                let read = request
                    .as_reader()
                    .take(MAX_BODY + 1)
                    .read_to_string(&mut body);
                match read {
                    Err(e) => error_reply(400, &format!("cannot read the request: {e}")),
                    Ok(n) if n as u64 > MAX_BODY => error_reply(413, "too large for zones"),
                    Ok(_) => self.save(&body),
                }
            }
            _ => error_reply(404, "no such page"),
        }
    }

    /// The enabled cameras and their zones as the config has them now.
    fn state(&self) -> serde_json::Value {
        let cameras: Vec<serde_json::Value> = self
            .cfg
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| {
                let zones: Vec<serde_json::Value> = c
                    .zones
                    .iter()
                    .enumerate()
                    .map(|(i, z)| {
                        let mut v = serde_json::to_value(z).unwrap_or_default();
                        for key in ["polygon", "line", "service_line"] {
                            if let Some(points) = v.get_mut(key) {
                                shortest(points);
                            }
                        }
                        v["origin"] = json!(i);
                        v
                    })
                    .collect();
                json!({ "id": c.id, "zones": zones })
            })
            .collect();
        let version = std::fs::read(&self.path)
            .map(|text| version_of(&text))
            .unwrap_or_default();
        json!({ "config": self.path.display().to_string(), "version": version, "cameras": cameras })
    }

    fn shot(&mut self, camera: &str, fresh: bool) -> Result<&Shot, String> {
        if fresh || !self.shots.contains_key(camera) {
            let request = snapshot::Request {
                camera: Some(camera),
                input: None,
                frames: self.frames,
            };
            let stop = stop_after(self.picture_timeout, &self.stop);
            let taken: Snapshot = snapshot::take(&self.cfg, &request, &mut self.detector, &stop)
                .map_err(|e| e.to_string())?;
            let mut png = Vec::new();
            image::DynamicImage::ImageRgba8(taken.frame.clone())
                .into_rgb8()
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .map_err(|e| e.to_string())?;
            let shot = Shot {
                png,
                width: taken.frame.width(),
                height: taken.frame.height(),
                zones: taken
                    .scene
                    .zones
                    .iter()
                    .map(|z| (z.name.clone(), z.value.clone()))
                    .collect(),
                detections: taken.scene.detections.len(),
            };
            self.shots.insert(camera.to_string(), shot);
        }
        self.shots
            .get(camera)
            .ok_or_else(|| format!("no picture from camera {camera:?}"))
    }

    /// Applies the page's zones to the config text, lets `Config::load` judge the result beside
    /// the real file (relative paths resolve the same), and only then replaces the file.
    fn save(&mut self, body: &str) -> Reply {
        let edit: edit::Edit = match serde_json::from_str(body) {
            Ok(e) => e,
            Err(e) => return error_reply(400, &format!("not a zone edit: {e}")),
        };
        // A symlinked config is edited where it lives and stays a symlink.
        let target = std::fs::canonicalize(&self.path).unwrap_or_else(|_| self.path.clone());
        let text = match std::fs::read_to_string(&target) {
            Ok(t) => t,
            Err(e) => {
                return error_reply(500, &format!("cannot read {}: {e}", target.display()));
            }
        };
        if edit
            .version
            .as_deref()
            .is_some_and(|v| v != version_of(text.as_bytes()))
        {
            return error_reply(
                409,
                &format!(
                    "{} changed since this page loaded it (another page or an editor saved it): reload to see it, then make your change again",
                    self.path.display()
                ),
            );
        }
        // Renaming over a file needs only the folder's permission: a file its owner made
        // read-only is refused here, as an editor would.
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(&target) {
            return error_reply(409, &format!("cannot write {}: {e}", target.display()));
        }
        let updated = match edit::apply(&text, &edit) {
            Ok(t) => t,
            Err(e) => return error_reply(409, &e.to_string()),
        };
        let candidate = target.with_file_name(format!(
            ".{}.ui-{}",
            target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let written = std::fs::write(&candidate, &updated).and_then(|()| {
            let mode = std::fs::metadata(&target)?.permissions();
            std::fs::set_permissions(&candidate, mode)
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&candidate);
            return error_reply(500, &format!("cannot write {}: {e}", candidate.display()));
        }
        match Config::load(&candidate) {
            Ok(cfg) => {
                if let Err(e) = std::fs::rename(&candidate, &target) {
                    let _ = std::fs::remove_file(&candidate);
                    return error_reply(500, &format!("cannot replace {}: {e}", target.display()));
                }
                tracing::info!(config = %self.path.display(), "ui: zones saved");
                self.cfg = cfg;
                self.shots.clear();
                json_reply(200, &json!({ "saved": self.path.display().to_string() }))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&candidate);
                match e {
                    ConfigError::Invalid { problems, .. } => json_reply(
                        422,
                        &json!({
                            "problems": problems.iter().map(|p| json!({"field": p.field, "reason": p.reason})).collect::<Vec<_>>(),
                        }),
                    ),
                    other => error_reply(500, &other.to_string()),
                }
            }
        }
    }
}

/// What a page says it edited: the SHA-256 of the config file's bytes when it loaded them.
fn version_of(text: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn query_values_by_key() {
        assert_eq!(query("/x?token=t1&refresh=1", "token"), Some("t1"));
        assert_eq!(query("/x?token=t1&refresh=1", "refresh"), Some("1"));
        assert_eq!(query("/x?refresh", "refresh"), Some(""));
        assert_eq!(query("/x", "token"), None);
    }
}
