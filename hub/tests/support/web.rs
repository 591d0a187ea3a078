//! HTTP on loopback for the hub's tests: a webhook receiver that keeps what it was sent, and the
//! pages as a program sees them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every request's answered status and JSON body, in arrival order.
pub type Seen = Arc<Mutex<Vec<Received>>>;

/// One request a [`receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// What it answered.
    pub status: u16,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub text: String,
    /// The body as JSON (`null` when it is not).
    pub json: serde_json::Value,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on loopback that answers 500 to the first `failures` requests, then 200, and
/// keeps every request it was sent.
pub fn receiver(failures: usize) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                }
            }
            let length = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut log = log.lock().expect("log");
            let status = if log.len() < failures { 500 } else { 200 };
            log.push(Received {
                status,
                path,
                headers,
                text: String::from_utf8_lossy(&body).into_owned(),
                json: serde_json::from_slice(&body).unwrap_or_default(),
            });
            let _ = write!(
                reader.get_mut(),
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

/// The pages over HTTPS as a program sees them: no redirects followed, the test CA trusted.
pub struct WebClient {
    pub agent: ureq::Agent,
    pub base: String,
}

impl WebClient {
    pub fn new(ca: &std::path::Path, port: u16) -> Self {
        let tls = aisle_hub::tls::client_config("web", ca, None).expect("the test CA");
        Self {
            agent: ureq::AgentBuilder::new()
                .tls_config(tls)
                .redirects(0)
                .timeout(Duration::from_secs(30))
                .build(),
            base: format!("https://localhost:{port}"),
        }
    }

    /// POSTs the login form with extra headers; returns (status, Location, the response).
    pub fn login(&self, name: &str, password: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = self.agent.post(&format!("{}/login", self.base));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let res = match req.send_form(&[("name", name), ("password", password)]) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("POST /login: {e}"),
        };
        (
            res.status(),
            res.header("location").unwrap_or_default().to_string(),
        )
    }

    /// Logs in and returns the session cookie to send with later requests.
    pub fn session(&self, name: &str, password: &str) -> String {
        let res = self
            .agent
            .post(&format!("{}/login", self.base))
            .send_form(&[("name", name), ("password", password)])
            .expect("POST /login");
        let cookie = res.header("set-cookie").expect("a session cookie");
        cookie.split(';').next().unwrap_or_default().to_string()
    }

    /// A GET with the session cookie: its status and body.
    pub fn get(&self, path: &str, cookie: &str) -> (u16, String) {
        match self
            .agent
            .get(&format!("{}{path}", self.base))
            .set("Cookie", cookie)
            .call()
        {
            Ok(r) | Err(ureq::Error::Status(_, r)) => {
                (r.status(), r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("GET {path}: {e}"),
        }
    }
}
