//! Forwarding one model call: local key, body limit, filters, the upstream chosen for the
//! flavour, `Authorization: Bearer <current token>` asked from the token source on every
//! attempt, retries of 429 / 503 before the first byte, then the answer relayed chunk by chunk
//! ([`super::relay`]). Errors the gateway answers itself use the flavour's error shape.

use super::errors::{base_ok, error_response, not_found};
use super::filters;
use super::http::forward_headers;
use super::outcome::{Outcome, Tokens};
use super::paths::{Flavour, ModelCall, Route, UpstreamPath, classify};
use super::relay::{Finish, relay_response};
use super::retry::retryable_status;
use super::trace::CallRecord;
use super::trace::turns::TurnHint;
use super::upstream::{Chosen, UpstreamKind};
use super::{Gateway, auth};
use crate::http::client::error_chain;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use kiln_databricks::Secret;
use kiln_databricks::retry_after;
use reqwest::Url;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The fields read from every body: the model and whether a stream is asked for.
#[derive(Deserialize, Default)]
struct Head {
    #[serde(default)]
    model: Option<serde_json::Value>,
}

/// Whether reading a body failed because it passed the limit (`http_body_util::Limited`'s
/// error, somewhere in the chain).
fn over_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The gateway's one handler (the router's fallback): every path goes through here.
pub async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let started = Instant::now();
    let started_wall = std::time::SystemTime::now();
    let (parts, body) = req.into_parts();
    let call = match classify(&parts.method, parts.uri.path()) {
        Route::Model(call) => call,
        Route::Base(_) => return base_ok(),
        Route::Unknown(_) => return not_found(parts.method.as_str(), parts.uri.path()),
        Route::BadModelName(agent) => {
            tracing::debug!(%agent, "model path with an invalid model name refused");
            return error_response(
                Flavour::Gemini,
                StatusCode::BAD_REQUEST,
                "kiln gateway: the model name in the path may only contain ASCII letters, \
                 digits, '.', '-' and '_' (and may not start with '.')",
            );
        }
    };
    let flavour = call.flavour;
    if !gw.key.accepts(&parts.headers, parts.uri.query()) {
        tracing::debug!(agent = %call.agent, "request without the local key refused");
        return error_response(
            flavour,
            StatusCode::UNAUTHORIZED,
            "kiln gateway: missing or wrong local key (see ~/.kiln/gateway.key)",
        );
    }
    let limit = gw.settings.body_limit;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        error_response(
            flavour,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("kiln gateway: request body over the limit of {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let raw = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(e) if over_limit(&e) => return too_large(),
        Err(e) => {
            let text = error_chain(&e);
            return error_response(
                flavour,
                StatusCode::BAD_REQUEST,
                &format!("kiln gateway: could not read the request body: {text}"),
            );
        }
    };
    // Read before the filters, so the hint sees what the agent sent; only when tracing is on.
    let hint = gw
        .tracer
        .enabled()
        .then(|| TurnHint::read(&parts.headers, &raw, gw.tracer.content()));
    let request_id = crate::state::random_hex(8).unwrap_or_default();
    let (body, model, applied) = prepare(&call, raw);
    if gw.settings.log_bodies {
        tracing::debug!(agent = %call.agent, body = %String::from_utf8_lossy(&body), "request body (KILN_GATEWAY_LOG_BODIES)");
    }
    let upstream = gw.upstream();
    let host = upstream.host();
    let chosen = gw
        .resolver
        .choose(call.agent, flavour, &host, &upstream.source)
        .await;
    let query = auth::strip_key_param(parts.uri.query());
    let url = match upstream_url(&chosen.base, &call.upstream, query.as_deref()) {
        Ok(url) => url,
        Err(message) => {
            tracing::warn!(agent = %call.agent, upstream = chosen.kind.name(), error = %message, "no upstream URL for a model call");
            return error_response(flavour, StatusCode::BAD_GATEWAY, &message);
        }
    };
    let headers = forward_headers(&parts.headers);
    let finish = Finish {
        gw: Arc::clone(&gw),
        agent: call.agent,
        flavour,
        model: model.clone(),
        started,
        upstream: chosen.kind,
        filters: applied.join(","),
        request_id: request_id.clone(),
        started_wall,
        hint: hint.clone(),
    };
    let sent = send(&gw, &upstream.source, &parts.method, &url, &headers, &body).await;
    match sent {
        Ok(response) => {
            note_routing_404(&gw, &call, &chosen, response.status());
            relay_response(response, finish)
        }
        Err(failure) => {
            let (status, message) = failure.status_and_message();
            let outcome = Outcome {
                agent: call.agent,
                model,
                status: status.as_u16(),
                error: Some(message.clone()),
                latency: started.elapsed(),
                first_byte: None,
                tokens: Tokens::default(),
            };
            gw.record(&outcome);
            if let Some(hint) = hint {
                gw.tracer.record(CallRecord {
                    agent: outcome.agent,
                    flavour,
                    model: outcome.model.clone(),
                    upstream: chosen.kind.name(),
                    status: outcome.status,
                    error: outcome.error.clone(),
                    start: started_wall,
                    latency: outcome.latency,
                    first_byte: None,
                    tokens: outcome.tokens,
                    request_id,
                    upstream_request_id: None,
                    filters: applied.join(","),
                    hint,
                    output: None,
                });
            }
            tracing::warn!(agent = %call.agent, flavour = flavour.name(), upstream = chosen.kind.name(), status = status.as_u16(), error = %message, "model call failed before the upstream answered");
            error_response(flavour, status, &message)
        }
    }
}

/// The upstream URL of a model call: `base` with the call's path pushed segment by segment
/// (each percent-encoded, so no segment can add a separator or a dot-segment) and the query
/// set as a query. Checked afterwards: the result has `base`'s origin and its path is exactly
/// `base`'s path followed by the model path.
fn upstream_url(base: &str, path: &UpstreamPath, query: Option<&str>) -> Result<Url, String> {
    let bad_base = |why: &str| format!("kiln gateway: the upstream base {base:?} {why}");
    let base_url = Url::parse(base).map_err(|e| bad_base(&format!("is not a URL: {e}")))?;
    let mut url = base_url.clone();
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| bad_base("cannot take a path"))?;
        segments.pop_if_empty();
        segments.extend(path.segments());
    }
    url.set_query(query);
    url.set_fragment(None);
    let expected = format!(
        "{}{}",
        base_url.path().trim_end_matches('/'),
        path.display()
    );
    if url.origin() != base_url.origin() || url.path() != expected {
        return Err(format!(
            "kiln gateway: refusing to send a model call to {} (expected the path {expected})",
            url.path()
        ));
    }
    Ok(url)
}

/// Model name, filters and the body to send.
fn prepare(call: &ModelCall, raw: Bytes) -> (Bytes, String, Vec<&'static str>) {
    let head: Head = serde_json::from_slice(&raw).unwrap_or_default();
    let model = call
        .path_model
        .clone()
        .or_else(|| {
            head.model
                .as_ref()
                .and_then(|m| m.as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    let chosen = filters::request_filters(call.flavour, &model, &raw);
    if chosen.is_empty() {
        return (raw, model, Vec::new());
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return (raw, model, Vec::new());
    };
    let applied = filters::apply(&chosen, &mut value);
    if applied.is_empty() {
        return (raw, model, applied);
    }
    tracing::debug!(agent = %call.agent, filters = ?applied, "compatibility filters applied");
    match serde_json::to_vec(&value) {
        Ok(v) => (Bytes::from(v), model, applied),
        Err(_) => (raw, model, Vec::new()),
    }
}

/// A routing 404 from a probed gateway upstream: probe again next time.
fn note_routing_404(gw: &Gateway, call: &ModelCall, chosen: &Chosen, status: StatusCode) {
    if status == StatusCode::NOT_FOUND
        && matches!(
            chosen.kind,
            UpstreamKind::AiGateway | UpstreamKind::LegacyGatewayHost
        )
    {
        gw.resolver.invalidate(call.flavour);
    }
}

/// Why no upstream answer could be relayed.
#[derive(Debug)]
enum Failure {
    /// The token source failed.
    Credentials(String),
    /// No connection to the upstream.
    Unreachable(String),
    /// No response headers in time.
    Timeout(Duration),
}

impl Failure {
    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            Failure::Credentials(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("kiln gateway: no Databricks credentials available: {m}"),
            ),
            Failure::Unreachable(m) => (
                StatusCode::BAD_GATEWAY,
                format!("kiln gateway: cannot reach the workspace: {m}"),
            ),
            Failure::Timeout(d) => (
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "kiln gateway: the workspace did not answer within {} s",
                    d.as_secs()
                ),
            ),
        }
    }
}

fn bearer(token: &Secret) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
        Failure::Credentials("the token contains characters not allowed in a header".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Sends with a fresh token per attempt, retrying 429 / 503 and failed connections within the
/// bounds, and once with a new token when the upstream refused one the source then replaced.
async fn send(
    gw: &Gateway,
    source: &Arc<dyn kiln_databricks::TokenSource>,
    method: &Method,
    url: &Url,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<reqwest::Response, Failure> {
    let bounds = &gw.settings.retry;
    let mut attempt: u32 = 0;
    let mut waited = Duration::ZERO;
    let mut reauthenticated = false;
    loop {
        attempt += 1;
        let token = source
            .token()
            .await
            .map_err(|e| Failure::Credentials(e.to_string()))?;
        if token.is_empty() {
            return Err(Failure::Credentials(
                "the token source returned an empty token".into(),
            ));
        }
        let request = gw
            .http
            .request(method.clone(), url.clone())
            .headers(headers.clone())
            .header(header::AUTHORIZATION, bearer(&token)?)
            .body(body.clone());
        let timeout = gw.settings.response_timeout;
        let result = match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => return Err(Failure::Timeout(timeout)),
            Ok(r) => r,
        };
        match result {
            Err(e) => {
                let message = error_chain(&e);
                if e.is_connect()
                    && let Some(delay) = bounds.next_delay(attempt, waited, None)
                {
                    tracing::debug!(attempt, delay_ms = delay.as_millis() as u64, error = %message, "upstream connection failed; retrying");
                    tokio::time::sleep(delay).await;
                    waited += delay;
                    continue;
                }
                return Err(Failure::Unreachable(message));
            }
            Ok(response) => {
                let status = response.status().as_u16();
                if retryable_status(status)
                    && let Some(delay) =
                        bounds.next_delay(attempt, waited, retry_after(response.headers()))
                {
                    tracing::info!(
                        attempt,
                        status,
                        delay_ms = delay.as_millis() as u64,
                        "upstream busy before the first byte; retrying"
                    );
                    drop(response);
                    tokio::time::sleep(delay).await;
                    waited += delay;
                    continue;
                }
                if (status == 401 || status == 403) && !reauthenticated && source.rejected(&token) {
                    tracing::info!(
                        status,
                        "upstream refused the token; retrying once with a fresh one"
                    );
                    reauthenticated = true;
                    continue;
                }
                return Ok(response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_keep_to_the_model_path() {
        let gemini = |model: &str| UpstreamPath::Gemini {
            model: model.to_owned(),
            stream: true,
        };
        let u = upstream_url(
            "https://h.example/serving-endpoints/gemini",
            &gemini("m-1"),
            Some("alt=sse"),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://h.example/serving-endpoints/gemini/v1beta/models/m-1:streamGenerateContent?alt=sse"
        );
        let u = upstream_url(
            "https://h.example/ai-gateway/anthropic/",
            &UpstreamPath::Messages,
            None,
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://h.example/ai-gateway/anthropic/v1/messages"
        );
        // Even a name that slipped past validation stays one encoded segment.
        for evil in [r"a\..\..\api", "../../api", "%2e%2e", "a/b", "a?b#c"] {
            let u = upstream_url(
                "https://h.example/serving-endpoints/gemini",
                &gemini(evil),
                None,
            );
            match u {
                Ok(u) => {
                    assert!(
                        u.path()
                            .starts_with("/serving-endpoints/gemini/v1beta/models/"),
                        "{evil}: {u}"
                    );
                    assert_eq!(u.path_segments().unwrap().count(), 5, "{evil}: {u}");
                }
                Err(e) => assert!(e.contains("refusing"), "{evil}: {e}"),
            }
        }
        let u = upstream_url(
            "https://h.example/x",
            &UpstreamPath::Responses,
            Some("a=../../b#f"),
        )
        .unwrap();
        assert_eq!(u.path(), "/x/responses");
        assert_eq!(u.fragment(), None);
    }

    #[test]
    fn headers_forwarded_without_credentials() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer local"));
        h.insert("x-api-key", HeaderValue::from_static("local"));
        h.insert("x-goog-api-key", HeaderValue::from_static("local"));
        h.insert("cookie", HeaderValue::from_static("a=b"));
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        h.insert(
            "x-databricks-use-coding-agent-mode",
            HeaderValue::from_static("true"),
        );
        h.insert("content-length", HeaderValue::from_static("10"));
        h.insert("accept-encoding", HeaderValue::from_static("gzip"));
        let out = forward_headers(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["anthropic-version", "x-databricks-use-coding-agent-mode"]
        );
    }

    #[test]
    fn prepare_reads_model_and_filters() {
        let call = |flavour, path_model: Option<&str>| ModelCall {
            agent: crate::gateway::paths::Caller::Agent(crate::agent::Agent::OpenCode),
            flavour,
            upstream: UpstreamPath::ChatCompletions,
            path_model: path_model.map(str::to_owned),
            stream_method: false,
        };
        let raw = Bytes::from_static(br#"{"model":"databricks-gemini-2-5-pro","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#);
        let (body, model, applied) = prepare(&call(Flavour::Chat, None), raw.clone());
        assert_eq!(model, "databricks-gemini-2-5-pro");
        assert_eq!(applied, ["gemini_stream_options"]);
        assert!(!String::from_utf8_lossy(&body).contains("stream_options"));
        let (body, model, applied) = prepare(
            &call(Flavour::Chat, None),
            Bytes::from_static(br#"{"model":"databricks-gpt-5","messages":[]}"#),
        );
        assert_eq!((model.as_str(), applied.len()), ("databricks-gpt-5", 0));
        assert_eq!(&body[..], br#"{"model":"databricks-gpt-5","messages":[]}"#);
        let (body, model, _) = prepare(
            &call(Flavour::Gemini, Some("g")),
            Bytes::from_static(b"not json"),
        );
        assert_eq!((model.as_str(), &body[..]), ("g", &b"not json"[..]));
    }
}
