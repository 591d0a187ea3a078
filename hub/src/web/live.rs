//! Pages that update themselves. A page asks for itself again every 1.5 s (`live.js`, served
//! from this origin so the Content-Security-Policy allows it and nothing inline), with the ETag
//! it was given; an unchanged page answers 304 with no body. Server-sent events would push
//! sooner but hold a connection per open page on a server whose pages share one database
//! connection; a short poll costs one render per open page per poll and needs nothing held.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The script every live page loads.
pub const SCRIPT: &str = include_str!("live.js");

/// Pages larger than this are sent without an ETag (no page is near it).
const MAX_PAGE_BYTES: usize = 4 << 20;

pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// The ETag of a page's bytes.
pub fn etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

/// Gives every HTML page an ETag and answers 304 to a GET that already holds it.
pub async fn conditional(req: Request, next: Next) -> Response {
    let held = (req.method() == Method::GET)
        .then(|| req.headers().get(header::IF_NONE_MATCH).cloned())
        .flatten();
    let res = next.run(req).await;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if res.status() != StatusCode::OK || !html {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_PAGE_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large").into_response();
    };
    let tag = etag(&bytes);
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if held.as_ref() == Some(&value) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.insert(header::ETAG, value);
        return Response::from_parts(parts, Body::empty());
    }
    parts.headers.insert(header::ETAG, value);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_page_has_the_same_tag_and_another_another() {
        let a = super::etag(b"<main>1</main>");
        assert_eq!(a, super::etag(b"<main>1</main>"));
        assert_ne!(a, super::etag(b"<main>2</main>"));
        assert_eq!(a.len(), 26);
    }
}
