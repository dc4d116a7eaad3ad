//! Relaying an upstream answer to the agent as it arrives: every chunk is passed on at once
//! (streams are never buffered), while a copy feeds the SSE splitter or a bounded JSON buffer
//! to read the usage. Chat Completions answers also go through the answer filters (event by
//! event for streams; whole for JSON, up to a cap). If the upstream breaks off or stalls after
//! the first byte, an SSE client gets an error event in its protocol's shape; a JSON client
//! sees the connection end early. The outcome is recorded in the usage stores (and queued as a
//! trace span when tracing is on) when the body ends, or when the agent goes away.

use super::Gateway;
use super::errors::stream_error_event;
use super::filters::chat_response::{StreamFixer, fix_json};
use super::http::response_headers;
use super::outcome::{Outcome, Tokens};
use super::paths::{Caller, Flavour};
use super::sse::Splitter;
use super::trace::CallRecord;
use super::trace::content::AnswerText;
use super::trace::turns::TurnHint;
use super::upstream::UpstreamKind;
use crate::http::client::error_chain;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Stream, StreamExt as _};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Response header carrying kiln's id of the call (also the span's `kiln.request_id`).
pub const REQUEST_ID_HEADER: &str = "x-kiln-request-id";
/// Upstream response headers that carry its request id, in order of preference.
const UPSTREAM_REQUEST_ID_HEADERS: &[&str] =
    &["x-request-id", "x-databricks-request-id", "request-id"];

/// Most bytes of a JSON answer kept to read its usage (4 MiB); beyond it usage is not read.
const JSON_COPY_MAX_BYTES: usize = 4 << 20;
/// Largest Chat Completions JSON answer held whole for the answer filters (8 MiB); a larger
/// one passes unfiltered.
const CHAT_JSON_HOLD_MAX_BYTES: usize = 8 << 20;

/// What to record when the answer ends.
pub struct Finish {
    /// The gateway (usage store, settings).
    pub gw: Arc<Gateway>,
    /// Attributed agent.
    pub agent: Caller,
    /// Flavour of the call.
    pub flavour: Flavour,
    /// Model asked for.
    pub model: String,
    /// When the request arrived.
    pub started: Instant,
    /// Which upstream answered.
    pub upstream: UpstreamKind,
    /// Filters applied to the request (comma-separated).
    pub filters: String,
    /// kiln's id of the call.
    pub request_id: String,
    /// Wall-clock time of the request's arrival (for the span).
    pub started_wall: SystemTime,
    /// Turn hint, when tracing is on (`None`: no span).
    pub hint: Option<TurnHint>,
}

/// How the body is handled.
enum Mode {
    /// SSE: chunks pass at once; the splitter reads usage (and feeds the fixer, if any).
    Sse {
        splitter: Splitter,
        fixer: Option<StreamFixer>,
    },
    /// JSON passed at once, with a bounded copy for usage.
    Json { copy: Vec<u8>, overflow: bool },
    /// Chat JSON held whole (up to a cap) for the answer filters.
    HeldJson { held: Vec<u8> },
    /// Error answers: passed as they are, not inspected.
    Opaque,
}

struct Relay {
    upstream: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    mode: Mode,
    queue: VecDeque<Bytes>,
    idle: Duration,
    ended: bool,
    status: u16,
    tokens: Tokens,
    error: Option<String>,
    first_byte: Option<Duration>,
    finish: Option<Finish>,
    /// The answer's text (tracing with content capture only).
    text: Option<AnswerText>,
    /// The upstream's request id header.
    upstream_request_id: Option<String>,
    /// `Content-Length` relayed, if any: once that many bytes went out the server may stop
    /// polling before the upstream's end is seen.
    length: Option<u64>,
    sent: u64,
}

/// The agent's response for an upstream answer.
pub fn relay_response(response: reqwest::Response, finish: Finish) -> Response {
    let status = response.status();
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/event-stream"));
    let chat = finish.flavour == Flavour::Chat;
    let mode = match (status.is_success(), is_sse, chat) {
        (false, _, _) => Mode::Opaque,
        (true, true, _) => Mode::Sse {
            splitter: Splitter::new(),
            fixer: chat.then(StreamFixer::new),
        },
        (true, false, true) => Mode::HeldJson { held: Vec::new() },
        (true, false, false) => Mode::Json {
            copy: Vec::new(),
            overflow: false,
        },
    };
    let keep_length = matches!(mode, Mode::Json { .. } | Mode::Opaque);
    let mut headers = response_headers(response.headers(), keep_length);
    let upstream_request_id = UPSTREAM_REQUEST_ID_HEADERS.iter().find_map(|h| {
        response
            .headers()
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect::<String>())
    });
    if let Ok(v) = axum::http::HeaderValue::from_str(&finish.request_id) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
    let text = (finish.hint.is_some() && finish.gw.tracer.content()).then(AnswerText::default);
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let relay = Relay {
        upstream: Box::pin(response.bytes_stream()),
        mode,
        queue: VecDeque::new(),
        idle: finish.gw.settings.idle_timeout,
        ended: false,
        status: status.as_u16(),
        tokens: Tokens::default(),
        error: None,
        first_byte: None,
        finish: Some(finish),
        text,
        upstream_request_id,
        length,
        sent: 0,
    };
    let stream = futures_util::stream::unfold(relay, |mut r| async move {
        let item = r.next_item().await?;
        Some((item, r))
    });
    let mut out = Response::new(Body::from_stream(stream));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    out
}

impl Relay {
    async fn next_item(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                if self.first_byte.is_none() && !b.is_empty() {
                    self.first_byte = self.finish.as_ref().map(|f| f.started.elapsed());
                }
                self.sent += b.len() as u64;
                return Some(Ok(b));
            }
            if self.ended {
                self.record();
                return None;
            }
            match tokio::time::timeout(self.idle, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => self.take(chunk),
                Ok(None) => self.end(),
                Ok(Some(Err(e))) => {
                    if let Some(err) = self.fail(format!(
                        "the upstream answer broke off: {}",
                        error_chain(&e)
                    )) {
                        return Some(Err(err));
                    }
                }
                Err(_) => {
                    let message =
                        format!("the upstream sent nothing for {} s", self.idle.as_secs());
                    if let Some(err) = self.fail(message) {
                        return Some(Err(err));
                    }
                }
            }
        }
    }

    /// A chunk from upstream.
    fn take(&mut self, chunk: Bytes) {
        match &mut self.mode {
            Mode::Sse { splitter, fixer } => {
                let events = splitter.push(&chunk);
                for ev in &events {
                    if ev.contains(b"\"usage") {
                        self.tokens.observe_text(&ev.data());
                    }
                    if let Some(t) = &mut self.text {
                        t.observe_text(&ev.data());
                    }
                }
                match fixer {
                    None => {
                        self.queue.push_back(chunk);
                        if splitter.disabled() {
                            let _ = splitter.take_pending();
                        }
                    }
                    Some(f) => {
                        for ev in &events {
                            self.queue.extend(f.fix(ev));
                        }
                        if splitter.disabled() {
                            // An oversized event: send what is held; later chunks pass
                            // straight through, uninspected.
                            self.queue.extend(f.finish());
                            let rest = splitter.take_pending();
                            if !rest.is_empty() {
                                self.queue.push_back(rest);
                            }
                            *fixer = None;
                        }
                    }
                }
            }
            Mode::Json { copy, overflow } => {
                if !*overflow {
                    if copy.len() + chunk.len() <= JSON_COPY_MAX_BYTES {
                        copy.extend_from_slice(&chunk);
                    } else {
                        *overflow = true;
                        copy.clear();
                    }
                }
                self.queue.push_back(chunk);
            }
            Mode::HeldJson { held } => {
                held.extend_from_slice(&chunk);
                if held.len() > CHAT_JSON_HOLD_MAX_BYTES {
                    let all = std::mem::take(held);
                    self.queue.push_back(Bytes::from(all));
                    self.mode = Mode::Json {
                        copy: Vec::new(),
                        overflow: true,
                    };
                }
            }
            Mode::Opaque => self.queue.push_back(chunk),
        }
    }

    /// The upstream body ended normally.
    fn end(&mut self) {
        self.ended = true;
        match &mut self.mode {
            Mode::Sse { splitter, fixer } => {
                let rest = splitter.take_pending();
                if let Some(f) = fixer {
                    self.queue.extend(f.finish());
                }
                if !rest.is_empty() && fixer.is_some() {
                    self.queue.push_back(rest);
                }
            }
            Mode::Json { copy, overflow } => {
                if !*overflow && let Ok(v) = serde_json::from_slice(copy) {
                    self.tokens.observe(&v);
                    if let Some(t) = &mut self.text {
                        t.observe(&v);
                    }
                }
            }
            Mode::HeldJson { held } => {
                let all = std::mem::take(held);
                match serde_json::from_slice::<serde_json::Value>(&all) {
                    Ok(mut v) => {
                        self.tokens.observe(&v);
                        if let Some(t) = &mut self.text {
                            t.observe(&v);
                        }
                        let fixed = fix_json(&mut v)
                            .then(|| serde_json::to_vec(&v).ok())
                            .flatten();
                        self.queue.push_back(Bytes::from(fixed.unwrap_or(all)));
                    }
                    Err(_) => self.queue.push_back(Bytes::from(all)),
                }
            }
            Mode::Opaque => {}
        }
    }

    /// The upstream failed after the answer started. SSE: an error event ends the stream
    /// (returns `None`); otherwise the error to end the body with.
    fn fail(&mut self, message: String) -> Option<std::io::Error> {
        self.ended = true;
        let flavour = self.finish.as_ref().map(|f| f.flavour);
        tracing::warn!(flavour = ?flavour.map(Flavour::name), error = %message, "model answer failed after it started");
        self.error = Some(message.clone());
        match (&mut self.mode, flavour) {
            (Mode::Sse { splitter, fixer }, Some(flavour)) => {
                // An unfinished event is dropped: the error event must start on a clean line.
                let _ = splitter.take_pending();
                if let Some(f) = fixer {
                    self.queue.extend(f.finish());
                }
                self.queue.push_back(stream_error_event(
                    flavour,
                    &format!("kiln gateway: {message}"),
                ));
                None
            }
            (Mode::HeldJson { held }, _) if !held.is_empty() => {
                // Nothing was sent yet: send what arrived, then end early.
                let all = std::mem::take(held);
                self.queue.push_back(Bytes::from(all));
                None
            }
            _ => {
                self.record();
                Some(std::io::Error::other(message))
            }
        }
    }

    /// Records the outcome once.
    fn record(&mut self) {
        let Some(f) = self.finish.take() else { return };
        let latency = f.started.elapsed();
        let outcome = Outcome {
            agent: f.agent,
            model: f.model,
            status: self.status,
            error: self.error.take(),
            latency,
            first_byte: self.first_byte,
            tokens: self.tokens,
        };
        tracing::info!(
            agent = %outcome.agent,
            flavour = f.flavour.name(),
            model = %outcome.model,
            upstream = f.upstream.name(),
            status = outcome.status,
            ms = latency.as_millis() as u64,
            input_tokens = outcome.tokens.input,
            output_tokens = outcome.tokens.output,
            filters = %f.filters,
            request_id = %f.request_id,
            error = outcome.error.as_deref().unwrap_or(""),
            "model call"
        );
        f.gw.record(&outcome);
        if let Some(hint) = f.hint {
            f.gw.tracer.record(CallRecord {
                agent: outcome.agent,
                flavour: f.flavour,
                model: outcome.model,
                upstream: f.upstream.name(),
                status: outcome.status,
                error: outcome.error,
                start: f.started_wall,
                latency,
                first_byte: outcome.first_byte,
                tokens: outcome.tokens,
                request_id: f.request_id,
                upstream_request_id: self.upstream_request_id.take(),
                filters: f.filters,
                hint,
                output: self.text.take().and_then(AnswerText::finish),
            });
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.finish.is_some() && !self.ended {
            if self.length.is_some_and(|n| self.sent >= n) {
                // Everything announced went out; the server just did not poll for the end.
                self.end();
            } else {
                self.error = Some("the agent closed the connection before the answer ended".into());
            }
        }
        self.record();
    }
}
