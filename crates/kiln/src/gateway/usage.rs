//! Usage accounting per agent and model: requests, errors, input and output tokens (read from
//! the `usage` fields of answers, streamed ones included), latency and time to first byte. The
//! store is bounded (entries and model-name length), so a client cannot grow it without limit.

use super::outcome::{Outcome, entry_model};
use super::paths::Caller;
use super::today::TodayUsage;
use super::trace::TraceStatus;
use super::upstream::UpstreamStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Longest error text kept per entry (characters).
const MAX_ERROR_CHARS: usize = 300;

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
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let model = entry_model(&o.model, entries.len(), |m| {
            entries.contains_key(&(o.agent, m.to_owned()))
        });
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
    use crate::gateway::outcome::{MAX_ENTRIES, MAX_MODEL_CHARS, OTHER_MODELS, Tokens};

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
