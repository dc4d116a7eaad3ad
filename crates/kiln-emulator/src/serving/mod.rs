//! The model-serving data plane of the emulated workspace: the query paths agent CLIs call on
//! `/serving-endpoints/…` and `/ai-gateway/…` (reference §10.2), in four wire flavours —
//! Anthropic Messages, OpenAI Chat Completions, OpenAI Responses, Gemini `generateContent` —
//! each as plain JSON and as SSE streaming in the event shapes the real CLIs consume.
//!
//! # Deterministic answers
//!
//! Without a script, every call answers with text: [`ANSWER_MARKER`], a space, then an echo of
//! the conversation's last user turn:
//! - the last text part of the last user message, skipping parts that are injected context
//!   (`<system-reminder>`, `<environment_context>`, `<user_instructions>` blocks), e.g.
//!   `kiln-emulator: say hello`;
//! - when that turn carries only tool results: `kiln-emulator: tool result: <result text>`;
//! - with no user message at all: `kiln-emulator: (no user message)`.
//!
//! Echoed text is cut at [`ECHO_MAX_CHARS`] characters. Streaming answers are split at word
//! boundaries into several deltas (and tool arguments into several JSON fragments), sent
//! [`ServingState::set_stream_interval`] apart, so clients see real chunking.
//! Usage is deterministic: input tokens are the whitespace-separated words of every string in
//! the request body except `model` (at least 1); output tokens are the words of the answer text,
//! or of the tool name plus its serialized arguments.
//!
//! # Scripted mode
//!
//! [`ServingState::push_script`] queues [`ScriptStep`]s; each model call (any flavour) consumes
//! the oldest one ([`ServingState::push_script_for`] queues one that only calls to a given
//! endpoint consume): `Text` answers with exactly that text, `ToolCall` answers with one tool call in
//! the flavour's shape (Anthropic `tool_use`, Chat `tool_calls`, Responses `function_call` item,
//! Gemini `functionCall` part). When the queue is empty the echo answer above is used again.
//!
//! Tests that run the emulator as a separate process use the same controls over HTTP through
//! [`admin_router`] (`/__emulator/serving/…`).
//!
//! # Errors and quirks
//!
//! Unknown model or endpoint: 404 `{"error_code":"RESOURCE_DOES_NOT_EXIST","message":…}`; a
//! model whose API types do not include the flavour: 400 `BAD_REQUEST`; malformed bodies: 400
//! with a message; bodies over [`BODY_LIMIT_BYTES`]: 413. [`Quirks`] reproduces the request
//! checks Databricks is known to apply (empty text blocks, orphaned tool results for Claude;
//! JSON-Schema keys and `stream_options` for Gemini on Chat Completions), so kiln's gateway
//! filters can be tested against them.

mod admin;
mod answer;
mod anthropic;
mod call;
mod catalog;
mod chat;
mod error;
mod gemini;
mod quirks;
mod responses;
mod routes;
mod sse;
mod time;

pub use admin::admin_router;
pub use answer::{ANSWER_MARKER, ECHO_MAX_CHARS};
pub use catalog::EndpointSpec;
pub use quirks::Quirks;
pub use routes::router;

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Largest request body the data plane accepts (16 MiB).
pub const BODY_LIMIT_BYTES: usize = 16 << 20;
/// Default pause between two streamed events (2 ms), so each event is its own network chunk.
pub const DEFAULT_STREAM_INTERVAL: Duration = Duration::from_millis(2);
/// How many recent requests [`ServingState::requests`] keeps (oldest dropped first).
pub const RECORDED_REQUESTS_MAX: usize = 256;
/// Total body bytes the recorded requests may hold (64 MiB); the oldest are dropped beyond it.
pub const RECORDED_BYTES_MAX: usize = 64 << 20;
/// Bodies larger than this (4 MiB) are recorded as `null` (their size is still recorded).
pub const RECORDED_BODY_MAX_BYTES: usize = 4 << 20;

/// One scripted answer, consumed by the next model call of any flavour. As JSON (admin API):
/// `{"text": "…"}` or `{"tool_call": {"name": "…", "arguments": {…}}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptStep {
    /// Answer with exactly this text.
    Text(String),
    /// Answer with one call of the tool `name`. `arguments` should be a JSON object; anything
    /// else is wrapped as `{"value": arguments}` for flavours that need an object.
    ToolCall {
        name: String,
        #[serde(default = "empty_object")]
        arguments: serde_json::Value,
    },
}

/// A data-plane request as the emulator received it, for test assertions. Credential headers
/// (`authorization`, `x-api-key`, `x-goog-api-key`, `x-databricks-ai-gateway-token`, `cookie`)
/// are never recorded.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    /// Request path (without the query).
    pub path: String,
    /// Wire flavour: `anthropic`, `chat`, `invocations`, `responses` or `gemini`.
    pub flavour: &'static str,
    /// The `model` field, or the endpoint/model named in the path; empty when absent.
    pub model: String,
    /// HTTP status answered.
    pub status: u16,
    /// Header names (lower case) and values, credentials left out.
    pub headers: Vec<(String, String)>,
    /// The JSON body, or `null` when it was not JSON or larger than
    /// [`RECORDED_BODY_MAX_BYTES`].
    pub body: serde_json::Value,
    /// Size of the request body in bytes.
    pub body_bytes: usize,
}

/// Shared state of the data plane: the endpoint catalog, the script queue, the request record
/// and settings. Interior mutability with short std locks, never held across `.await`.
#[derive(Debug)]
pub struct ServingState {
    endpoints: Mutex<Vec<EndpointSpec>>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Queued steps, each for any endpoint (`None`) or one endpoint name.
    script: VecDeque<(Option<String>, ScriptStep)>,
    seq: u64,
    recorded: VecDeque<RecordedRequest>,
    /// Sum of the recorded bodies' sizes (only those kept as JSON).
    recorded_bytes: usize,
    quirks: Quirks,
    stream_interval: Duration,
}

impl ServingState {
    /// A data plane serving exactly these endpoints.
    pub fn new(endpoints: Vec<EndpointSpec>) -> Self {
        Self {
            endpoints: Mutex::new(endpoints),
            inner: Mutex::new(Inner {
                script: VecDeque::new(),
                seq: 0,
                recorded: VecDeque::new(),
                recorded_bytes: 0,
                quirks: Quirks::default(),
                stream_interval: DEFAULT_STREAM_INTERVAL,
            }),
        }
    }

    /// The pay-per-token foundation-model endpoints a workspace typically has (names from the
    /// reference, §10.2): Claude, GPT, Gemini and open models.
    pub fn default_catalog() -> Vec<EndpointSpec> {
        catalog::default_catalog()
    }

    /// A snapshot of the served endpoints.
    pub fn endpoints(&self) -> Vec<EndpointSpec> {
        lock(&self.endpoints).clone()
    }

    /// Adds an endpoint, replacing one with the same name.
    pub fn add_endpoint(&self, spec: EndpointSpec) {
        let mut endpoints = lock(&self.endpoints);
        endpoints.retain(|e| e.name != spec.name);
        endpoints.push(spec);
    }

    /// Removes the endpoint `name`; returns whether it existed.
    pub fn remove_endpoint(&self, name: &str) -> bool {
        let mut endpoints = lock(&self.endpoints);
        let before = endpoints.len();
        endpoints.retain(|e| e.name != name);
        endpoints.len() != before
    }

    /// Queues a scripted answer; the next model call consumes it.
    pub fn push_script(&self, step: ScriptStep) {
        lock(&self.inner).script.push_back((None, step));
    }

    /// Queues a scripted answer that only a call to the endpoint `endpoint` consumes (calls to
    /// other endpoints pass it by), e.g. so that OpenCode's title call to its small model does
    /// not take the step meant for the main model.
    pub fn push_script_for(&self, endpoint: &str, step: ScriptStep) {
        lock(&self.inner)
            .script
            .push_back((Some(endpoint.to_owned()), step));
    }

    /// How many scripted answers are still queued.
    pub fn script_len(&self) -> usize {
        lock(&self.inner).script.len()
    }

    /// Drops every queued scripted answer.
    pub fn clear_script(&self) {
        lock(&self.inner).script.clear();
    }

    /// Replaces the request checks (see [`Quirks`]).
    pub fn set_quirks(&self, quirks: Quirks) {
        lock(&self.inner).quirks = quirks;
    }

    /// The request checks in force.
    pub fn quirks(&self) -> Quirks {
        lock(&self.inner).quirks.clone()
    }

    /// Sets the pause between streamed events ([`DEFAULT_STREAM_INTERVAL`] by default; zero
    /// sends events back to back, which benchmarks may prefer).
    pub fn set_stream_interval(&self, interval: Duration) {
        lock(&self.inner).stream_interval = interval;
    }

    /// The most recent data-plane requests, oldest first (at most [`RECORDED_REQUESTS_MAX`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner).recorded.iter().cloned().collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        let mut inner = lock(&self.inner);
        inner.recorded.clear();
        inner.recorded_bytes = 0;
    }

    /// The pause between streamed events.
    pub fn stream_interval(&self) -> Duration {
        lock(&self.inner).stream_interval
    }

    pub(crate) fn record(&self, mut request: RecordedRequest) {
        if request.body_bytes > RECORDED_BODY_MAX_BYTES {
            request.body = serde_json::Value::Null;
        }
        let kept = |r: &RecordedRequest| if r.body.is_null() { 0 } else { r.body_bytes };
        let mut inner = lock(&self.inner);
        inner.recorded_bytes += kept(&request);
        inner.recorded.push_back(request);
        while inner.recorded.len() > RECORDED_REQUESTS_MAX
            || (inner.recorded_bytes > RECORDED_BYTES_MAX && inner.recorded.len() > 1)
        {
            if let Some(old) = inner.recorded.pop_front() {
                inner.recorded_bytes -= kept(&old);
            }
        }
    }

    /// Finds the endpoint a request names. On the AI Gateway a model may also be named by its
    /// Unity Catalog served entity (`system.ai.<model>`).
    pub(crate) fn find(&self, model: &str, gateway: bool) -> Option<EndpointSpec> {
        lock(&self.endpoints)
            .iter()
            .find(|e| e.name == model || (gateway && e.served_entity_name == model))
            .cloned()
    }

    /// Takes the oldest scripted step meant for `endpoint` (if any) and a fresh sequence
    /// number for ids.
    pub(crate) fn next_step(&self, endpoint: &str) -> (u64, Option<ScriptStep>) {
        let mut inner = lock(&self.inner);
        inner.seq += 1;
        let position = inner
            .script
            .iter()
            .position(|(only, _)| only.as_deref().is_none_or(|e| e == endpoint));
        let step = position
            .and_then(|i| inner.script.remove(i))
            .map(|(_, step)| step);
        (inner.seq, step)
    }
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

/// Locks a std mutex, recovering the data of a poisoned one (every update here is a single
/// assignment or push, so a panic elsewhere cannot leave it half-written).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body_bytes: usize) -> RecordedRequest {
        RecordedRequest {
            path: "/p".into(),
            flavour: "chat",
            model: "m".into(),
            status: 200,
            headers: vec![],
            body: serde_json::json!({"n": body_bytes}),
            body_bytes,
        }
    }

    #[test]
    fn recording_is_bounded_in_count_and_bytes() {
        let state = ServingState::new(vec![]);
        for _ in 0..RECORDED_REQUESTS_MAX + 10 {
            state.record(request(10));
        }
        assert_eq!(state.requests().len(), RECORDED_REQUESTS_MAX);

        state.clear_requests();
        state.record(request(RECORDED_BODY_MAX_BYTES + 1));
        assert!(state.requests()[0].body.is_null());
        let big = RECORDED_BODY_MAX_BYTES;
        for _ in 0..RECORDED_BYTES_MAX / big + 3 {
            state.record(request(big));
        }
        let kept = state.requests();
        let total: usize = kept
            .iter()
            .filter(|r| !r.body.is_null())
            .map(|r| r.body_bytes)
            .sum();
        assert!(total <= RECORDED_BYTES_MAX);
        assert_eq!(kept.len(), RECORDED_BYTES_MAX / big);
    }

    #[test]
    fn endpoints_can_be_added_and_removed() {
        let state = ServingState::new(ServingState::default_catalog());
        let n = state.endpoints().len();
        state.add_endpoint(EndpointSpec::chat("databricks-gpt-5", "openai", "again"));
        assert_eq!(state.endpoints().len(), n);
        assert!(state.remove_endpoint("databricks-gpt-5"));
        assert!(!state.remove_endpoint("databricks-gpt-5"));
        assert!(state.find("databricks-gpt-5", true).is_none());
        assert!(state.find("system.ai.claude-sonnet-4-5", true).is_some());
        assert!(state.find("system.ai.claude-sonnet-4-5", false).is_none());
    }
}
