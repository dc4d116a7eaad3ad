//! OpenAI Responses (`…/responses`, what Codex calls): the `response` object, and the stream
//! `response.created`, `response.in_progress`, `response.output_item.added`, then either
//! `response.content_part.added` / `response.output_text.delta` / `response.output_text.done` /
//! `response.content_part.done` (text) or `response.function_call_arguments.delta` / `.done`
//! (a `function_call` item), then `response.output_item.done` and `response.completed` with
//! usage. Every event carries a `sequence_number`.

use super::ServingState;
use super::answer::{Answer, AnswerBody, Part, json_deltas, str_field, text_deltas, text_of};
use super::call::{Reply, required_str, resolve, resolve_chat, stream_flag};
use super::catalog::API_RESPONSES;
use super::error::ServingError;
use super::sse::SseEvent;
use super::time::unix_now;
use serde_json::{Value, json};

/// Answers `POST …/responses`. `any_family`: the multi-provider paths, which serve every chat
/// endpoint; otherwise only OpenAI models (the passthrough).
pub(crate) fn create(
    state: &ServingState,
    gateway: bool,
    any_family: bool,
    body: &Value,
) -> Result<Reply, ServingError> {
    let model = required_str(body, "model")?;
    let input = match body.get("input") {
        Some(v @ (Value::String(_) | Value::Array(_))) => v,
        _ => return Err(ServingError::field("input", "a string or an array")),
    };
    let stream = stream_flag(body)?;
    let endpoint = if any_family {
        resolve_chat(state, model, gateway)?
    } else {
        resolve(state, model, gateway, API_RESPONSES, "OpenAI Responses")?
    };
    let answer = Answer::next(state, &endpoint.name, &last_user_turn(input), body);
    let shape = Shape {
        model,
        created_at: unix_now(),
        instructions: body.get("instructions").cloned().unwrap_or(Value::Null),
    };
    Ok(if stream {
        Reply::Events(shape.events(&answer))
    } else {
        Reply::Json(shape.response(&answer, "completed", vec![item(&answer, true)], true))
    })
}

/// The last user-side input: a string input, the trailing `function_call_output`, or the
/// parts of the last user message.
fn last_user_turn(input: &Value) -> Vec<Part> {
    let items = match input {
        Value::String(s) => return vec![Part::Text(s.clone())],
        Value::Array(items) => items,
        _ => return Vec::new(),
    };
    fn kind(i: &Value) -> &str {
        match str_field(i, "type") {
            "" => "message",
            other => other,
        }
    }
    let Some(last) = items.iter().rev().find(|i| {
        kind(i) == "function_call_output"
            || (kind(i) == "message" && str_field(i, "role") == "user")
    }) else {
        return Vec::new();
    };
    if kind(last) == "function_call_output" {
        return vec![Part::ToolResult(text_of(
            last.get("output").unwrap_or(&Value::Null),
        ))];
    }
    match last.get("content") {
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| Part::Text(t.to_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

/// The output item of an answer, finished or just opened.
fn item(answer: &Answer, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match &answer.body {
        AnswerBody::Text(text) => {
            let content = if done {
                json!([output_text(text)])
            } else {
                json!([])
            };
            json!({"id": answer.id("msg_"), "type": "message", "status": status,
                   "role": "assistant", "content": content})
        }
        AnswerBody::ToolCall { name, arguments } => {
            let args = if done {
                arguments.to_string()
            } else {
                String::new()
            };
            json!({"id": answer.id("fc_"), "type": "function_call", "status": status,
                   "call_id": answer.id("call_"), "name": name, "arguments": args})
        }
    }
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": []})
}

struct Shape<'a> {
    model: &'a str,
    created_at: u64,
    instructions: Value,
}

impl Shape<'_> {
    /// The `response` object in a given status.
    fn response(&self, answer: &Answer, status: &str, output: Vec<Value>, usage: bool) -> Value {
        let usage = if usage {
            json!({
                "input_tokens": answer.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": answer.output_tokens,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": answer.input_tokens + answer.output_tokens,
            })
        } else {
            Value::Null
        };
        json!({
            "id": answer.id("resp_"),
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "instructions": self.instructions,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": true,
            "tool_choice": "auto",
            "usage": usage,
        })
    }

    /// The streamed events.
    fn events(&self, answer: &Answer) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut push = |name: &'static str, mut data: Value| {
            data["type"] = json!(name);
            data["sequence_number"] = json!(out.len());
            out.push(SseEvent::named(name, &data));
        };
        let in_progress = self.response(answer, "in_progress", vec![], false);
        push("response.created", json!({"response": in_progress}));
        push("response.in_progress", json!({"response": in_progress}));
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": item(answer, false)}),
        );
        match &answer.body {
            AnswerBody::Text(text) => {
                let ids =
                    json!({"item_id": answer.id("msg_"), "output_index": 0, "content_index": 0});
                let with = |extra: Value| {
                    let mut v = ids.clone();
                    if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
                        map.extend(more);
                    }
                    v
                };
                push(
                    "response.content_part.added",
                    with(json!({"part": output_text("")})),
                );
                for piece in text_deltas(text) {
                    push(
                        "response.output_text.delta",
                        with(json!({"delta": piece, "logprobs": []})),
                    );
                }
                push(
                    "response.output_text.done",
                    with(json!({"text": text, "logprobs": []})),
                );
                push(
                    "response.content_part.done",
                    with(json!({"part": output_text(text)})),
                );
            }
            AnswerBody::ToolCall { arguments, .. } => {
                let item_id = answer.id("fc_");
                let args = arguments.to_string();
                for piece in json_deltas(&args) {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": 0, "delta": piece}),
                    );
                }
                push(
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": 0, "arguments": args}),
                );
            }
        }
        let done = item(answer, true);
        push(
            "response.output_item.done",
            json!({"output_index": 0, "item": done}),
        );
        push(
            "response.completed",
            json!({"response": self.response(answer, "completed", vec![done], true)}),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::ScriptStep;
    use crate::serving::sse::roundtrip;

    fn state() -> ServingState {
        ServingState::new(ServingState::default_catalog())
    }

    fn codex_request(model: &str) -> Value {
        json!({
            "model": model,
            "instructions": "You are Codex.",
            "stream": true,
            "store": false,
            "input": [
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "<environment_context>cwd</environment_context>"}]},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "print hello world"}]},
            ],
            "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
        })
    }

    #[test]
    fn sse_text_event_sequence() {
        let Reply::Events(events) =
            create(&state(), false, false, &codex_request("databricks-gpt-5")).unwrap()
        else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        let names: Vec<&str> = parsed.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
        assert_eq!(
            names[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ]
        );
        assert_eq!(
            names[names.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        for (i, (name, data)) in parsed.iter().enumerate() {
            assert_eq!(data["type"].as_str(), name.as_deref());
            assert_eq!(data["sequence_number"], i);
        }
        let text: String = parsed
            .iter()
            .filter(|(e, _)| e.as_deref() == Some("response.output_text.delta"))
            .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, "kiln-emulator: print hello world");
        assert!(
            names
                .iter()
                .filter(|n| **n == "response.output_text.delta")
                .count()
                > 1
        );
        let completed = &parsed.last().unwrap().1["response"];
        assert_eq!(completed["status"], "completed");
        assert_eq!(completed["output"][0]["type"], "message");
        assert_eq!(completed["output"][0]["content"][0]["text"], text);
        assert_eq!(completed["usage"]["output_tokens"], 4);
        assert_eq!(completed["instructions"], "You are Codex.");
        assert_eq!(parsed[0].1["response"]["status"], "in_progress");
    }

    #[test]
    fn function_call_item_stream_and_json() {
        let s = state();
        let args = json!({"command": ["bash", "-lc", "echo hi"]});
        for _ in 0..2 {
            s.push_script(ScriptStep::ToolCall {
                name: "shell".into(),
                arguments: args.clone(),
            });
        }
        let Reply::Events(events) =
            create(&s, true, false, &codex_request("system.ai.gpt-5")).unwrap()
        else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        let added = &parsed[2].1["item"];
        assert_eq!(added["type"], "function_call");
        assert_eq!(added["name"], "shell");
        let deltas: String = parsed
            .iter()
            .filter(|(e, _)| e.as_deref() == Some("response.function_call_arguments.delta"))
            .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&deltas).unwrap(), args);
        let done = &parsed[parsed.len() - 2].1["item"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["call_id"], added["call_id"]);

        let mut body = codex_request("databricks-gpt-5");
        body["stream"] = json!(false);
        let Reply::Json(v) = create(&s, false, false, &body).unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(v["object"], "response");
        assert_eq!(v["output"][0]["type"], "function_call");
        let decoded: Value =
            serde_json::from_str(v["output"][0]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, args);
    }

    #[test]
    fn function_call_output_and_string_input() {
        let body = json!({"model": "databricks-gpt-5", "input": [
            {"type": "message", "role": "user", "content": "run"},
            {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "hi\n"}]});
        let Reply::Json(v) = create(&state(), false, false, &body).unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(
            v["output"][0]["content"][0]["text"],
            "kiln-emulator: tool result: hi\n"
        );
        let plain = json!({"model": "databricks-gpt-5", "input": "hello"});
        let Reply::Json(v) = create(&state(), false, false, &plain).unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(v["output"][0]["content"][0]["text"], "kiln-emulator: hello");
    }

    #[test]
    fn family_rules() {
        let s = state();
        let claude = codex_request("databricks-claude-sonnet-4-5");
        assert!(matches!(
            create(&s, false, false, &claude),
            Err(ServingError::BadRequest(_))
        ));
        assert!(create(&s, false, true, &claude).is_ok());
        assert!(matches!(
            create(&s, false, false, &codex_request("databricks-gpt-7")),
            Err(ServingError::NoEndpoint(_))
        ));
        let no_input = json!({"model": "databricks-gpt-5"});
        assert!(matches!(
            create(&s, false, false, &no_input),
            Err(ServingError::InvalidParameter(_))
        ));
    }
}
