//! Server-sent events: the event value the flavours build, its wire encoding, and the streamed
//! response that sends one event per body chunk with a pause between them.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::Value;
use std::convert::Infallible;
use std::time::Duration;

/// One SSE event: an optional `event:` name and one `data:` line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SseEvent {
    pub event: Option<&'static str>,
    pub data: String,
}

impl SseEvent {
    /// `event: <name>` plus the JSON `data` (Anthropic, Responses).
    pub(crate) fn named(event: &'static str, data: &Value) -> Self {
        Self {
            event: Some(event),
            data: data.to_string(),
        }
    }

    /// A data-only event carrying JSON (Chat Completions, Gemini).
    pub(crate) fn json(data: &Value) -> Self {
        Self {
            event: None,
            data: data.to_string(),
        }
    }

    /// A data-only event with literal text (`[DONE]`).
    pub(crate) fn raw(data: &str) -> Self {
        Self {
            event: None,
            data: data.to_owned(),
        }
    }

    /// Wire form: `event: …\n` (when named), `data: …\n`, blank line. The data is single-line
    /// JSON or a literal without newlines.
    pub(crate) fn encode(&self) -> String {
        match self.event {
            Some(name) => format!("event: {name}\ndata: {}\n\n", self.data),
            None => format!("data: {}\n\n", self.data),
        }
    }
}

/// A `text/event-stream` response sending each event as its own body chunk, `interval` apart
/// (the first at once).
pub(crate) fn stream_response(events: Vec<SseEvent>, interval: Duration) -> Response {
    let stream = futures_util::stream::iter(events.into_iter().enumerate()).then(
        move |(i, event)| async move {
            if i > 0 && !interval.is_zero() {
                tokio::time::sleep(interval).await;
            }
            Ok::<Bytes, Infallible>(Bytes::from(event.encode()))
        },
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Parses an SSE text into `(event name, data)` pairs (tests only; multi-line data joined with
/// newlines, comments ignored).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = None;
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if event.is_some() || !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    out
}

/// Encodes events and parses them back into `(event name, JSON data)` (tests only).
#[cfg(test)]
pub(crate) fn roundtrip(events: &[SseEvent]) -> Vec<(Option<String>, Value)> {
    let text: String = events.iter().map(SseEvent::encode).collect();
    parse(&text)
        .into_iter()
        .map(|(e, d)| {
            let v = serde_json::from_str(&d).unwrap_or(Value::String(d));
            (e, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encode_and_parse() {
        let events = vec![
            SseEvent::named("ping", &json!({"type": "ping"})),
            SseEvent::json(&json!({"a": "b\nc"})),
            SseEvent::raw("[DONE]"),
        ];
        let text: String = events.iter().map(SseEvent::encode).collect();
        assert_eq!(
            text,
            "event: ping\ndata: {\"type\":\"ping\"}\n\ndata: {\"a\":\"b\\nc\"}\n\ndata: [DONE]\n\n"
        );
        let parsed = roundtrip(&events);
        assert_eq!(parsed[0].0.as_deref(), Some("ping"));
        assert_eq!(parsed[1].1, json!({"a": "b\nc"}));
        assert_eq!(parsed[2], (None, Value::String("[DONE]".into())));
    }
}
