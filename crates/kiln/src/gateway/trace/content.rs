//! The answer's text, for spans with content capture on (`KILN_TRACE_CONTENT=1`) only: text
//! deltas of every protocol's stream (Anthropic `content_block_delta`, Responses
//! `response.output_text.delta`, Chat `choices[].delta.content`, Gemini `parts[].text`) and the
//! same fields of whole JSON answers, kept up to 16 KiB.

use super::turns::MAX_CONTENT_BYTES;
use serde_json::Value;

/// Collects answer text up to a cap.
#[derive(Debug, Default)]
pub struct AnswerText {
    text: String,
    full: bool,
}

impl AnswerText {
    fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = MAX_CONTENT_BYTES.saturating_sub(self.text.len());
        let piece = super::turns::cut_bytes(s, room);
        self.text.push_str(piece);
        self.full = piece.len() < s.len();
    }

    /// Reads one SSE event's data or one whole JSON answer.
    pub fn observe_text(&mut self, data: &str) {
        if self.full || !data.contains("text") && !data.contains("content") {
            return;
        }
        if let Ok(v) = serde_json::from_str::<Value>(data) {
            self.observe(&v);
        }
    }

    /// Reads one JSON value (an event or a whole answer; Gemini arrays element by element).
    pub fn observe(&mut self, v: &Value) {
        if let Value::Array(items) = v {
            for item in items {
                self.observe(item);
            }
            return;
        }
        let str_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match v.get("type").and_then(Value::as_str) {
            // Anthropic stream
            Some("content_block_delta") => {
                if let Some(t) = v.get("delta").and_then(|d| str_at(d, "text")) {
                    self.push(&t);
                }
                return;
            }
            // Responses stream
            Some("response.output_text.delta") => {
                if let Some(t) = str_at(v, "delta") {
                    self.push(&t);
                }
                return;
            }
            // Anthropic whole answer
            Some("message") => {
                for block in v
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(t) = str_at(block, "text") {
                        self.push(&t);
                    }
                }
                return;
            }
            // Responses whole answer
            Some("response") | None if v.get("output").is_some() => {
                for item in v
                    .get("output")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for c in item
                        .get("content")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if let Some(t) = str_at(c, "text") {
                            self.push(&t);
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        // Chat (stream delta or whole message)
        for choice in v
            .get("choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for holder in [choice.get("delta"), choice.get("message")]
                .into_iter()
                .flatten()
            {
                if let Some(t) = str_at(holder, "content") {
                    self.push(&t);
                }
            }
        }
        // Gemini
        for cand in v
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let parts = cand.get("content").and_then(|c| c.get("parts"));
            for part in parts.and_then(Value::as_array).into_iter().flatten() {
                if let Some(t) = str_at(part, "text") {
                    self.push(&t);
                }
            }
        }
    }

    /// The text collected (`None` when there was none).
    pub fn finish(self) -> Option<String> {
        (!self.text.is_empty()).then_some(self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(values: &[Value]) -> Option<String> {
        let mut a = AnswerText::default();
        for v in values {
            a.observe(v);
        }
        a.finish()
    }

    #[test]
    fn every_protocol() {
        let anthropic = [
            json!({"type":"content_block_delta","delta":{"type":"text_delta","text":"Hel"}}),
            json!({"type":"content_block_delta","delta":{"type":"text_delta","text":"lo"}}),
        ];
        assert_eq!(text(&anthropic).as_deref(), Some("Hello"));
        let whole = json!({"type":"message","content":[{"type":"text","text":"Hi"}]});
        assert_eq!(text(&[whole]).as_deref(), Some("Hi"));
        let responses = json!({"type":"response.output_text.delta","delta":"ok"});
        assert_eq!(text(&[responses]).as_deref(), Some("ok"));
        let resp_whole = json!({"object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"done"}]}]});
        assert_eq!(text(&[resp_whole]).as_deref(), Some("done"));
        let chat = json!({"choices":[{"delta":{"content":"a"}}]});
        let chat2 = json!({"choices":[{"message":{"content":"b"}}]});
        assert_eq!(text(&[chat, chat2]).as_deref(), Some("ab"));
        let gemini = json!([{"candidates":[{"content":{"parts":[{"text":"g"}]}}]}]);
        assert_eq!(text(&[gemini]).as_deref(), Some("g"));
        assert_eq!(text(&[json!({"usage":{}})]), None);
    }

    #[test]
    fn capped() {
        let mut a = AnswerText::default();
        let big = "x".repeat(MAX_CONTENT_BYTES + 10);
        a.push(&big);
        a.push("more");
        assert_eq!(a.finish().unwrap().len(), MAX_CONTENT_BYTES);
    }
}
