//! What one model call reported and cost ([`Tokens`], [`Outcome`]), and the bounds every
//! per-(agent, model) store keeps to ([`entry_model`]): the facts `usage` (this session),
//! `today` (today's totals) and `trace` (spans) read. A leaf: it imports only `paths`.

use super::paths::Caller;
use serde_json::Value;
use std::time::Duration;

/// Most distinct (agent, model) entries a store keeps; later ones are counted under
/// [`OTHER_MODELS`].
pub const MAX_ENTRIES: usize = 512;
/// Longest model name kept (characters).
pub const MAX_MODEL_CHARS: usize = 128;
/// The bucket for models beyond [`MAX_ENTRIES`].
pub const OTHER_MODELS: &str = "(other models)";

/// The model name a call is counted under in a store that holds `len` entries: the name cut to
/// [`MAX_MODEL_CHARS`], or [`OTHER_MODELS`] when the store is full and `known` says the (cut)
/// name has no entry yet.
pub fn entry_model(model: &str, len: usize, known: impl FnOnce(&str) -> bool) -> String {
    let model: String = model.chars().take(MAX_MODEL_CHARS).collect();
    if !known(&model) && len >= MAX_ENTRIES {
        OTHER_MODELS.to_owned()
    } else {
        model
    }
}

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
}
