//! Turning a failed HTTP response into an [`Error`]: the body shapes Databricks sends
//! (`{error_code, message, details}` with a string or numeric code, API 1.2 `{error}`, OAuth
//! `{error, error_description}`, SCIM `{detail, status}`, `CODE: message` text, HTML pages,
//! empty bodies), the status / `error_code` mapping of the SDKs, and `Retry-After`.

use crate::error::{ApiError, Error};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// Longest message kept from a body (characters).
const MAX_MESSAGE_CHARS: usize = 500;
/// Longest `Retry-After` honoured (seconds); anything longer is clamped.
const MAX_RETRY_AFTER_SECS: u64 = 600;

/// Builds the typed error for a non-success response.
pub(crate) fn error_from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    request: &str,
) -> Error {
    let mut api = parse_api_error(status, body, request);
    if api.message.is_empty()
        && let Some(phrase) = headers
            .get("x-databricks-reason-phrase")
            .and_then(|v| v.to_str().ok())
    {
        api.message = truncate(phrase.trim());
    }
    if api.message.is_empty() {
        api.message = status.canonical_reason().unwrap_or("error").to_owned();
    }
    classify(api, parse_retry_after(headers))
}

/// Parses a body into an [`ApiError`] (never fails; unknown shapes keep the status and text).
pub(crate) fn parse_api_error(status: StatusCode, body: &[u8], request: &str) -> ApiError {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut api = ApiError {
        status: status.as_u16(),
        error_code: None,
        message: String::new(),
        reason: None,
        request_id: None,
        request: request.to_owned(),
    };
    if text.is_empty() {
        api.error_code = reason_code(status);
    } else if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) {
        parse_json(&map, status, &mut api);
    } else if text.starts_with('<') {
        api.error_code = reason_code(status);
        api.message = html_text(text).map(truncate).unwrap_or_default();
    } else if let Some((code, message)) = split_code_prefix(text) {
        api.error_code = Some(code.to_owned());
        api.message = truncate(message);
    } else {
        api.message = truncate(text);
    }
    api
}

fn parse_json(map: &serde_json::Map<String, Value>, status: StatusCode, api: &mut ApiError) {
    let code = map.get("error_code").or_else(|| map.get("errorCode"));
    api.error_code = match code {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(Value::String(m)) = map.get("message") {
        api.message = truncate(m);
    }
    let is_scim = map.contains_key("detail")
        || map.get("schemas").is_some_and(|s| {
            s.as_array().is_some_and(|a| {
                a.iter().any(|v| {
                    v.as_str()
                        .is_some_and(|v| v.ends_with(":api:messages:2.0:Error"))
                })
            })
        });
    if is_scim && api.error_code.is_none() {
        let scim_status = match map.get("status") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => status.as_u16().to_string(),
        };
        api.error_code = Some(format!("SCIM_{scim_status}"));
        if let Some(Value::String(d)) = map.get("detail") {
            api.message = truncate(d);
        }
    }
    if let Some(Value::String(e)) = map.get("error") {
        // OAuth (`error` + `error_description`) or API 1.2 (`error` is the message).
        let description = map
            .get("error_description")
            .or_else(|| map.get("errorSummary"))
            .and_then(Value::as_str);
        match description {
            Some(d) => {
                api.error_code.get_or_insert_with(|| e.clone());
                if api.message.is_empty() {
                    api.message = truncate(d);
                }
            }
            None if api.message.is_empty() => api.message = truncate(e),
            None => {}
        }
    }
    if let Some(Value::Array(details)) = map.get("details") {
        for d in details {
            let kind = d.get("@type").and_then(Value::as_str).unwrap_or_default();
            if kind.ends_with("google.rpc.ErrorInfo") {
                api.reason = d.get("reason").and_then(Value::as_str).map(str::to_owned);
            } else if kind.ends_with("google.rpc.RequestInfo") {
                api.request_id = d
                    .get("request_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
        }
    }
    if api.error_code.is_none() && api.message.is_empty() {
        api.error_code = reason_code(status);
    }
}

/// Maps status and `error_code` to a variant, the way the SDKs do (429/503 first, because
/// retries depend on them; then the code; then the status).
pub(crate) fn classify(api: ApiError, retry_after: Option<Duration>) -> Error {
    let api = Box::new(api);
    let code = api.error_code.as_deref().unwrap_or_default();
    match api.status {
        429 if code != "QUOTA_EXCEEDED" => {
            return Error::RateLimited {
                retry_after,
                error: api,
            };
        }
        503 => {
            return Error::Unavailable {
                retry_after,
                error: api,
            };
        }
        _ => {}
    }
    match code {
        "RESOURCE_DOES_NOT_EXIST" | "NOT_FOUND" => return Error::NotFound(api),
        "RESOURCE_ALREADY_EXISTS" | "ALREADY_EXISTS" => return Error::AlreadyExists(api),
        "PERMISSION_DENIED" => return Error::PermissionDenied(api),
        "UNAUTHENTICATED" => return Error::Unauthenticated(api),
        "REQUEST_LIMIT_EXCEEDED" | "RESOURCE_EXHAUSTED" | "TOO_MANY_REQUESTS" => {
            return Error::RateLimited {
                retry_after,
                error: api,
            };
        }
        "TEMPORARILY_UNAVAILABLE" | "UNAVAILABLE" | "WORKSPACE_TEMPORARILY_UNAVAILABLE" => {
            return Error::Unavailable {
                retry_after,
                error: api,
            };
        }
        "INVALID_STATE" => return Error::InvalidState(api),
        "RESOURCE_CONFLICT" | "ABORTED" => return Error::ResourceConflict(api),
        // The SDKs' override: clusters/get answers 400 for an unknown id.
        "INVALID_PARAMETER_VALUE" if is_missing_cluster(&api.message) => {
            return Error::NotFound(api);
        }
        "INVALID_PARAMETER_VALUE" | "BAD_REQUEST" | "MALFORMED_REQUEST" => {
            return Error::InvalidParameter(api);
        }
        "QUOTA_EXCEEDED" => return Error::Other(api),
        _ => {}
    }
    match api.status {
        // import-file over a notebook: 400, empty code, message ending in "already exists.".
        400 if api.error_code.is_none() && api.message.trim_end().ends_with("already exists.") => {
            Error::AlreadyExists(api)
        }
        400 => Error::InvalidParameter(api),
        401 => Error::Unauthenticated(api),
        403 => Error::PermissionDenied(api),
        404 => Error::NotFound(api),
        409 => Error::ResourceConflict(api),
        _ => Error::Other(api),
    }
}

fn is_missing_cluster(message: &str) -> bool {
    message.starts_with("Cluster") && message.contains("does not exist")
}

/// The response's `Retry-After` ([`crate::retry_after`]), clamped to [`MAX_RETRY_AFTER_SECS`].
pub(crate) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    crate::retry_after(headers).map(|d| d.min(Duration::from_secs(MAX_RETRY_AFTER_SECS)))
}

fn reason_code(status: StatusCode) -> Option<String> {
    status
        .canonical_reason()
        .map(|r| r.to_ascii_uppercase().replace([' ', '-'], "_"))
}

/// `SOME_CODE: message` (some account APIs answer in plain text).
fn split_code_prefix(text: &str) -> Option<(&str, &str)> {
    let (code, rest) = text.split_once(':')?;
    let valid = code.len() >= 3
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        && code.as_bytes().first().is_some_and(u8::is_ascii_uppercase);
    valid.then(|| (code, rest.trim()))
}

/// The text of `<pre>` or else `<title>` in an HTML error page.
fn html_text(html: &str) -> Option<&str> {
    for tag in ["pre", "title"] {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        if let Some(start) = html.find(&open) {
            let rest = &html[start + open.len()..];
            if let Some(end) = rest.find(&close) {
                return Some(rest[..end].trim());
            }
        }
    }
    None
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[path = "error_body_tests.rs"]
mod tests;
