//! Request hygiene around every route: no repeated identity header, the same-origin rule for
//! state-changing requests and
//! WebSocket upgrades, security headers on every response, and a log line per request (path
//! only: the query may hold the access key).

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// The Content-Security-Policy of every response: no inline script or style anywhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
form-action 'self'";

fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Whether `origin` (`scheme://host[:port]`) names the host the request was sent to.
pub fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    (scheme == "http" || scheme == "https") && authority.eq_ignore_ascii_case(host)
}

/// Headers kiln decides on that must appear at most once: who the user is (Databricks Apps'
/// proxy), which host the page is on, where the request comes from, and the key. With two, a
/// reader taking the first and a proxy appending its own could disagree on who is asking.
pub const SINGLE_VALUED: &[&str] = &[
    "x-forwarded-email",
    "x-forwarded-host",
    "host",
    "origin",
    "sec-fetch-site",
    "authorization",
];

/// Refuses (400, saying which) a request carrying any [`SINGLE_VALUED`] header more than once.
pub async fn single_valued_headers(req: Request, next: Next) -> Response {
    for name in SINGLE_VALUED {
        if req.headers().get_all(*name).iter().nth(1).is_some() {
            tracing::warn!(header = name, path = %req.uri().path(), "refused a request with a repeated identity header");
            return crate::http::error::AppError::bad_request(format!(
                "request refused: the {name} header appears more than once"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

/// Refuses cross-site state changes and WebSocket upgrades (403).
pub async fn same_origin_only(req: Request, next: Next) -> Response {
    let safe =
        matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) && !is_upgrade(&req);
    if !safe {
        let h = req.headers();
        if h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
            return forbidden();
        }
        if let Some(origin) = h.get(header::ORIGIN) {
            // Behind the Databricks Apps proxy the page's host is in X-Forwarded-Host (a browser
            // cannot set that header on a cross-site request without a CORS preflight).
            let host = h
                .get("x-forwarded-host")
                .or_else(|| h.get(header::HOST))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !origin.to_str().is_ok_and(|o| same_origin(o, host)) {
                return forbidden();
            }
        }
    }
    next.run(req).await
}

fn forbidden() -> Response {
    crate::http::error::AppError::new(
        axum::http::StatusCode::FORBIDDEN,
        "cross-origin request refused: only pages served by this kiln may change its state",
    )
    .into_response()
}

/// Adds the security headers, and `Cache-Control: no-store` unless the handler chose a policy.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    // The UI's index.html sets its own: this CSP plus a per-response style nonce (assets.rs).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// One log line per request with method, path, status and latency.
pub async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    tracing::info!(%method, %path, status = resp.status().as_u16(), latency_ms = started.elapsed().as_secs_f64() * 1e3, "request");
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(same_origin("http://127.0.0.1:8000", "127.0.0.1:8000"));
        assert!(same_origin("https://app.example.com", "APP.example.com"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8000"));
        assert!(!same_origin("null", "127.0.0.1:8000"));
        assert!(!same_origin("http://127.0.0.1:8001", "127.0.0.1:8000"));
    }
}
