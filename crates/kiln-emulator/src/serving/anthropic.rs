//! Anthropic Messages (`…/anthropic/v1/messages`, what Claude Code calls): the JSON message and
//! the SSE event sequence `message_start`, `content_block_start`, `ping`,
//! `content_block_delta` (`text_delta` / `input_json_delta`), `content_block_stop`,
//! `message_delta` (stop reason, usage), `message_stop`; plus `count_tokens` and the AI
//! Gateway's model list.

use super::ServingState;
use super::answer::{Answer, AnswerBody, Part, json_deltas, object_args, text_deltas, text_of};
use super::call::{Reply, required_array, required_str, resolve, stream_flag};
use super::catalog::API_ANTHROPIC;
use super::error::ServingError;
use super::quirks::check_anthropic;
use super::sse::SseEvent;
use super::time::rfc3339;
use serde_json::{Value, json};

/// Answers `POST …/anthropic/v1/messages`.
pub(crate) fn messages(
    state: &ServingState,
    gateway: bool,
    body: &Value,
) -> Result<Reply, ServingError> {
    let model = required_str(body, "model")?;
    let messages = required_array(body, "messages")?;
    let stream = stream_flag(body)?;
    let endpoint = resolve(state, model, gateway, API_ANTHROPIC, "Anthropic Messages")?;
    check_anthropic(&state.quirks(), body)?;
    let answer = Answer::next(state, &endpoint.name, &last_user_turn(messages), body);
    Ok(if stream {
        Reply::Events(events(model, &answer))
    } else {
        Reply::Json(message_json(model, &answer))
    })
}

/// Answers `POST …/anthropic/v1/messages/count_tokens` with `{"input_tokens": N}`.
pub(crate) fn count_tokens(
    state: &ServingState,
    gateway: bool,
    body: &Value,
) -> Result<Reply, ServingError> {
    let model = required_str(body, "model")?;
    required_array(body, "messages")?;
    resolve(state, model, gateway, API_ANTHROPIC, "Anthropic Messages")?;
    Ok(Reply::Json(
        json!({"input_tokens": super::answer::input_tokens(body)}),
    ))
}

/// `GET /ai-gateway/anthropic/v1/models`: the Claude endpoints in Anthropic's list format.
pub(crate) fn models(state: &ServingState) -> Value {
    let data: Vec<Value> = state
        .endpoints()
        .iter()
        .filter(|e| e.supports(API_ANTHROPIC))
        .map(|e| {
            json!({
                "type": "model",
                "id": e.name,
                "display_name": e.display_name,
                "created_at": rfc3339(e.creation_timestamp_ms / 1000),
            })
        })
        .collect();
    let first = data.first().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    let last = data.last().map(|m| m["id"].clone()).unwrap_or(Value::Null);
    json!({"data": data, "has_more": false, "first_id": first, "last_id": last})
}

/// The parts of the last `user` message: text blocks and tool results.
fn last_user_turn(messages: &[Value]) -> Vec<Part> {
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return Vec::new();
    };
    match last.get("content") {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| match b.get("type").and_then(Value::as_str) {
                Some("text") => b
                    .get("text")
                    .and_then(Value::as_str)
                    .map(|t| Part::Text(t.to_owned())),
                Some("tool_result") => Some(Part::ToolResult(text_of(
                    b.get("content").unwrap_or(&Value::Null),
                ))),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn usage(answer: &Answer, output_tokens: u64) -> Value {
    json!({
        "input_tokens": answer.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    })
}

fn stop_reason(answer: &Answer) -> &'static str {
    match answer.body {
        AnswerBody::Text(_) => "end_turn",
        AnswerBody::ToolCall { .. } => "tool_use",
    }
}

/// The non-streaming message object.
fn message_json(model: &str, answer: &Answer) -> Value {
    let block = match &answer.body {
        AnswerBody::Text(text) => json!({"type": "text", "text": text}),
        AnswerBody::ToolCall { name, arguments } => json!({
            "type": "tool_use",
            "id": answer.id("toolu_"),
            "name": name,
            "input": object_args(arguments),
        }),
    };
    json!({
        "id": answer.id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [block],
        "stop_reason": stop_reason(answer),
        "stop_sequence": null,
        "usage": usage(answer, answer.output_tokens),
    })
}

/// The streamed event sequence.
fn events(model: &str, answer: &Answer) -> Vec<SseEvent> {
    let mut out = vec![SseEvent::named(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": answer.id("msg_"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage(answer, 1),
            },
        }),
    )];
    let (start_block, deltas): (Value, Vec<Value>) = match &answer.body {
        AnswerBody::Text(text) => (
            json!({"type": "text", "text": ""}),
            text_deltas(text)
                .into_iter()
                .map(|t| json!({"type": "text_delta", "text": t}))
                .collect(),
        ),
        AnswerBody::ToolCall { name, arguments } => (
            json!({"type": "tool_use", "id": answer.id("toolu_"), "name": name, "input": {}}),
            json_deltas(&object_args(arguments).to_string())
                .into_iter()
                .map(|j| json!({"type": "input_json_delta", "partial_json": j}))
                .collect(),
        ),
    };
    out.push(SseEvent::named(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": start_block}),
    ));
    out.push(SseEvent::named("ping", &json!({"type": "ping"})));
    for delta in deltas {
        out.push(SseEvent::named(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        ));
    }
    out.push(SseEvent::named(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(SseEvent::named(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(answer), "stop_sequence": null},
            "usage": {"output_tokens": answer.output_tokens},
        }),
    ));
    out.push(SseEvent::named(
        "message_stop",
        &json!({"type": "message_stop"}),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::ScriptStep;
    use crate::serving::sse::roundtrip;

    fn state() -> ServingState {
        ServingState::new(ServingState::default_catalog())
    }

    fn request(stream: bool) -> Value {
        json!({
            "model": "databricks-claude-sonnet-4-5",
            "max_tokens": 1024,
            "stream": stream,
            "system": [{"type": "text", "text": "You are Claude Code."}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                {"type": "text", "text": "say hello please"}]}],
        })
    }

    #[test]
    fn json_text_answer() {
        let reply = messages(&state(), false, &request(false)).unwrap();
        let Reply::Json(v) = reply else {
            panic!("expected JSON")
        };
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert_eq!(v["content"][0]["type"], "text");
        assert_eq!(v["content"][0]["text"], "kiln-emulator: say hello please");
        assert_eq!(v["stop_reason"], "end_turn");
        assert_eq!(v["usage"]["output_tokens"], 4);
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 5);
    }

    #[test]
    fn sse_text_answer_has_the_event_sequence() {
        let Reply::Events(events) = messages(&state(), false, &request(true)).unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        let names: Vec<&str> = parsed.iter().filter_map(|(e, _)| e.as_deref()).collect();
        assert_eq!(names[..3], ["message_start", "content_block_start", "ping"]);
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        for (name, data) in &parsed {
            assert_eq!(Some(data["type"].as_str().unwrap()), name.as_deref());
        }
        let text: String = parsed
            .iter()
            .filter(|(e, _)| e.as_deref() == Some("content_block_delta"))
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "text_delta");
                d["delta"]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(text, "kiln-emulator: say hello please");
        assert!(
            names
                .iter()
                .filter(|n| **n == "content_block_delta")
                .count()
                > 1
        );
        let delta = &parsed[parsed.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 4);
        assert_eq!(
            parsed[0].1["message"]["model"],
            "databricks-claude-sonnet-4-5"
        );
    }

    #[test]
    fn scripted_tool_call_in_both_shapes() {
        let s = state();
        let args = json!({"command": "echo hi", "description": "greet"});
        for _ in 0..2 {
            s.push_script(ScriptStep::ToolCall {
                name: "Bash".into(),
                arguments: args.clone(),
            });
        }
        let Reply::Json(v) = messages(&s, true, &request(false)).unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(v["stop_reason"], "tool_use");
        assert_eq!(v["content"][0]["type"], "tool_use");
        assert_eq!(v["content"][0]["name"], "Bash");
        assert_eq!(v["content"][0]["input"], args);
        assert!(
            v["content"][0]["id"]
                .as_str()
                .unwrap()
                .starts_with("toolu_")
        );

        let Reply::Events(events) = messages(&s, true, &request(true)).unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        assert_eq!(parsed[1].1["content_block"]["type"], "tool_use");
        assert_eq!(parsed[1].1["content_block"]["name"], "Bash");
        let json: String = parsed
            .iter()
            .filter(|(e, _)| e.as_deref() == Some("content_block_delta"))
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "input_json_delta");
                d["delta"]["partial_json"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), args);
        assert_eq!(
            parsed[parsed.len() - 2].1["delta"]["stop_reason"],
            "tool_use"
        );
    }

    #[test]
    fn tool_result_turn_is_echoed() {
        let body = json!({"model": "databricks-claude-opus-4-1", "max_tokens": 10, "messages": [
            {"role": "user", "content": "run it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                "content": [{"type": "text", "text": "hi"}]}]}]});
        let Reply::Json(v) = messages(&state(), false, &body).unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(v["content"][0]["text"], "kiln-emulator: tool result: hi");
    }

    #[test]
    fn refusals() {
        let s = state();
        let mut body = request(false);
        body["model"] = json!("databricks-claude-nope");
        assert!(matches!(
            messages(&s, false, &body),
            Err(ServingError::NoEndpoint(_))
        ));
        body["model"] = json!("databricks-gpt-5");
        assert!(matches!(
            messages(&s, false, &body),
            Err(ServingError::BadRequest(_))
        ));
        body["model"] = json!("system.ai.claude-sonnet-4-5");
        assert!(matches!(
            messages(&s, false, &body),
            Err(ServingError::NoEndpoint(_))
        ));
        assert!(messages(&s, true, &body).is_ok());
        assert!(messages(&s, false, &json!({"model": "databricks-claude-sonnet-4-5"})).is_err());
    }

    #[test]
    fn model_list_and_count() {
        let s = state();
        let list = models(&s);
        let ids: Vec<&str> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&"databricks-claude-sonnet-4-5"));
        assert!(!ids.iter().any(|id| id.contains("gpt")));
        assert_eq!(list["data"][0]["created_at"], "2025-01-01T00:00:00Z");
        let Reply::Json(v) = count_tokens(&s, false, &request(false)).unwrap() else {
            panic!("expected JSON")
        };
        assert!(v["input_tokens"].as_u64().unwrap() > 0);
    }
}
