//! Request filters for the Anthropic Messages flavour (Claude models only ever get here).
//! Each fixes one thing Databricks refuses and leaves a valid request untouched.

use serde_json::Value;
use std::collections::HashSet;

/// A text block with nothing but whitespace.
fn is_empty_text_block(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("text")
        && block
            .get("text")
            .and_then(Value::as_str)
            .is_some_and(|t| t.trim().is_empty())
}

/// Empty text content ("text content blocks must be non-empty"): drops empty text blocks
/// from messages and the system prompt; a message left with no content at all is dropped.
pub fn drop_empty_text_blocks(body: &mut Value) -> bool {
    let mut changed = false;
    if let Some(system) = body.get_mut("system").and_then(Value::as_array_mut) {
        let before = system.len();
        system.retain(|b| !is_empty_text_block(b));
        changed |= system.len() != before;
    }
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return changed;
    };
    let before = messages.len();
    messages.retain_mut(|m| match m.get_mut("content") {
        Some(Value::String(s)) if s.trim().is_empty() => {
            changed = true;
            false
        }
        Some(Value::Array(blocks)) => {
            let n = blocks.len();
            blocks.retain(|b| !is_empty_text_block(b));
            if blocks.len() != n {
                changed = true;
                !blocks.is_empty()
            } else {
                true
            }
        }
        _ => true,
    });
    changed | (messages.len() != before)
}

/// Orphaned tool results: `tool_result` blocks whose `tool_use_id` is not a `tool_use` of the
/// assistant message right before are dropped (a message left empty is dropped too).
pub fn drop_orphan_tool_results(body: &mut Value) -> bool {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    let mut open: HashSet<String> = HashSet::new();
    let mut keep = Vec::with_capacity(messages.len());
    for m in messages.iter_mut() {
        let is_assistant = m.get("role").and_then(Value::as_str) == Some("assistant");
        let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) else {
            // Plain-text content: no tool use to answer, no tool result to check.
            open.clear();
            keep.push(true);
            continue;
        };
        if is_assistant {
            open = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
                .filter_map(|b| b.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect();
            keep.push(true);
            continue;
        }
        let n = blocks.len();
        blocks.retain(|b| {
            b.get("type").and_then(Value::as_str) != Some("tool_result")
                || b.get("tool_use_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| open.contains(id))
        });
        open.clear();
        if blocks.len() != n {
            changed = true;
            keep.push(!blocks.is_empty());
        } else {
            keep.push(true);
        }
    }
    if changed {
        let mut flags = keep.into_iter();
        messages.retain(|_| flags.next().unwrap_or(true));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_text_blocks() {
        let mut v = json!({"system": [{"type": "text", "text": "be brief"}, {"type": "text", "text": ""}],
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": " "}, {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": ""}]},
                {"role": "user", "content": "again"}]});
        assert!(drop_empty_text_blocks(&mut v));
        assert_eq!(v["system"], json!([{"type": "text", "text": "be brief"}]));
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[1]["content"],
            json!([{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}])
        );
        assert_eq!(m[3]["content"], "again");
    }

    #[test]
    fn orphan_tool_results() {
        let mut v = json!({"messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "gone", "content": "x"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                {"type": "tool_result", "tool_use_id": "t0", "content": "stale"},
                {"type": "text", "text": "go on"}]}]});
        assert!(drop_orphan_tool_results(&mut v));
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[1]["content"].as_array().unwrap().len(), 2);
        assert_eq!(m[1]["content"][0]["tool_use_id"], "t1");
    }

    #[test]
    fn valid_requests_are_untouched() {
        let valid = json!({"model": "databricks-claude-sonnet-4-5", "system": "x", "max_tokens": 10,
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": ""}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": ""}]}]});
        let mut v = valid.clone();
        assert!(!drop_empty_text_blocks(&mut v));
        assert!(!drop_orphan_tool_results(&mut v));
        assert_eq!(v, valid);
        let mut odd = json!({"messages": "not a list"});
        assert!(!drop_empty_text_blocks(&mut odd));
        assert!(!drop_orphan_tool_results(&mut odd));
    }
}
