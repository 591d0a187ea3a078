//! Fetching a verified manifest's artifact: over HTTPS (`ureq` on the agent's `rustls`, with the
//! CA the config names) or from a local file. Downloads go to a `.part` file and resume where a
//! dropped connection left them (`Range`); nothing beyond the manifest's declared size is ever
//! written, so a hostile server cannot fill the disk. The bytes are only trusted after
//! [`super::verify::check_artifact`] has checked their size and hash.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::manifest::UpdateManifest;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A server that sends nothing for this long is treated as a dropped connection.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Error)]
pub enum DownloadError {
    #[error("the manifest has no url and the message carried no artifact")]
    NoUrl,
    #[error("url {0:?}: only https:// and file:// are accepted")]
    Scheme(String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the artifact is larger than the declared {declared} bytes")]
    TooLarge { declared: u64 },
}

impl DownloadError {
    /// Whether trying again may help (a dropped or refused connection), as opposed to an answer
    /// that will not change.
    pub fn transient(&self) -> bool {
        matches!(self, DownloadError::Http { .. })
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.into(),
        source,
    }
}

/// Where a slot's downloads are kept between attempts.
pub fn part_path(dir: &Path, m: &UpdateManifest) -> PathBuf {
    dir.join(format!(
        "{}-{}-{}.part",
        m.slot,
        m.version,
        &m.sha256[..m.sha256.len().min(16)]
    ))
}

/// Brings `part` up to the artifact's declared size, resuming from what it already holds, and
/// returns its bytes. One attempt: the caller retries transient errors.
pub fn fetch(
    m: &UpdateManifest,
    part: &Path,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<Vec<u8>, DownloadError> {
    let url = m.url.as_deref().ok_or(DownloadError::NoUrl)?;
    if let Some(path) = url.strip_prefix("file://") {
        return read_capped(
            &mut File::open(path).map_err(io(Path::new(path)))?,
            m.size,
            path,
        );
    }
    if !url.starts_with("https://") {
        return Err(DownloadError::Scheme(url.into()));
    }
    let have = match std::fs::metadata(part) {
        Ok(meta) if meta.len() <= m.size => meta.len(),
        _ => 0,
    };
    if have < m.size {
        download(url, part, have, m.size, tls)?;
    }
    read_capped(&mut File::open(part).map_err(io(part))?, m.size, url)
}

/// Reads at most `size + 1` bytes: one more than declared is enough to refuse.
fn read_capped(r: &mut impl Read, size: u64, what: &str) -> Result<Vec<u8>, DownloadError> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(io(Path::new(what)))?;
    if bytes.len() as u64 > size {
        return Err(DownloadError::TooLarge { declared: size });
    }
    Ok(bytes)
}

fn download(
    url: &str,
    part: &Path,
    have: u64,
    size: u64,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(), DownloadError> {
    let http = |message: String| DownloadError::Http {
        url: url.into(),
        message,
    };
    let agent = ureq::builder()
        .tls_config(tls.clone())
        .timeout_connect(CONNECT_TIMEOUT)
        .timeout_read(READ_TIMEOUT)
        .redirects(0)
        .build();
    let mut request = agent.get(url);
    if have > 0 {
        request = request.set("Range", &format!("bytes={have}-"));
    }
    let response = request.call().map_err(|e| match e {
        ureq::Error::Status(code, r) => http(format!("HTTP {code} {}", r.status_text())),
        ureq::Error::Transport(t) => http(t.to_string()),
    })?;
    // 206 continues the part file; 200 (a server that ignores ranges) starts it over.
    let from = match response.status() {
        206 if content_range_start(response.header("Content-Range")) == Some(have) => have,
        206 => return Err(http("HTTP 206 for a range that was not asked for".into())),
        200 => 0,
        code => return Err(http(format!("HTTP {code}"))),
    };
    if from == 0 && have > 0 {
        tracing::info!(url, "server ignored the range; downloading from the start");
    } else if from > 0 {
        tracing::info!(url, from, size, "resuming download");
    }
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(from == 0)
        .append(from > 0)
        .open(part)
        .map_err(io(part))?;
    let mut reader = response.into_reader().take(size - from + 1);
    let mut buf = vec![0u8; 64 * 1024];
    let mut written = from;
    loop {
        let n = reader.read(&mut buf).map_err(|e| http(e.to_string()))?;
        if n == 0 {
            break;
        }
        let room = usize::try_from(size - written).unwrap_or(usize::MAX);
        file.write_all(&buf[..n.min(room)]).map_err(io(part))?;
        if n > room {
            return Err(DownloadError::TooLarge { declared: size });
        }
        written += n as u64;
    }
    file.sync_all().map_err(io(part))?;
    if written < size {
        return Err(http(format!(
            "connection ended at {written} of {size} bytes"
        )));
    }
    Ok(())
}

/// The first byte of `bytes FIRST-LAST/TOTAL`.
fn content_range_start(header: Option<&str>) -> Option<u64> {
    header?
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_their_first_byte() {
        assert_eq!(content_range_start(Some("bytes 100-199/200")), Some(100));
        assert_eq!(content_range_start(Some("bytes */200")), None);
        assert_eq!(content_range_start(None), None);
    }

    #[test]
    fn local_files_are_read_up_to_the_declared_size_only() {
        let mut r: &[u8] = &[7u8; 10];
        assert_eq!(read_capped(&mut r, 10, "x").unwrap().len(), 10);
        let mut r: &[u8] = &[7u8; 11];
        assert!(matches!(
            read_capped(&mut r, 10, "x"),
            Err(DownloadError::TooLarge { declared: 10 })
        ));
    }
}
