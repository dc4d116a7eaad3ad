//! HTTP helpers shared by the gateway's forwarding and relaying: which request and response
//! headers pass. A leaf: it imports nothing from the gateway.

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
