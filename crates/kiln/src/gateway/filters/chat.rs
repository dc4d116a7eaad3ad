//! Request filters for the Chat Completions flavour (OpenCode, Hermes), from the known
//! Databricks incompatibilities. Each fixes one thing Databricks refuses for the model family
//! it is applied to, and leaves a valid request untouched.

use serde_json::Value;
use std::collections::HashSet;

/// JSON-Schema keys Gemini refuses in function parameters.
pub const GEMINI_SCHEMA_KEYS: [&str; 6] = [
    "$schema",
    "$ref",
    "$defs",
    "$id",
    "$comment",
    "additionalProperties",
];

/// True for an empty or whitespace-only text.
fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// Empty text content for Claude models ("text content blocks must be non-empty"): empty text
/// parts are dropped; a message left empty becomes `null` content when it carries tool calls,
/// `"(no output)"` when it is a tool result (dropping it would orphan its call), and is
/// dropped otherwise.
pub fn fix_empty_text(body: &mut Value) -> bool {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    messages.retain_mut(|m| {
        let now_empty = match m.get_mut("content") {
            Some(Value::String(s)) => blank(s),
            Some(Value::Array(parts)) => {
                let n = parts.len();
                parts.retain(|p| {
                    p.get("type").and_then(Value::as_str) != Some("text")
                        || !p.get("text").and_then(Value::as_str).is_some_and(blank)
                });
                if parts.len() != n {
                    changed = true;
                    parts.is_empty()
                } else {
                    false
                }
            }
            _ => false,
        };
        if !now_empty {
            return true;
        }
        changed = true;
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let has_calls = m
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|c| !c.is_empty());
        match (role, has_calls) {
            (_, true) => {
                m["content"] = Value::Null;
                true
            }
            ("tool", false) => {
                m["content"] = Value::String("(no output)".to_owned());
                true
            }
            _ => false,
        }
    });
    changed
}

/// Orphaned tool results: `tool` messages whose `tool_call_id` answers no call of the
/// assistant message before them are dropped.
pub fn drop_orphan_tool_messages(body: &mut Value) -> bool {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut open: HashSet<String> = HashSet::new();
    let mut keep = Vec::with_capacity(messages.len());
    for m in messages.iter() {
        match m.get("role").and_then(Value::as_str) {
            Some("assistant") => {
                open = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                keep.push(true);
            }
            Some("tool") => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                keep.push(open.contains(id));
            }
            _ => {
                open.clear();
                keep.push(true);
            }
        }
    }
    if keep.iter().all(|k| *k) {
        return false;
    }
    let mut flags = keep.into_iter();
    messages.retain(|_| flags.next().unwrap_or(true));
    true
}

/// Removes Gemini-refused keys from one JSON Schema, recursively. Under `properties` the keys
/// are property names (kept; their schemas are cleaned).
fn clean_schema(schema: &mut Value) -> bool {
    match schema {
        Value::Object(map) => {
            let before = map.len();
            map.retain(|k, _| !GEMINI_SCHEMA_KEYS.contains(&k.as_str()));
            let mut changed = map.len() != before;
            for (k, v) in map.iter_mut() {
                if k == "properties" {
                    if let Value::Object(props) = v {
                        for p in props.values_mut() {
                            changed |= clean_schema(p);
                        }
                    }
                } else {
                    changed |= clean_schema(v);
                }
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, i| clean_schema(i) | c),
        _ => false,
    }
}

/// JSON-Schema keys Gemini refuses (`$schema`, `$ref`, `$defs`, `$id`, `$comment`,
/// `additionalProperties`), removed from every tool's parameters. For Gemini models only.
pub fn strip_gemini_schema_keys(body: &mut Value) -> bool {
    let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    for tool in tools {
        if let Some(params) = tool
            .get_mut("function")
            .and_then(|f| f.get_mut("parameters"))
        {
            changed |= clean_schema(params);
        }
    }
    changed
}

/// A top-level `stream_options`, which Gemini refuses, is removed. For Gemini models only.
pub fn drop_gemini_stream_options(body: &mut Value) -> bool {
    body.as_object_mut()
        .and_then(|m| m.remove("stream_options"))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_text() {
        let mut v = json!({"messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "assistant", "content": [{"type": "text", "text": ""}]},
            {"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "more"}]}]});
        assert!(fix_empty_text(&mut v));
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 5);
        assert!(m[2]["content"].is_null());
        assert_eq!(m[3]["content"], "(no output)");
        assert_eq!(m[4]["content"], json!([{"type": "text", "text": "more"}]));
    }

    #[test]
    fn orphan_tool_messages() {
        let mut v = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "x", "content": "orphan"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "tool", "tool_call_id": "c2", "content": "stale"}]});
        assert!(drop_orphan_tool_messages(&mut v));
        let ids: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m.get("tool_call_id").and_then(Value::as_str))
            .collect();
        assert_eq!(ids, ["c1"]);
    }

    #[test]
    fn gemini_schema_and_stream_options() {
        let mut v = json!({"stream": true, "stream_options": {"include_usage": true}, "tools": [{"type": "function", "function": {
            "name": "f", "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "additionalProperties": false,
                "properties": {
                    "additionalProperties": {"type": "string", "$comment": "a property with that name"},
                    "items": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}]});
        assert!(strip_gemini_schema_keys(&mut v));
        assert!(drop_gemini_stream_options(&mut v));
        assert_eq!(
            v["tools"][0]["function"]["parameters"],
            json!({"type": "object", "properties": {
            "additionalProperties": {"type": "string"},
            "items": {"type": "array", "items": {"type": "object"}}}})
        );
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn valid_requests_are_untouched() {
        let valid = json!({"model": "databricks-gemini-2-5-pro", "stream": true,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
            "tools": [{"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {"path": {"type": "string"}}}}}]});
        let mut v = valid.clone();
        assert!(!fix_empty_text(&mut v));
        assert!(!drop_orphan_tool_messages(&mut v));
        assert!(!strip_gemini_schema_keys(&mut v));
        assert!(!drop_gemini_stream_options(&mut v));
        assert_eq!(v, valid);
    }
}
