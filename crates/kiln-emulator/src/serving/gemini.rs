//! Gemini native API (`…/gemini/v1beta/models/{model}:{method}`, what Gemini CLI calls):
//! `generateContent` (one `GenerateContentResponse`), `streamGenerateContent` (with `?alt=sse`
//! one `data:` event per chunk, otherwise a JSON array of chunks) and `countTokens`. Answers
//! carry `candidates[].content.parts` (`text` or `functionCall`), `finishReason` and
//! `usageMetadata` on the last chunk.

use super::ServingState;
use super::answer::{Answer, AnswerBody, Part, input_tokens, object_args, text_deltas};
use super::call::{Reply, required_array, resolve};
use super::catalog::API_GEMINI;
use super::error::ServingError;
use super::sse::SseEvent;
use serde_json::{Value, json};

/// Answers `POST …/models/{model_method}` where `model_method` is `<model>:<method>`.
pub(crate) fn call(
    state: &ServingState,
    gateway: bool,
    model_method: &str,
    alt_sse: bool,
    body: &Value,
) -> Result<Reply, ServingError> {
    let Some((model, method)) = model_method.rsplit_once(':') else {
        return Err(ServingError::NoMethod(format!(
            "No method in '{model_method}': expected '<model>:generateContent'."
        )));
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" => {
            resolve(state, model, gateway, API_GEMINI, "Gemini")?;
            return Ok(Reply::Json(json!({"totalTokens": input_tokens(body)})));
        }
        other => {
            return Err(ServingError::NoMethod(format!(
                "Method '{other}' is not supported for model '{model}'."
            )));
        }
    };
    let contents = required_array(body, "contents")?;
    if contents.is_empty() {
        return Err(ServingError::InvalidParameter(
            "Field 'contents' must not be empty.".to_owned(),
        ));
    }
    let endpoint = resolve(state, model, gateway, API_GEMINI, "Gemini")?;
    let answer = Answer::next(state, &endpoint.name, &last_user_turn(contents), body);
    let chunks = if stream {
        stream_chunks(model, &answer)
    } else {
        vec![whole(model, &answer)]
    };
    Ok(match (stream, alt_sse) {
        (false, _) => Reply::Json(chunks.into_iter().next().unwrap_or(Value::Null)),
        (true, true) => Reply::Events(chunks.iter().map(SseEvent::json).collect()),
        (true, false) => Reply::Json(Value::Array(chunks)),
    })
}

/// Parts of the last `user` content: texts (thoughts skipped) and function responses.
fn last_user_turn(contents: &[Value]) -> Vec<Part> {
    let Some(last) = contents
        .iter()
        .rev()
        .find(|c| matches!(c.get("role").and_then(Value::as_str), None | Some("user")))
    else {
        return Vec::new();
    };
    let parts = last
        .get("parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    parts
        .iter()
        .filter_map(|p| {
            if let Some(text) = p.get("text").and_then(Value::as_str) {
                let thought = p.get("thought").and_then(Value::as_bool).unwrap_or(false);
                return (!thought).then(|| Part::Text(text.to_owned()));
            }
            let response = p
                .get("functionResponse")
                .or_else(|| p.get("function_response"))?
                .get("response")?;
            Some(Part::ToolResult(match response.get("output") {
                Some(Value::String(s)) => s.clone(),
                _ => response.to_string(),
            }))
        })
        .collect()
}

fn usage(answer: &Answer) -> Value {
    json!({
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.input_tokens + answer.output_tokens,
    })
}

/// One `GenerateContentResponse` with `parts`, finished (finish reason, usage) or not.
fn chunk(model: &str, answer: &Answer, parts: Value, last: bool) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    let mut out = json!({"candidates": [], "modelVersion": model, "responseId": answer.id("")});
    if last {
        candidate["finishReason"] = json!("STOP");
        out["usageMetadata"] = usage(answer);
    }
    out["candidates"] = json!([candidate]);
    out
}

fn function_call_part(name: &str, arguments: &Value) -> Value {
    json!({"functionCall": {"name": name, "args": object_args(arguments)}})
}

/// The whole answer in one response (`generateContent`).
fn whole(model: &str, answer: &Answer) -> Value {
    let part = match &answer.body {
        AnswerBody::Text(text) => json!({"text": text}),
        AnswerBody::ToolCall { name, arguments } => function_call_part(name, arguments),
    };
    chunk(model, answer, json!([part]), true)
}

/// The streamed chunks: one per text delta (a function call comes whole, as Gemini sends it).
fn stream_chunks(model: &str, answer: &Answer) -> Vec<Value> {
    match &answer.body {
        AnswerBody::Text(text) => {
            let pieces = text_deltas(text);
            let n = pieces.len();
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, piece)| chunk(model, answer, json!([{"text": piece}]), i + 1 == n))
                .collect()
        }
        AnswerBody::ToolCall { name, arguments } => vec![chunk(
            model,
            answer,
            json!([function_call_part(name, arguments)]),
            true,
        )],
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

    fn request() -> Value {
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "This is the Gemini CLI. Context follows."}]},
                {"role": "model", "parts": [{"text": "Got it."}]},
                {"role": "user", "parts": [{"text": "write a haiku"}]},
            ],
            "systemInstruction": {"parts": [{"text": "You are Gemini CLI."}]},
            "generationConfig": {"temperature": 0},
        })
    }

    #[test]
    fn generate_content_json() {
        let Reply::Json(v) = call(
            &state(),
            false,
            "databricks-gemini-2-5-pro:generateContent",
            false,
            &request(),
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        let candidate = &v["candidates"][0];
        assert_eq!(candidate["content"]["role"], "model");
        assert_eq!(
            candidate["content"]["parts"][0]["text"],
            "kiln-emulator: write a haiku"
        );
        assert_eq!(candidate["finishReason"], "STOP");
        assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 4);
        let prompt = v["usageMetadata"]["promptTokenCount"].as_u64().unwrap();
        assert_eq!(
            v["usageMetadata"]["totalTokenCount"].as_u64().unwrap(),
            prompt + 4
        );
        assert_eq!(v["modelVersion"], "databricks-gemini-2-5-pro");
    }

    #[test]
    fn stream_generate_content_sse_and_array() {
        let s = state();
        let Reply::Events(events) = call(
            &s,
            true,
            "system.ai.gemini-2-5-flash:streamGenerateContent",
            true,
            &request(),
        )
        .unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        assert!(parsed.len() > 1);
        assert!(parsed.iter().all(|(e, _)| e.is_none()));
        let text: String = parsed
            .iter()
            .map(|(_, d)| {
                d["candidates"][0]["content"]["parts"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(text, "kiln-emulator: write a haiku");
        let (last, rest) = parsed.split_last().unwrap();
        assert_eq!(last.1["candidates"][0]["finishReason"], "STOP");
        assert!(last.1["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 4);
        assert!(rest.iter().all(|(_, d)| d.get("usageMetadata").is_none()));

        let Reply::Json(Value::Array(chunks)) = call(
            &s,
            false,
            "databricks-gemini-2-5-flash:streamGenerateContent",
            false,
            &request(),
        )
        .unwrap() else {
            panic!("expected a JSON array")
        };
        assert_eq!(chunks.len(), parsed.len());
    }

    #[test]
    fn scripted_function_call() {
        let s = state();
        s.push_script(ScriptStep::ToolCall {
            name: "run_shell_command".into(),
            arguments: json!({"command": "ls"}),
        });
        s.push_script(ScriptStep::ToolCall {
            name: "odd".into(),
            arguments: json!("not an object"),
        });
        let Reply::Events(events) = call(
            &s,
            false,
            "databricks-gemini-2-5-pro:streamGenerateContent",
            true,
            &request(),
        )
        .unwrap() else {
            panic!("expected SSE")
        };
        let parsed = roundtrip(&events);
        assert_eq!(parsed.len(), 1);
        let part = &parsed[0].1["candidates"][0]["content"]["parts"][0];
        assert_eq!(part["functionCall"]["name"], "run_shell_command");
        assert_eq!(part["functionCall"]["args"], json!({"command": "ls"}));
        let Reply::Json(v) = call(
            &s,
            false,
            "databricks-gemini-2-5-pro:generateContent",
            false,
            &request(),
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["functionCall"]["args"],
            json!({"value": "not an object"})
        );
    }

    #[test]
    fn function_response_turn() {
        let body = json!({"contents": [
            {"role": "user", "parts": [{"text": "list"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "ls", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "ls", "response": {"output": "a.txt"}}}]}]});
        let Reply::Json(v) = call(
            &state(),
            false,
            "databricks-gemini-2-5-pro:generateContent",
            false,
            &body,
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert_eq!(
            v["candidates"][0]["content"]["parts"][0]["text"],
            "kiln-emulator: tool result: a.txt"
        );
    }

    #[test]
    fn refusals_and_count_tokens() {
        let s = state();
        assert!(matches!(
            call(
                &s,
                false,
                "databricks-gemini-9:generateContent",
                false,
                &request()
            ),
            Err(ServingError::NoEndpoint(_))
        ));
        assert!(matches!(
            call(
                &s,
                false,
                "databricks-gpt-5:generateContent",
                false,
                &request()
            ),
            Err(ServingError::BadRequest(_))
        ));
        assert!(matches!(
            call(
                &s,
                false,
                "databricks-gemini-2-5-pro:explode",
                false,
                &request()
            ),
            Err(ServingError::NoMethod(_))
        ));
        assert!(matches!(
            call(&s, false, "databricks-gemini-2-5-pro", false, &request()),
            Err(ServingError::NoMethod(_))
        ));
        assert!(
            call(
                &s,
                false,
                "databricks-gemini-2-5-pro:generateContent",
                false,
                &json!({})
            )
            .is_err()
        );
        let Reply::Json(v) = call(
            &s,
            false,
            "databricks-gemini-2-5-pro:countTokens",
            false,
            &request(),
        )
        .unwrap() else {
            panic!("expected JSON")
        };
        assert!(v["totalTokens"].as_u64().unwrap() > 5);
    }
}
