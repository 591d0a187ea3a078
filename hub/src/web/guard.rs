//! What every response and every form post goes through, whatever the page: security headers a
//! browser enforces (the only script is this origin's `/live.js`; nothing inline runs), and a
//! cross-site check on every POST so that another site cannot submit a form in a logged-in
//! user's browser (or log them in as someone else).

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The Content-Security-Policy: nothing but this origin's forms, its one script file
/// (`/live.js`) and requests back to it, and the pages' one inline style sheet (by its hash); no
/// inline script, no frames, no plugins.
static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
    let css = maud::html! { (super::pages::CSS) }.into_string();
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
    let policy = format!(
        "default-src 'none'; style-src 'sha256-{hash}'; script-src 'self'; connect-src 'self'; \
         img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    // Base64 and ASCII only: always a valid header value.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// Refuses a state-changing request that a browser says came from another site, then adds the
/// security headers to whatever the handler answers.
pub async fn guard(req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD && cross_site(req.headers()) {
        tracing::warn!(method = %req.method(), path = %req.uri().path(), "cross-site request refused");
        return (
            StatusCode::FORBIDDEN,
            "This form was sent from another site; open the hub's page and send it from there.",
        )
            .into_response();
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let headers = [
        (header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ];
    for (name, value) in headers {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, POLICY.clone());
    res
}

/// Whether the browser says the request was made by another site: `Sec-Fetch-Site` where it is
/// sent, else an `Origin` that is not this host. Requests without either (not from a browser)
/// cannot carry a victim's cookie across sites and pass.
fn cross_site(h: &HeaderMap) -> bool {
    let text = |name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (text(header::ORIGIN.as_str()), text(header::HOST.as_str())) {
        (Some(origin), Some(host)) => origin != format!("https://{host}"),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_this_site_may_post() {
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!cross_site(&headers(&[
            ("origin", "https://hub.example:8443"),
            ("host", "hub.example:8443")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "hub.example:8443")
        ])));
        assert!(cross_site(&headers(&[
            ("origin", "null"),
            ("host", "hub.example")
        ])));
        assert!(!cross_site(&headers(&[("host", "hub.example")])));
    }

    #[test]
    fn the_policy_allows_the_pages_style_and_only_its_own_script_file() {
        let policy = POLICY.to_str().unwrap_or_default();
        assert!(policy.contains("style-src 'sha256-"));
        assert!(policy.contains("default-src 'none'") && policy.contains("script-src 'self';"));
        assert!(!policy.contains("unsafe"));
    }
}
