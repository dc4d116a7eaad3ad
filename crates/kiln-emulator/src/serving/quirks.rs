//! Request checks Databricks is known to apply beyond the wire formats (from the agent-CLI
//! reference's list of incompatibilities), so that kiln's gateway filters meet them in tests.

use super::error::ServingError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;

/// JSON-Schema keys Gemini refuses in tool parameter schemas.
const GEMINI_SCHEMA_KEYS: &[&str] = &[
    "$schema",
    "$ref",
    "$defs",
    "$id",
    "$comment",
    "additionalProperties",
];
/// Anthropic's message for an empty text block.
const EMPTY_TEXT: &str = "messages: text content blocks must be non-empty";

/// Switches for the extra checks. `Default` has every request check on and the response quirk
/// off; [`Quirks::none`] turns everything off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quirks {
    /// Claude endpoints (Messages and Chat) refuse empty text content with 400
    /// `messages: text content blocks must be non-empty`.
    pub claude_rejects_empty_text: bool,
    /// Claude endpoints refuse tool results that answer no tool call of the preceding assistant
    /// message.
    pub claude_rejects_orphan_tool_results: bool,
    /// Gemini endpoints on Chat Completions refuse tool schemas with `$schema`, `$ref`, `$defs`,
    /// `$id`, `$comment` or `additionalProperties`.
    pub gemini_rejects_schema_keys: bool,
    /// Gemini endpoints on Chat Completions refuse a top-level `stream_options`.
    pub gemini_rejects_stream_options: bool,
    /// Chat Completions ends tool-call answers with `finish_reason: "stop"` instead of
    /// `"tool_calls"`, as Databricks does for some models.
    pub tool_calls_finish_with_stop: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            claude_rejects_empty_text: true,
            claude_rejects_orphan_tool_results: true,
            gemini_rejects_schema_keys: true,
            gemini_rejects_stream_options: true,
            tool_calls_finish_with_stop: false,
        }
    }
}

impl Quirks {
    /// No extra checks, no response quirks.
    pub fn none() -> Self {
        Self {
            claude_rejects_empty_text: false,
            claude_rejects_orphan_tool_results: false,
            gemini_rejects_schema_keys: false,
            gemini_rejects_stream_options: false,
            tool_calls_finish_with_stop: false,
        }
    }
}

/// Whether a content value holds an empty text (an empty string, or a text part with `""`).
fn has_empty_text(content: &Value) -> bool {
    match content {
        Value::String(s) => s.is_empty(),
        Value::Array(parts) => parts.iter().any(|p| {
            p.get("type").and_then(Value::as_str) == Some("text")
                && p.get("text").and_then(Value::as_str) == Some("")
        }),
        _ => false,
    }
}

/// Checks of a Chat Completions body for an endpoint of `family`.
pub(crate) fn check_chat(q: &Quirks, family: &str, body: &Value) -> Result<(), ServingError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if family == "anthropic" {
        if q.claude_rejects_empty_text
            && messages
                .iter()
                .any(|m| m.get("content").is_some_and(has_empty_text))
        {
            return Err(ServingError::BadRequest(EMPTY_TEXT.to_owned()));
        }
        if q.claude_rejects_orphan_tool_results {
            let mut open: HashSet<&str> = HashSet::new();
            for m in messages {
                match m.get("role").and_then(Value::as_str) {
                    Some("assistant") => {
                        open = m
                            .get("tool_calls")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(|c| c.get("id").and_then(Value::as_str))
                            .collect();
                    }
                    Some("tool") => {
                        let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                        if !open.contains(id) {
                            return Err(orphan(id));
                        }
                    }
                    _ => open.clear(),
                }
            }
        }
    }
    if family == "google" {
        if q.gemini_rejects_stream_options && body.get("stream_options").is_some() {
            return Err(ServingError::BadRequest(
                "Invalid JSON payload received. Unknown name \"stream_options\": Cannot find field."
                    .to_owned(),
            ));
        }
        if q.gemini_rejects_schema_keys {
            let tools = body.get("tools").and_then(Value::as_array);
            for (i, tool) in tools.into_iter().flatten().enumerate() {
                let params = tool.get("function").and_then(|f| f.get("parameters"));
                if let Some(key) = params.and_then(forbidden_schema_key) {
                    return Err(ServingError::BadRequest(format!(
                        "Invalid JSON payload received. Unknown name \"{key}\" at \
                         'tools[{i}].function_declarations[0].parameters': Cannot find field."
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Checks of an Anthropic Messages body (Claude endpoints only ever get here).
pub(crate) fn check_anthropic(q: &Quirks, body: &Value) -> Result<(), ServingError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if q.claude_rejects_empty_text
        && messages
            .iter()
            .any(|m| m.get("content").is_some_and(has_empty_text))
    {
        return Err(ServingError::BadRequest(EMPTY_TEXT.to_owned()));
    }
    if q.claude_rejects_orphan_tool_results {
        let mut previous_tool_uses: HashSet<&str> = HashSet::new();
        for m in messages {
            let blocks = m
                .get("content")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let of_type = |t: &'static str| {
                blocks
                    .iter()
                    .filter(move |b| b.get("type").and_then(Value::as_str) == Some(t))
            };
            match m.get("role").and_then(Value::as_str) {
                Some("assistant") => {
                    previous_tool_uses = of_type("tool_use")
                        .filter_map(|b| b.get("id").and_then(Value::as_str))
                        .collect();
                }
                _ => {
                    for result in of_type("tool_result") {
                        let id = result
                            .get("tool_use_id")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        if !previous_tool_uses.contains(id) {
                            return Err(orphan(id));
                        }
                    }
                    previous_tool_uses.clear();
                }
            }
        }
    }
    Ok(())
}

fn orphan(id: &str) -> ServingError {
    ServingError::BadRequest(format!(
        "messages: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each \
         `tool_result` block must have a corresponding `tool_use` block in the previous message."
    ))
}

/// The first forbidden JSON-Schema key anywhere in `schema`.
fn forbidden_schema_key(schema: &Value) -> Option<&'static str> {
    match schema {
        Value::Object(map) => {
            for key in map.keys() {
                if let Some(k) = GEMINI_SCHEMA_KEYS.iter().find(|k| **k == key.as_str()) {
                    return Some(k);
                }
            }
            map.values().find_map(forbidden_schema_key)
        }
        Value::Array(items) => items.iter().find_map(forbidden_schema_key),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claude_chat_checks() {
        let q = Quirks::default();
        let empty = json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": ""}, {"role": "user", "content": "again"}]});
        let err = check_chat(&q, "anthropic", &empty).expect_err("empty text refused");
        assert!(err.to_string().contains("non-empty"));
        assert!(check_chat(&q, "openai", &empty).is_ok());
        assert!(check_chat(&Quirks::none(), "anthropic", &empty).is_ok());

        let orphan = json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "call_1", "content": "out"}]});
        assert!(check_chat(&q, "anthropic", &orphan).is_err());
        let paired = json!({"messages": [{"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
              "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "out"}]});
        assert!(check_chat(&q, "anthropic", &paired).is_ok());
    }

    #[test]
    fn gemini_chat_checks() {
        let q = Quirks::default();
        let with_schema = json!({"messages": [], "tools": [{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {
                "a": {"type": "object", "additionalProperties": false}}}}}]});
        let err = check_chat(&q, "google", &with_schema).expect_err("schema key refused");
        assert!(err.to_string().contains("additionalProperties"));
        let opts = json!({"messages": [], "stream_options": {"include_usage": true}});
        assert!(check_chat(&q, "google", &opts).is_err());
        assert!(check_chat(&q, "anthropic", &opts).is_ok());
    }

    #[test]
    fn anthropic_messages_checks() {
        let q = Quirks::default();
        let ok = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x"}]}]});
        assert!(check_anthropic(&q, &ok).is_ok());
        let orphan = json!({"messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}]});
        assert!(check_anthropic(&q, &orphan).is_err());
        let empty =
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}]});
        assert!(check_anthropic(&q, &empty).is_err());
    }
}
