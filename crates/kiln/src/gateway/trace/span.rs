//! One model call as an OpenTelemetry span ([`SpanData`]), named and attributed after the
//! OpenTelemetry GenAI conventions that MLflow reads (`gen_ai.operation.name`,
//! `gen_ai.request.model`, `gen_ai.usage.*`, and with content capture `gen_ai.input.messages`
//! / `gen_ai.output.messages`), plus kiln's own `kiln.*` fields (agent, upstream, latency, time
//! to first token, request ids). Nothing here ever holds a token or a key: the record is built
//! from counts, names and ids only.

use super::super::outcome::Tokens;
use super::super::paths::{Caller, Flavour};
use super::turns::{Placement, TurnHint};
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

/// Everything known about one finished model call.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Attributed agent.
    pub agent: Caller,
    /// Wire protocol.
    pub flavour: Flavour,
    /// Model asked for.
    pub model: String,
    /// Upstream kind (`ai-gateway`, `serving-endpoints`, …).
    pub upstream: &'static str,
    /// HTTP status answered to the agent.
    pub status: u16,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// When the request arrived.
    pub start: SystemTime,
    /// To the answer's last byte.
    pub latency: Duration,
    /// To the answer's first byte.
    pub first_byte: Option<Duration>,
    /// Tokens reported by the answer.
    pub tokens: Tokens,
    /// kiln's id of the call (also sent to the agent as `x-kiln-request-id`).
    pub request_id: String,
    /// The upstream's request id header, if it sent one.
    pub upstream_request_id: Option<String>,
    /// Compatibility filters applied.
    pub filters: String,
    /// Turn grouping hint (and the prompt, with content capture).
    pub hint: TurnHint,
    /// The answer's text (content capture only).
    pub output: Option<String>,
}

fn provider(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::Anthropic => "anthropic",
        Flavour::Responses | Flavour::Chat => "openai",
        Flavour::Gemini => "gcp.gemini",
    }
}

/// The instrumentation scope of kiln's spans.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("kiln.gateway")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Builds the span of `rec`, placed in its turn.
pub fn build(
    rec: CallRecord,
    span_id: SpanId,
    place: Placement,
    scope: &InstrumentationScope,
) -> SpanData {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", provider(rec.flavour)),
        KeyValue::new("gen_ai.system", provider(rec.flavour)),
        KeyValue::new("gen_ai.request.model", rec.model.clone()),
        KeyValue::new("gen_ai.usage.input_tokens", rec.tokens.input as i64),
        KeyValue::new("gen_ai.usage.output_tokens", rec.tokens.output as i64),
        KeyValue::new(
            "gen_ai.usage.cache_read.input_tokens",
            rec.tokens.cache_read as i64,
        ),
        KeyValue::new(
            "gen_ai.usage.cache_creation.input_tokens",
            rec.tokens.cache_write as i64,
        ),
        KeyValue::new("http.response.status_code", i64::from(rec.status)),
        KeyValue::new("kiln.agent", rec.agent.name()),
        KeyValue::new("kiln.flavour", rec.flavour.name()),
        KeyValue::new("kiln.upstream", rec.upstream),
        KeyValue::new("kiln.latency_ms", ms(rec.latency)),
        KeyValue::new("kiln.request_id", rec.request_id.clone()),
        KeyValue::new("kiln.turn.continues", rec.hint.continues),
    ];
    if let Some(fb) = rec.first_byte {
        attributes.push(KeyValue::new("kiln.time_to_first_token_ms", ms(fb)));
    }
    if let Some(id) = &rec.upstream_request_id {
        attributes.push(KeyValue::new("kiln.upstream_request_id", id.clone()));
    }
    if !rec.filters.is_empty() {
        attributes.push(KeyValue::new("kiln.filters", rec.filters.clone()));
    }
    if let Some(s) = &rec.hint.session {
        attributes.push(KeyValue::new("session.id", s.clone()));
    }
    if let Some(input) = rec.hint.input {
        attributes.push(KeyValue::new("gen_ai.input.messages", input));
    }
    if let Some(output) = rec.output {
        let messages = serde_json::json!([{"role": "assistant", "content": output}]);
        attributes.push(KeyValue::new(
            "gen_ai.output.messages",
            messages.to_string(),
        ));
    }
    let failed = rec.status >= 400 || rec.error.is_some();
    let status = if failed {
        let why = rec
            .error
            .clone()
            .unwrap_or_else(|| format!("HTTP {}", rec.status));
        attributes.push(KeyValue::new(
            "error.type",
            if rec.status >= 400 {
                rec.status.to_string()
            } else {
                "broken_off".to_owned()
            },
        ));
        Status::error(why)
    } else {
        Status::Ok
    };
    SpanData {
        span_context: SpanContext::new(
            place.trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: place.parent.unwrap_or(SpanId::INVALID),
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: Cow::Owned(format!("chat {}", rec.model)),
        start_time: rec.start,
        end_time: rec.start + rec.latency,
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::trace::turns::{new_span_id, new_trace_id};

    fn record() -> CallRecord {
        CallRecord {
            agent: Caller::Agent(crate::agent::Agent::Codex),
            flavour: Flavour::Responses,
            model: "databricks-gpt-5".into(),
            upstream: "serving-endpoints",
            status: 200,
            error: None,
            start: SystemTime::now(),
            latency: Duration::from_millis(120),
            first_byte: Some(Duration::from_millis(40)),
            tokens: Tokens {
                input: 10,
                output: 3,
                cache_read: 4,
                cache_write: 0,
            },
            request_id: "abc".into(),
            upstream_request_id: Some("up-1".into()),
            filters: String::new(),
            hint: TurnHint::default(),
            output: None,
        }
    }

    fn attr<'a>(s: &'a SpanData, k: &str) -> Option<&'a opentelemetry::Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| &kv.value)
    }

    #[test]
    fn fields_and_no_content_by_default() {
        let place = Placement {
            trace_id: new_trace_id(),
            parent: None,
        };
        let s = build(record(), new_span_id(), place, &scope());
        assert_eq!(s.name, "chat databricks-gpt-5");
        assert_eq!(attr(&s, "kiln.agent").unwrap().as_str(), "codex");
        assert_eq!(
            attr(&s, "gen_ai.usage.input_tokens"),
            Some(&opentelemetry::Value::I64(10))
        );
        assert!(attr(&s, "kiln.time_to_first_token_ms").is_some());
        assert!(attr(&s, "gen_ai.input.messages").is_none());
        assert!(attr(&s, "gen_ai.output.messages").is_none());
        assert_eq!(s.status, Status::Ok);
        assert_eq!(s.parent_span_id, SpanId::INVALID);
    }

    #[test]
    fn failures_are_errors() {
        let mut r = record();
        r.status = 429;
        let place = Placement {
            trace_id: new_trace_id(),
            parent: Some(new_span_id()),
        };
        let s = build(r, new_span_id(), place, &scope());
        assert!(matches!(s.status, Status::Error { .. }));
        assert_eq!(attr(&s, "error.type").unwrap().as_str(), "429");
    }
}
