//! Grouping model calls into agent turns. A turn starts with a request whose last message is
//! the user's (new text) and continues with requests whose last message hands back a tool's
//! result (Anthropic `tool_result` blocks, a Chat `tool` message, a Responses
//! `function_call_output`, a Gemini `functionResponse`). Calls are kept apart per agent, per
//! session where the request carries one (Claude Code's `x-claude-code-session-id` header or
//! `metadata.user_id`, Codex's `session_id` / `conversation_id` headers or `prompt_cache_key`),
//! and per model (so a side call with a small model does not cut a turn of the main one).
//!
//! [`TurnHint::read`] runs on the request path only when tracing is on: it scans the body once
//! with serde, keeping the role and block types of the last message (nothing else is kept
//! unless content capture is on). [`Turns`] runs in the export task.

use super::super::paths::Caller;
use opentelemetry::trace::{SpanId, TraceId};
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

/// Longest session key kept (characters).
const MAX_SESSION_CHARS: usize = 200;
/// Most open turns remembered; the stalest is forgotten beyond it.
const MAX_TURNS: usize = 1024;
/// A turn with no call for this long is over.
const TURN_IDLE: Duration = Duration::from_secs(30 * 60);
/// Longest prompt text kept when content capture is on (bytes).
pub const MAX_CONTENT_BYTES: usize = 16 << 10;

/// Request headers that carry an agent's session id (lower case).
const SESSION_HEADERS: &[&str] = &[
    "x-claude-code-session-id",
    "session_id",
    "conversation_id",
    "x-session-id",
];

/// What the request says about its place in a turn.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TurnHint {
    /// The agent's session id, if the request carries one.
    pub session: Option<String>,
    /// The last message hands back a tool result: the turn goes on.
    pub continues: bool,
    /// The last message as JSON (only with content capture on), cut to 16 KiB.
    pub input: Option<String>,
}

/// The block types of a message's `content` (a string has none).
#[derive(Default)]
struct BlockTypes(Vec<String>);

#[derive(Deserialize)]
struct Block {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

impl<'de> Deserialize<'de> for BlockTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BlockTypes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of blocks")
            }
            fn visit_str<E>(self, _: &str) -> Result<BlockTypes, E> {
                Ok(BlockTypes::default())
            }
            fn visit_unit<E>(self) -> Result<BlockTypes, E> {
                Ok(BlockTypes::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<BlockTypes, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<Block>()? {
                    out.extend(b.kind);
                }
                Ok(BlockTypes(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<BlockTypes, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(BlockTypes::default())
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Part {
    #[serde(default)]
    functionResponse: Option<IgnoredAny>,
}

/// One message / input item / content entry, reduced to what tells a turn apart.
#[derive(Deserialize, Default)]
struct Item {
    #[serde(default)]
    role: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    content: Option<BlockTypes>,
    #[serde(default)]
    parts: Option<Vec<Part>>,
}

impl Item {
    fn hands_back_a_tool_result(&self) -> bool {
        let role = self.role.as_deref().unwrap_or("");
        let kind = self.kind.as_deref().unwrap_or("");
        role == "tool"
            || role == "function"
            || kind.ends_with("_call_output")
            || self.content.as_ref().is_some_and(|c| {
                c.0.iter()
                    .any(|t| t == "tool_result" || t == "function_result")
            })
            || self
                .parts
                .as_ref()
                .is_some_and(|p| p.iter().any(|p| p.functionResponse.is_some()))
    }
}

/// The last element of a list (each element read as an [`Item`], only the last kept).
struct LastItem(Option<Item>);

impl<'de> Deserialize<'de> for LastItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LastItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list")
            }
            fn visit_str<E>(self, _: &str) -> Result<LastItem, E> {
                // Responses `input` may be one string: a user message.
                Ok(LastItem(Some(Item::default())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LastItem, A::Error> {
                let mut last = None;
                while let Some(item) = seq.next_element::<Item>()? {
                    last = Some(item);
                }
                Ok(LastItem(last))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    user_id: Option<String>,
}

/// The fields of a request body that matter here (every flavour's list field).
#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    messages: Option<LastItem>,
    #[serde(default)]
    input: Option<LastItem>,
    #[serde(default)]
    contents: Option<LastItem>,
    #[serde(default)]
    metadata: Option<Metadata>,
    #[serde(default)]
    prompt_cache_key: Option<String>,
}

fn cut(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl TurnHint {
    /// Reads the hint of one request. A body that is not JSON gives an empty hint.
    pub fn read(headers: &axum::http::HeaderMap, body: &[u8], content: bool) -> TurnHint {
        let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
        let header_session = SESSION_HEADERS.iter().find_map(|h| {
            headers
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        });
        let session = header_session
            .or_else(|| parsed.metadata.and_then(|m| m.user_id))
            .or(parsed.prompt_cache_key)
            .map(|s| cut(&s, MAX_SESSION_CHARS));
        let last = [parsed.messages, parsed.input, parsed.contents]
            .into_iter()
            .flatten()
            .find_map(|l| l.0);
        let continues = last.as_ref().is_some_and(Item::hands_back_a_tool_result);
        let input = if content {
            last_message_json(body)
        } else {
            None
        };
        TurnHint {
            session,
            continues,
            input,
        }
    }
}

/// The last message of the request as JSON (content capture only), cut to 16 KiB.
fn last_message_json(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let last = ["messages", "input", "contents"]
        .iter()
        .find_map(|k| match v.get(*k) {
            Some(serde_json::Value::Array(items)) => items.last().cloned(),
            Some(s @ serde_json::Value::String(_)) => Some(s.clone()),
            _ => None,
        })?;
    let text = serde_json::to_string(&serde_json::json!([last])).ok()?;
    Some(cut_bytes(&text, MAX_CONTENT_BYTES).to_owned())
}

/// Where a call's span goes: its trace and, if it continues a turn, its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The turn's trace.
    pub trace_id: TraceId,
    /// The turn's first call (`None`: this call starts the turn).
    pub parent: Option<SpanId>,
}

struct Turn {
    trace_id: TraceId,
    root: SpanId,
    last: Instant,
}

/// Open turns per (agent, session, model). Used by the export task only.
#[derive(Default)]
pub struct Turns {
    open: HashMap<(String, String, String), Turn>,
}

impl Turns {
    /// Places a call whose own span id is `span_id`.
    pub fn place(
        &mut self,
        agent: Caller,
        model: &str,
        hint: &TurnHint,
        span_id: SpanId,
        now: Instant,
    ) -> Placement {
        let key = (
            agent.name().to_owned(),
            hint.session.clone().unwrap_or_default(),
            model.to_owned(),
        );
        if hint.continues
            && let Some(turn) = self.open.get_mut(&key)
            && now.duration_since(turn.last) < TURN_IDLE
        {
            turn.last = now;
            return Placement {
                trace_id: turn.trace_id,
                parent: Some(turn.root),
            };
        }
        if self.open.len() >= MAX_TURNS && !self.open.contains_key(&key) {
            self.open
                .retain(|_, t| now.duration_since(t.last) < TURN_IDLE);
            if self.open.len() >= MAX_TURNS
                && let Some(stalest) = self
                    .open
                    .iter()
                    .min_by_key(|(_, t)| t.last)
                    .map(|(k, _)| k.clone())
            {
                self.open.remove(&stalest);
            }
        }
        let trace_id = new_trace_id();
        self.open.insert(
            key,
            Turn {
                trace_id,
                root: span_id,
                last: now,
            },
        );
        Placement {
            trace_id,
            parent: None,
        }
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    if getrandom::fill(&mut b).is_err() || b.iter().all(|x| *x == 0) {
        // Never an all-zero (invalid) id, even without randomness.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(1)
            .max(1);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 | 1;
        }
    }
    b
}

/// A fresh random trace id.
pub fn new_trace_id() -> TraceId {
    TraceId::from_bytes(random::<16>())
}

/// A fresh random span id.
pub fn new_span_id() -> SpanId {
    SpanId::from_bytes(random::<8>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn hint(body: &str) -> TurnHint {
        TurnHint::read(&HeaderMap::new(), body.as_bytes(), false)
    }

    #[test]
    fn tool_results_continue_in_every_flavour() {
        // Anthropic
        assert!(!hint(r#"{"messages":[{"role":"user","content":"fix the bug"}]}"#).continues);
        assert!(hint(r#"{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":[{"type":"tool_use","id":"t"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"ok"}]}]}"#).continues);
        // Chat
        assert!(hint(r#"{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c","content":"ok"}]}"#).continues);
        // Responses (string input, then a function_call_output)
        assert!(!hint(r#"{"input":"hello"}"#).continues);
        assert!(hint(r#"{"input":[{"role":"user","content":[{"type":"input_text","text":"x"}]},{"type":"function_call_output","call_id":"c","output":"ok"}]}"#).continues);
        // Gemini
        assert!(!hint(r#"{"contents":[{"role":"user","parts":[{"text":"x"}]}]}"#).continues);
        assert!(hint(r#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#).continues);
        // Garbage
        assert_eq!(hint("not json"), TurnHint::default());
        assert_eq!(hint(r#"{"messages":7}"#), TurnHint::default());
    }

    #[test]
    fn sessions_from_headers_then_body() {
        let mut h = HeaderMap::new();
        h.insert("session_id", HeaderValue::from_static("codex-1"));
        let t = TurnHint::read(&h, br#"{"prompt_cache_key":"other"}"#, false);
        assert_eq!(t.session.as_deref(), Some("codex-1"));
        let t = hint(r#"{"metadata":{"user_id":"user_x_session_abc"},"messages":[]}"#);
        assert_eq!(t.session.as_deref(), Some("user_x_session_abc"));
        assert_eq!(t.input, None);
    }

    #[test]
    fn content_only_when_asked() {
        let body = br#"{"messages":[{"role":"user","content":"secret plan"}]}"#;
        assert_eq!(TurnHint::read(&HeaderMap::new(), body, false).input, None);
        let t = TurnHint::read(&HeaderMap::new(), body, true);
        assert!(t.input.unwrap().contains("secret plan"));
        assert_eq!(cut_bytes("aé", 2), "a");
    }

    #[test]
    fn turns_group_follow_ups_under_the_first_call() {
        let mut turns = Turns::default();
        let now = Instant::now();
        let agent = Caller::Other;
        let start = TurnHint::default();
        let follow = TurnHint {
            continues: true,
            ..TurnHint::default()
        };
        let first = new_span_id();
        let p1 = turns.place(agent, "m", &start, first, now);
        assert_eq!(p1.parent, None);
        let p2 = turns.place(agent, "m", &follow, new_span_id(), now);
        assert_eq!((p2.trace_id, p2.parent), (p1.trace_id, Some(first)));
        // Another model's call is its own turn; a new prompt starts a new turn.
        let p3 = turns.place(agent, "small", &follow, new_span_id(), now);
        assert_ne!(p3.trace_id, p1.trace_id);
        let p4 = turns.place(agent, "m", &start, new_span_id(), now);
        assert_ne!(p4.trace_id, p1.trace_id);
        // Idle turns end.
        let p5 = turns.place(agent, "m", &follow, new_span_id(), now + TURN_IDLE);
        assert_eq!(p5.parent, None);
    }
}
