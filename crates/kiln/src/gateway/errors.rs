//! Errors the gateway itself answers, in the shape each protocol's clients parse: Anthropic
//! `{"type":"error","error":{"type","message"}}`, OpenAI `{"error":{"message","type","code"}}`,
//! Gemini `{"error":{"code","message","status"}}`, and for unknown paths Databricks'
//! `{"error_code","message"}`. After the first byte of a stream an error can only travel as an
//! event; [`stream_error_event`] gives each flavour's form.

use super::paths::Flavour;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

/// Anthropic's error `type` for a status.
fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// OpenAI's error `type` and `code` for a status.
fn openai_type(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 | 413 | 422 => ("invalid_request_error", "invalid_request"),
        401 => ("authentication_error", "invalid_api_key"),
        403 => ("permission_error", "permission_denied"),
        404 => ("invalid_request_error", "not_found"),
        429 => ("rate_limit_error", "rate_limit_exceeded"),
        _ => ("server_error", "server_error"),
    }
}

/// Google's canonical status name for an HTTP status.
fn google_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

/// The JSON error body of `flavour` for `status` and `message`.
pub fn error_body(flavour: Flavour, status: StatusCode, message: &str) -> Value {
    match flavour {
        Flavour::Anthropic => json!({
            "type": "error",
            "error": {"type": anthropic_type(status), "message": message},
        }),
        Flavour::Responses | Flavour::Chat => {
            let (kind, code) = openai_type(status);
            json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Flavour::Gemini => json!({
            "error": {"code": status.as_u16(), "message": message, "status": google_status(status)},
        }),
    }
}

/// A complete error response in `flavour`'s shape.
pub fn error_response(flavour: Flavour, status: StatusCode, message: &str) -> Response {
    (status, Json(error_body(flavour, status, message))).into_response()
}

/// Databricks' answer for a path it does not serve (`404 ENDPOINT_NOT_FOUND`).
pub fn not_found(method: &str, path: &str) -> Response {
    let mut shown: String = path.chars().take(200).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    let body = json!({
        "error_code": "ENDPOINT_NOT_FOUND",
        "message": format!("No API found for '{method} {shown}'"),
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// An SSE event that tells a client of `flavour` the stream failed after it had started.
pub fn stream_error_event(flavour: Flavour, message: &str) -> Bytes {
    let status = StatusCode::BAD_GATEWAY;
    let text = match flavour {
        Flavour::Anthropic => format!(
            "event: error\ndata: {}\n\n",
            json!({"type": "error", "error": {"type": "api_error", "message": message}})
        ),
        Flavour::Responses => format!(
            "event: response.failed\ndata: {}\n\n",
            json!({
                "type": "response.failed",
                "response": {
                    "object": "response",
                    "status": "failed",
                    "error": {"code": "server_error", "message": message},
                },
            })
        ),
        Flavour::Chat | Flavour::Gemini => {
            format!("data: {}\n\n", error_body(flavour, status, message))
        }
    };
    Bytes::from(text)
}

/// `HEAD` on an agent's base: 200, empty (Claude Code's preflight needs only an answer).
pub fn base_ok() -> Response {
    let mut r = StatusCode::OK.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_per_flavour() {
        let s = StatusCode::UNAUTHORIZED;
        let a = error_body(Flavour::Anthropic, s, "no key");
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "authentication_error");
        assert_eq!(a["error"]["message"], "no key");
        let o = error_body(Flavour::Chat, s, "no key");
        assert_eq!(o["error"]["message"], "no key");
        assert_eq!(o["error"]["code"], "invalid_api_key");
        let r = error_body(Flavour::Responses, StatusCode::TOO_MANY_REQUESTS, "slow");
        assert_eq!(r["error"]["type"], "rate_limit_error");
        let g = error_body(Flavour::Gemini, StatusCode::PAYLOAD_TOO_LARGE, "big");
        assert_eq!(g["error"]["code"], 413);
        assert_eq!(g["error"]["status"], "INVALID_ARGUMENT");
    }

    #[test]
    fn stream_events_parse_back() {
        for f in Flavour::ALL {
            let ev = String::from_utf8(stream_error_event(f, "cut \"off\"").to_vec()).unwrap();
            assert!(ev.ends_with("\n\n"));
            let data = ev.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let v: Value = serde_json::from_str(data).unwrap();
            assert!(v.to_string().contains("cut \\\"off\\\""), "{f}: {v}");
        }
        let a = String::from_utf8(stream_error_event(Flavour::Anthropic, "x").to_vec()).unwrap();
        assert!(a.starts_with("event: error\n"));
        let r = String::from_utf8(stream_error_event(Flavour::Responses, "x").to_vec()).unwrap();
        assert!(r.starts_with("event: response.failed\n"));
    }

    #[test]
    fn databricks_not_found() {
        let r = not_found("GET", "/hermes/api/tags");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
}
