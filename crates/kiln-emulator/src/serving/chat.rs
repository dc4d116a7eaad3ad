//! OpenAI Chat Completions (`…/chat/completions`, what OpenCode and Hermes call; also the body
//! and answer of Databricks' native `/{endpoint}/invocations`): the `chat.completion` object and
//! the `chat.completion.chunk` stream with `choices[].delta`, tool-call deltas, the usage chunk
//! when `stream_options.include_usage` is set, and `data: [DONE]`.

use super::ServingState;
use super::answer::{Answer, AnswerBody, Part, json_deltas, str_field, text_deltas, text_of};
use super::call::{Reply, required_array, required_str, resolve_chat, stream_flag};
use super::error::ServingError;
use super::quirks::check_chat;
use super::sse::SseEvent;
use super::time::unix_now;
use serde_json::{Map, Value, json};

/// Answers a chat call. `path_endpoint` is the endpoint of an `/invocations` path (the body's
/// `model` is then optional and ignored).
pub(crate) fn completions(
    state: &ServingState,
    gateway: bool,
    path_endpoint: Option<&str>,
    body: &Value,
) -> Result<Reply, ServingError> {
    let model = match path_endpoint {
        Some(endpoint) => endpoint,
        None => required_str(body, "model")?,
    };
    let messages = required_array(body, "messages")?;
    if messages.is_empty() {
        return Err(ServingError::InvalidParameter(
            "Field 'messages' must not be empty.".to_owned(),
        ));
    }
    let stream = stream_flag(body)?;
    let include_usage = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let endpoint = resolve_chat(state, model, gateway)?;
    let quirks = state.quirks();
    check_chat(&quirks, &endpoint.family, body)?;
    let answer = Answer::next(state, &endpoint.name, &last_user_turn(messages), body);
    let shape = Shape {
        model,
        created: unix_now(),
        finish_tool_calls: if quirks.tool_calls_finish_with_stop {
            "stop"
        } else {
            "tool_calls"
        },
    };
    Ok(if stream {
        Reply::Events(shape.chunks(&answer, include_usage))
    } else {
        Reply::Json(shape.completion(&answer))
    })
}

/// The last user-side turn: trailing `tool` messages are tool results; otherwise the parts of
/// the last `user` message.
fn last_user_turn(messages: &[Value]) -> Vec<Part> {
    fn role(m: &Value) -> &str {
        str_field(m, "role")
    }
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| matches!(role(m), "user" | "tool"))
    else {
        return Vec::new();
    };
    let content = last.get("content").unwrap_or(&Value::Null);
    if role(last) == "tool" {
        return vec![Part::ToolResult(text_of(content))];
    }
    match content {
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| Part::Text(t.to_owned()))
            .collect(),
        other => vec![Part::Text(text_of(other))],
    }
}

/// Fields shared by every object of one answer.
struct Shape<'a> {
    model: &'a str,
    created: u64,
    finish_tool_calls: &'static str,
}

impl Shape<'_> {
    fn finish_reason(&self, answer: &Answer) -> &'static str {
        match answer.body {
            AnswerBody::Text(_) => "stop",
            AnswerBody::ToolCall { .. } => self.finish_tool_calls,
        }
    }

    fn usage(answer: &Answer) -> Value {
        json!({
            "prompt_tokens": answer.input_tokens,
            "completion_tokens": answer.output_tokens,
            "total_tokens": answer.input_tokens + answer.output_tokens,
        })
    }

    /// The non-streaming `chat.completion`.
    fn completion(&self, answer: &Answer) -> Value {
        let message = match &answer.body {
            AnswerBody::Text(text) => json!({"role": "assistant", "content": text}),
            AnswerBody::ToolCall { name, arguments } => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": answer.id("call_"),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()},
                }],
            }),
        };
        json!({
            "id": answer.id("chatcmpl-"),
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason(answer)}],
            "usage": Self::usage(answer),
        })
    }

    /// One `chat.completion.chunk` with the given choices (and `usage: null` when usage is
    /// requested, as OpenAI does).
    fn chunk(&self, answer: &Answer, choices: Value, usage: Option<Value>) -> SseEvent {
        let mut map = Map::new();
        map.insert("id".into(), json!(answer.id("chatcmpl-")));
        map.insert("object".into(), json!("chat.completion.chunk"));
        map.insert("created".into(), json!(self.created));
        map.insert("model".into(), json!(self.model));
        map.insert("choices".into(), choices);
        if let Some(u) = usage {
            map.insert("usage".into(), u);
        }
        SseEvent::json(&Value::Object(map))
    }

    /// The streamed chunks, ending with `[DONE]`.
    fn chunks(&self, answer: &Answer, include_usage: bool) -> Vec<SseEvent> {
        let null_usage = include_usage.then_some(Value::Null);
        let delta = |d: Value| json!([{"index": 0, "delta": d, "finish_reason": null}]);
        let mut out = Vec::new();
        match &answer.body {
            AnswerBody::Text(text) => {
                out.push(self.chunk(
                    answer,
                    delta(json!({"role": "assistant", "content": ""})),
                    null_usage.clone(),
                ));
                for piece in text_deltas(text) {
                    out.push(self.chunk(
                        answer,
                        delta(json!({"content": piece})),
                        null_usage.clone(),
                    ));
                }
            }
            AnswerBody::ToolCall { name, arguments } => {
                out.push(self.chunk(
                    answer,
                    delta(
                        json!({"role": "assistant", "content": null, "tool_calls": [{
                            "index": 0,
                            "id": answer.id("call_"),
                            "type": "function",
                            "function": {"name": name, "arguments": ""},
                        }]}),
                    ),
                    null_usage.clone(),
                ));
                for piece in json_deltas(&arguments.to_string()) {
                    out.push(self.chunk(
                        answer,
                        delta(
                            json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
                        ),
                        null_usage.clone(),
                    ));
                }
            }
        }
        out.push(self.chunk(
            answer,
            json!([{"index": 0, "delta": {}, "finish_reason": self.finish_reason(answer)}]),
            null_usage,
        ));
        if include_usage {
            out.push(self.chunk(answer, json!([]), Some(Self::usage(answer))));
        }
        out.push(SseEvent::raw("[DONE]"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serving::sse::roundtrip;
    use crate::serving::{Quirks, ScriptStep};

    fn state() -> ServingState {
        ServingState::new(ServingState::default_catalog())
    }

    fn request(model: &str, stream: bool, usage: bool) -> Value {
        let mut body = json!({
            "model": model,
            "stream": stream,
            "messages": [
                {"role": "system", "content": "You are OpenCode."},
                {"role": "user", "content": [{"type": "text", "text": "list the files"}]},
            ],
        });
        if usage {
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    #[test]
    fn json_text_answer() {
        let Reply::Json(v) = completions(
            &state(),
            false,
            None,
            &request("databricks-gpt-5", false, false),
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "databricks-gpt-5");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "kiln-emulator: list the files"
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["completion_tokens"], 4);
        let total = v["usage"]["prompt_tokens"].as_u64().unwrap() + 4;
        assert_eq!(v["usage"]["total_tokens"].as_u64().unwrap(), total);
    }

    #[test]
    fn sse_text_with_usage_chunk_and_done() {
        let body = request("databricks-claude-sonnet-4-5", true, true);
        let Reply::Events(events) = completions(&state(), true, None, &body).unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        assert!(parsed.iter().all(|(e, _)| e.is_none()));
        assert_eq!(parsed.last().unwrap().1, Value::String("[DONE]".into()));
        let chunks: Vec<&Value> = parsed[..parsed.len() - 1].iter().map(|(_, d)| d).collect();
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "kiln-emulator: list the files");
        let finish = chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        assert!(finish["usage"].is_null());
        let usage = chunks[chunks.len() - 1];
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 4);
        assert!(chunks.len() > 4);
    }

    #[test]
    fn sse_without_usage_has_no_usage_chunk() {
        let body = request("databricks-gpt-5", true, false);
        let Reply::Events(events) = completions(&state(), false, None, &body).unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        assert!(parsed.iter().all(|(_, d)| d.get("usage").is_none()));
    }

    #[test]
    fn scripted_tool_call_stream_and_json() {
        let s = state();
        let args = json!({"path": "/tmp", "recursive": true});
        for _ in 0..2 {
            s.push_script(ScriptStep::ToolCall {
                name: "read".into(),
                arguments: args.clone(),
            });
        }
        let body = request("databricks-gpt-5-mini", true, true);
        let Reply::Events(events) = completions(&s, false, None, &body).unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        let first = &parsed[0].1["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(first["function"]["name"], "read");
        assert_eq!(first["type"], "function");
        assert!(first["id"].as_str().unwrap().starts_with("call_"));
        let arguments: String = parsed
            .iter()
            .filter_map(|(_, d)| {
                d["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&arguments).unwrap(), args);
        let finish = &parsed[parsed.len() - 3].1;
        assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");

        s.set_quirks(Quirks {
            tool_calls_finish_with_stop: true,
            ..Quirks::default()
        });
        let Reply::Json(v) =
            completions(&s, false, None, &request("databricks-gpt-5", false, false)).unwrap()
        else {
            panic!("expected JSON")
        };
        let call = &v["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["function"]["name"], "read");
        let decoded: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, args);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn tool_message_turn_and_invocations() {
        let body = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}]});
        let Reply::Json(v) = completions(
            &state(),
            false,
            Some("databricks-meta-llama-3-3-70b-instruct"),
            &body,
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "kiln-emulator: tool result: a.txt"
        );
        assert_eq!(v["model"], "databricks-meta-llama-3-3-70b-instruct");
    }

    #[test]
    fn refusals() {
        let s = state();
        let unknown = request("databricks-nope", false, false);
        assert!(matches!(
            completions(&s, false, None, &unknown),
            Err(ServingError::NoEndpoint(_))
        ));
        let gemini_with_options = request("databricks-gemini-2-5-flash", true, true);
        assert!(matches!(
            completions(&s, false, None, &gemini_with_options),
            Err(ServingError::BadRequest(_))
        ));
        let no_messages = json!({"model": "databricks-gpt-5", "messages": []});
        assert!(matches!(
            completions(&s, false, None, &no_messages),
            Err(ServingError::InvalidParameter(_))
        ));
        let bad_stream = json!({"model": "databricks-gpt-5", "stream": "yes",
            "messages": [{"role": "user", "content": "x"}]});
        assert!(completions(&s, false, None, &bad_stream).is_err());
    }
}
