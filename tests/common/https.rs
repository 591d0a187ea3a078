//! A small HTTPS file server on loopback for the update tests (rustls, the test CA's `localhost`
//! certificate): serves byte ranges, logs every request, and can drop the first response for a
//! file halfway, so the agent has to resume.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::broker::Pki;

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub path: String,
    /// The `Range` header, as sent.
    pub range: Option<String>,
}

#[derive(Default)]
struct Files {
    bytes: HashMap<String, Vec<u8>>,
    /// Paths whose next response is cut after half the body.
    cut_next: Vec<String>,
    log: Vec<Request>,
}

pub struct FileServer {
    pub port: u16,
    files: Arc<Mutex<Files>>,
}

impl FileServer {
    pub fn start(pki: &Pki) -> Self {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<Files>> = Arc::default();
        let shared = files.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming().map_while(Result::ok) {
                let (config, files) = (config.clone(), shared.clone());
                std::thread::spawn(move || serve(tcp, config, &files));
            }
        });
        FileServer { port, files }
    }

    /// Serves `bytes` at `/name`; with `cut`, the first response ends halfway.
    pub fn put(&self, name: &str, bytes: Vec<u8>, cut: bool) -> String {
        let path = format!("/{name}");
        let mut f = self.files.lock().unwrap();
        f.bytes.insert(path.clone(), bytes);
        if cut {
            f.cut_next.push(path);
        }
        format!("https://localhost:{}/{name}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.files.lock().unwrap().log.clone()
    }
}

fn serve(tcp: TcpStream, config: Arc<rustls::ServerConfig>, files: &Mutex<Files>) {
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    {
        let mut reader = BufReader::new(&mut tls);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_string());
        }
    }
    let Some(path) = head
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_string)
    else {
        return;
    };
    let range = head.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.eq_ignore_ascii_case("range")
            .then(|| v.trim().to_string())
    });
    let (body, cut) = {
        let mut f = files.lock().unwrap();
        f.log.push(Request {
            path: path.clone(),
            range: range.clone(),
        });
        let cut = match f.cut_next.iter().position(|p| *p == path) {
            Some(i) => {
                f.cut_next.remove(i);
                true
            }
            None => false,
        };
        (f.bytes.get(&path).cloned(), cut)
    };
    let Some(body) = body else {
        let _ = tls
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let from = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok())
        .filter(|&f| f < body.len());
    let (status, start) = match from {
        Some(f) => ("206 Partial Content", f),
        None => ("200 OK", 0),
    };
    let mut header = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len() - start
    );
    if from.is_some() {
        header.push_str(&format!(
            "Content-Range: bytes {start}-{}/{}\r\n",
            body.len() - 1,
            body.len()
        ));
    }
    header.push_str("\r\n");
    let end = if cut {
        start + (body.len() - start) / 2
    } else {
        body.len()
    };
    let _ = tls.write_all(header.as_bytes());
    let _ = tls.write_all(&body[start..end]);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
