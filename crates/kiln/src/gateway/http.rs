//! HTTP helpers shared by the gateway's forwarding, relaying and probing (and `kiln token`):
//! which request and response headers pass, the crypto provider reqwest needs, and the error
//! chain of a client error for messages. A leaf: it imports nothing from the gateway.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Request headers never forwarded: hop-by-hop ones, the local key's carriers, cookies, and
/// `accept-encoding` (answers must arrive uncompressed so usage can be read from them).
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "accept-encoding",
    "x-databricks-ai-gateway-token",
];

/// Installs rustls' ring provider as the process default (once; a provider already installed is
/// just as good). Call before building a `reqwest::Client`: reqwest is built without a provider
/// of its own and panics when there is none.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The error chain of a `reqwest` error, for messages (URLs and causes, never headers).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The request headers that are forwarded (everything but [`DROPPED_REQUEST_HEADERS`]).
pub(crate) fn forward_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if !DROPPED_REQUEST_HEADERS.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Response headers not relayed (hop-by-hop).
pub(crate) const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Copies relayable response headers; `content-length` only when the body passes unchanged.
pub(crate) fn response_headers(from: &HeaderMap, keep_length: bool) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(from.len());
    for (name, value) in from {
        let n = name.as_str();
        if DROPPED_RESPONSE_HEADERS.contains(&n) || (!keep_length && n == "content-length") {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        HeaderName::from_static("x-kiln-gateway"),
        HeaderValue::from_static("1"),
    );
    out
}
