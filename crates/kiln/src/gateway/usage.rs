//! Usage accounting per agent and model: requests, errors, input and output tokens (read from
//! the `usage` fields of answers, streamed ones included), latency and time to first byte. The
//! store is bounded (entries and model-name length), so a client cannot grow it without limit.

use super::paths::Caller;
use super::today::TodayUsage;
use super::trace::TraceStatus;
use super::upstream::UpstreamStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Most distinct (agent, model) entries kept; later ones are counted under [`OTHER_MODELS`].
const MAX_ENTRIES: usize = 512;
/// Longest model name kept (characters).
const MAX_MODEL_CHARS: usize = 128;
/// The bucket for models beyond [`MAX_ENTRIES`].
pub const OTHER_MODELS: &str = "(other models)";
/// Longest error text kept per entry (characters).
const MAX_ERROR_CHARS: usize = 300;

/// Token counts seen in one answer. Counts are cumulative in every protocol, so the largest
/// value of each field wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens (cache reads and writes included).
    pub input: u64,
    /// Answer tokens (reasoning included).
    pub output: u64,
    /// Of the input, tokens read from the prompt cache.
    pub cache_read: u64,
    /// Of the input, tokens written to the prompt cache.
    pub cache_write: u64,
}

fn num(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn nested(v: &Value, holder: &str, key: &str) -> u64 {
    v.get(holder).map_or(0, |h| num(h, key))
}

impl Tokens {
    /// Reads usage from one JSON document or event: `usage` (top level, or under `message`
    /// or `response`) in Anthropic, Responses and Chat form, and Gemini's `usageMetadata`.
    /// Arrays (Gemini's non-SSE stream) are read element by element.
    pub fn observe(&mut self, v: &Value) {
        if let Value::Array(items) = v {
            for item in items {
                self.observe(item);
            }
            return;
        }
        for holder in [Some(v), v.get("message"), v.get("response")]
            .into_iter()
            .flatten()
        {
            if let Some(u) = holder.get("usage").filter(|u| u.is_object()) {
                let input = num(u, "input_tokens")
                    + num(u, "cache_creation_input_tokens")
                    + num(u, "cache_read_input_tokens");
                self.input = self.input.max(input).max(num(u, "prompt_tokens"));
                self.output = self
                    .output
                    .max(num(u, "output_tokens"))
                    .max(num(u, "completion_tokens"));
                self.cache_read = self
                    .cache_read
                    .max(num(u, "cache_read_input_tokens"))
                    .max(nested(u, "input_tokens_details", "cached_tokens"))
                    .max(nested(u, "prompt_tokens_details", "cached_tokens"));
                self.cache_write = self.cache_write.max(num(u, "cache_creation_input_tokens"));
            }
        }
        if let Some(m) = v.get("usageMetadata") {
            self.input = self.input.max(num(m, "promptTokenCount"));
            self.cache_read = self.cache_read.max(num(m, "cachedContentTokenCount"));
            self.output = self
                .output
                .max(num(m, "candidatesTokenCount") + num(m, "thoughtsTokenCount"));
        }
    }

    /// Like [`Tokens::observe`] on text that may be JSON; skips text without a `"usage…"` key
    /// (inside a JSON string the quotes would be escaped, so answer text does not match).
    pub fn observe_text(&mut self, text: &str) {
        if !text.contains("\"usage") {
            return;
        }
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            self.observe(&v);
        }
    }
}

/// How one request ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Attributed agent.
    pub agent: Caller,
    /// Model asked for (empty when unknown).
    pub model: String,
    /// HTTP status answered to the agent.
    pub status: u16,
    /// Why it failed (gateway-side or mid-stream), if it did.
    pub error: Option<String>,
    /// From the request's arrival to the answer's last byte.
    pub latency: Duration,
    /// From the request's arrival to the answer's first body byte.
    pub first_byte: Option<Duration>,
    /// Tokens reported by the answer.
    pub tokens: Tokens,
}

#[derive(Clone, Debug, Default)]
struct Counters {
    requests: u64,
    errors: u64,
    input_tokens: u64,
    output_tokens: u64,
    latency_total: Duration,
    latency_max: Duration,
    first_byte_total: Duration,
    first_byte_count: u64,
    last_status: u16,
    last_at: Option<SystemTime>,
    last_error: Option<String>,
}

/// Usage of one agent with one model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentUsage {
    /// Agent name (`claude`, `codex`, `gemini`, `opencode`, `hermes`, `other`).
    pub agent: String,
    /// Model name.
    pub model: String,
    /// Requests answered.
    pub requests: u64,
    /// Requests that failed (status ≥ 400 or broken off).
    pub errors: u64,
    /// Input tokens reported.
    pub input_tokens: u64,
    /// Output tokens reported.
    pub output_tokens: u64,
    /// Mean latency to the last byte, ms.
    pub latency_ms_avg: f64,
    /// Largest latency, ms.
    pub latency_ms_max: f64,
    /// Mean time to the first byte, ms (`null` before any answer had a body).
    pub first_byte_ms_avg: Option<f64>,
    /// Status of the latest request.
    pub last_status: u16,
    /// When the latest request ended (RFC 3339).
    pub last_at: Option<String>,
    /// The latest error, if the latest request failed.
    pub last_error: Option<String>,
}

/// What `GET /api/usage` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UsageSnapshot {
    /// The gateway's URL.
    pub url: String,
    /// When the gateway started (RFC 3339).
    pub started_at: String,
    /// The workspace URL in use.
    pub host: String,
    /// Per flavour: the upstream chosen and why (empty until resolved).
    pub upstreams: Vec<UpstreamStatus>,
    /// Per agent and model, since this gateway started (this session).
    pub agents: Vec<AgentUsage>,
    /// Per agent and model, today (UTC), across restarts.
    #[serde(default)]
    pub today: TodayUsage,
    /// Whether model calls are traced, and whether the traces are flowing.
    #[serde(default = "TraceStatus::off")]
    pub tracing: TraceStatus,
}

/// The bounded usage store.
#[derive(Debug, Default)]
pub struct UsageStore {
    entries: Mutex<BTreeMap<(Caller, String), Counters>>,
}

impl UsageStore {
    /// Adds one request's outcome.
    pub fn record(&self, o: &Outcome) {
        let mut model: String = o.model.chars().take(MAX_MODEL_CHARS).collect();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(&(o.agent, model.clone())) && entries.len() >= MAX_ENTRIES {
            model = OTHER_MODELS.to_owned();
        }
        let c = entries.entry((o.agent, model)).or_default();
        c.requests += 1;
        let failed = o.status >= 400 || o.error.is_some();
        if failed {
            c.errors += 1;
        }
        c.input_tokens += o.tokens.input;
        c.output_tokens += o.tokens.output;
        c.latency_total += o.latency;
        c.latency_max = c.latency_max.max(o.latency);
        if let Some(fb) = o.first_byte {
            c.first_byte_total += fb;
            c.first_byte_count += 1;
        }
        c.last_status = o.status;
        c.last_at = Some(SystemTime::now());
        c.last_error = match (&o.error, failed) {
            (Some(e), _) => Some(e.chars().take(MAX_ERROR_CHARS).collect()),
            (None, true) => Some(format!("HTTP {}", o.status)),
            (None, false) => None,
        };
    }

    /// Every entry, by agent then model.
    pub fn entries(&self) -> Vec<AgentUsage> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        entries
            .iter()
            .map(|((agent, model), c)| AgentUsage {
                agent: agent.name().to_owned(),
                model: model.clone(),
                requests: c.requests,
                errors: c.errors,
                input_tokens: c.input_tokens,
                output_tokens: c.output_tokens,
                latency_ms_avg: ms(c.latency_total) / c.requests.max(1) as f64,
                latency_ms_max: ms(c.latency_max),
                first_byte_ms_avg: (c.first_byte_count > 0)
                    .then(|| ms(c.first_byte_total) / c.first_byte_count as f64),
                last_status: c.last_status,
                last_at: c.last_at.map(crate::time::rfc3339),
                last_error: c.last_error.clone(),
            })
            .collect()
    }
}

/// A plain-text report of a snapshot (for `kiln gateway status` and `kiln agents status`):
/// upstreams, this session's usage, today's, and tracing.
pub fn format_snapshot(s: &UsageSnapshot) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gateway {} (since {}), workspace {}",
        s.url, s.started_at, s.host
    );
    if s.upstreams.is_empty() {
        let _ = writeln!(out, "upstreams: not resolved yet");
    }
    for u in &s.upstreams {
        let _ = writeln!(
            out,
            "  {:<10} -> {:<17} {}  ({})",
            u.flavour, u.kind, u.base_url, u.reason
        );
    }
    let _ = writeln!(out, "this session:");
    if s.agents.is_empty() {
        let _ = writeln!(out, "  no requests yet");
    } else {
        let _ = writeln!(
            out,
            "  {:<9} {:<34} {:>6} {:>6} {:>10} {:>10} {:>9}  last",
            "agent", "model", "reqs", "errors", "input", "output", "avg ms"
        );
    }
    for a in &s.agents {
        let last = match &a.last_error {
            Some(e) => format!("{} {}", a.last_status, e),
            None => a.last_status.to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<9} {:<34} {:>6} {:>6} {:>10} {:>10} {:>9.1}  {}",
            a.agent,
            a.model,
            a.requests,
            a.errors,
            a.input_tokens,
            a.output_tokens,
            a.latency_ms_avg,
            last
        );
    }
    let _ = writeln!(out, "today ({} UTC):", s.today.date);
    if s.today.agents.is_empty() {
        let _ = writeln!(out, "  no requests yet");
    } else {
        let _ = writeln!(
            out,
            "  {:<9} {:<34} {:>6} {:>6} {:>10} {:>10}",
            "agent", "model", "reqs", "errors", "input", "output"
        );
    }
    for a in &s.today.agents {
        let _ = writeln!(
            out,
            "  {:<9} {:<34} {:>6} {:>6} {:>10} {:>10}",
            a.agent, a.model, a.requests, a.errors, a.input_tokens, a.output_tokens
        );
    }
    out.push_str(&format_tracing(&s.tracing));
    out
}

/// The tracing line(s) of [`format_snapshot`].
pub fn format_tracing(t: &TraceStatus) -> String {
    if !t.enabled {
        return "tracing: off (set MLFLOW_TRACKING_URI or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; see docs/observability.md)\n".to_owned();
    }
    let mut line = format!(
        "tracing: {} -> {}",
        t.state,
        t.endpoint.as_deref().unwrap_or("?")
    );
    if let Some(id) = &t.experiment_id {
        line.push_str(&format!(" (experiment {id})"));
    }
    line.push_str(&format!(
        "\n  spans exported {}, dropped {}; last export {}; content {}\n",
        t.exported_spans,
        t.dropped_spans,
        t.last_export_at.as_deref().unwrap_or("never"),
        if t.content { "on" } else { "off" }
    ));
    if let Some(e) = &t.last_error {
        line.push_str(&format!(
            "  last error ({}): {e}\n",
            t.last_error_at.as_deref().unwrap_or("?")
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seen(values: &[Value]) -> Tokens {
        let mut t = Tokens::default();
        for v in values {
            t.observe(v);
        }
        t
    }

    #[test]
    fn usage_fields_of_every_protocol() {
        // Anthropic stream: input in message_start, cumulative output in message_delta.
        let t = seen(&[
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
            json!({"type": "content_block_delta", "delta": {"text": "hi"}}),
            json!({"type": "message_delta", "usage": {"output_tokens": 7}}),
        ]);
        assert_eq!(
            t,
            Tokens {
                input: 15,
                output: 7,
                cache_read: 5,
                cache_write: 0,
            }
        );
        // Responses: response.completed carries response.usage.
        let t = seen(&[
            json!({"type": "response.completed", "response": {"usage": {"input_tokens": 3, "output_tokens": 4}}}),
        ]);
        assert_eq!(
            t,
            Tokens {
                input: 3,
                output: 4,
                ..Tokens::default()
            }
        );
        // Chat: the usage chunk; null usage elsewhere is ignored.
        let t = seen(&[
            json!({"choices": [], "usage": null}),
            json!({"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 2}}),
        ]);
        assert_eq!(
            t,
            Tokens {
                input: 8,
                output: 2,
                ..Tokens::default()
            }
        );
        // Gemini, also as a JSON array.
        let t = seen(&[
            json!([{"candidates": []}, {"usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 3, "thoughtsTokenCount": 2}}]),
        ]);
        assert_eq!(
            t,
            Tokens {
                input: 6,
                output: 5,
                ..Tokens::default()
            }
        );
        let mut t = Tokens::default();
        t.observe_text("not json usage");
        t.observe_text(r#"{"delta":{"text":"the \"usage\": field"}}"#);
        t.observe_text("{\"x\":1}");
        assert_eq!(t, Tokens::default());
    }

    #[test]
    fn store_counts_and_is_bounded() {
        let store = UsageStore::default();
        let mut o = Outcome {
            agent: Caller::Agent(crate::agent::Agent::Claude),
            model: "m".into(),
            status: 200,
            error: None,
            latency: Duration::from_millis(10),
            first_byte: Some(Duration::from_millis(2)),
            tokens: Tokens {
                input: 5,
                output: 6,
                ..Tokens::default()
            },
        };
        store.record(&o);
        o.status = 429;
        o.first_byte = None;
        store.record(&o);
        let e = store.entries();
        assert_eq!(e.len(), 1);
        assert_eq!(
            (
                e[0].requests,
                e[0].errors,
                e[0].input_tokens,
                e[0].output_tokens
            ),
            (2, 1, 10, 12)
        );
        assert_eq!(e[0].last_error.as_deref(), Some("HTTP 429"));
        assert_eq!(e[0].first_byte_ms_avg, Some(2.0));
        for i in 0..MAX_ENTRIES + 5 {
            o.model = format!("model-{i}-{}", "x".repeat(500));
            store.record(&o);
        }
        let e = store.entries();
        assert_eq!(e.len(), MAX_ENTRIES + 1);
        assert!(e.iter().any(|a| a.model == OTHER_MODELS));
        assert!(e.iter().all(|a| a.model.chars().count() <= MAX_MODEL_CHARS));
    }
}
