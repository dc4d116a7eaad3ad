//! The model-serving data plane over real HTTP: `serving::router()` on 127.0.0.1:0, driven with
//! reqwest, checking each flavour's JSON and SSE shapes, that streams arrive in several chunks,
//! scripted tool calls, the Databricks error bodies and what gets recorded.

use futures_util::StreamExt;
use kiln_emulator::serving::{self, ANSWER_MARKER, BODY_LIMIT_BYTES, ScriptStep, ServingState};
use serde_json::{Value, json};
use std::sync::Arc;

struct Server {
    base: String,
    state: Arc<ServingState>,
    client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Server {
    let client = crate::support::http_client();
    let state = Arc::new(ServingState::new(ServingState::default_catalog()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = serving::router(state.clone()).merge(serving::admin_router(state.clone()));
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        state,
        client,
        task,
    }
}

/// A streamed answer: the body chunks as they arrived, and the parsed events.
struct Streamed {
    content_type: String,
    chunks: usize,
    events: Vec<(Option<String>, String)>,
}

impl Streamed {
    fn json(&self) -> Vec<Value> {
        self.events
            .iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(d).unwrap())
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|(e, _)| e.as_deref())
            .collect()
    }
}

impl Server {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth("dapi-not-a-real-token")
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self.post(path, body).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn stream(&self, path: &str, body: &Value) -> Streamed {
        let response = self.post(path, body).await;
        assert_eq!(response.status(), 200, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut chunks = 0;
        let mut text = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            chunks += 1;
            text.extend_from_slice(&chunk.unwrap());
        }
        Streamed {
            content_type,
            chunks,
            events: parse_sse(&String::from_utf8(text).unwrap()),
        }
    }
}

/// `(event name, data)` per SSE event.
fn parse_sse(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut event = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            (event, data.join("\n"))
        })
        .collect()
}

#[tokio::test]
async fn anthropic_messages_stream_in_several_chunks() {
    let server = start().await;
    let body = json!({
        "model": "databricks-claude-sonnet-4-5",
        "max_tokens": 4096,
        "stream": true,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there emulator"}]}],
    });
    for path in [
        "/serving-endpoints/anthropic/v1/messages?beta=true",
        "/ai-gateway/anthropic/v1/messages?beta=true",
    ] {
        let s = server.stream(path, &body).await;
        assert_eq!(s.content_type, "text/event-stream");
        assert!(s.chunks > 1, "{path}: one chunk only");
        let names = s.names();
        assert_eq!(names.first(), Some(&"message_start"));
        assert_eq!(names.last(), Some(&"message_stop"));
        assert!(names.contains(&"ping"));
        let text: String = s
            .json()
            .iter()
            .filter(|d| d["type"] == "content_block_delta")
            .map(|d| d["delta"]["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(text, format!("{ANSWER_MARKER} hello there emulator"));
    }
}

#[tokio::test]
async fn chat_completions_stream_with_usage_and_done() {
    let server = start().await;
    let body = json!({
        "model": "databricks-gpt-5",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "count to three"}],
    });
    for path in [
        "/serving-endpoints/chat/completions",
        "/ai-gateway/mlflow/v1/chat/completions",
    ] {
        let s = server.stream(path, &body).await;
        assert!(s.chunks > 1, "{path}: one chunk only");
        assert_eq!(s.events.last().unwrap().1, "[DONE]");
        let chunks = s.json();
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "kiln-emulator: count to three");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 4);
    }
}

#[tokio::test]
async fn responses_scripted_tool_call_then_tool_result_echo() {
    let server = start().await;
    server.state.push_script(ScriptStep::ToolCall {
        name: "shell".into(),
        arguments: json!({"command": ["bash", "-lc", "echo hi"]}),
    });
    let first = json!({
        "model": "databricks-gpt-5", "stream": true, "store": false, "instructions": "be brief",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]}],
    });
    let s = server
        .stream("/ai-gateway/codex/v1/responses", &first)
        .await;
    assert!(s.chunks > 1);
    let events = s.json();
    assert_eq!(s.names().last(), Some(&"response.completed"));
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(done["item"]["type"], "function_call");
    assert_eq!(done["item"]["name"], "shell");
    let call_id = done["item"]["call_id"].as_str().unwrap().to_owned();

    let second = json!({
        "model": "databricks-gpt-5", "stream": true,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
            {"type": "function_call", "call_id": call_id, "name": "shell", "arguments": "{}"},
            {"type": "function_call_output", "call_id": call_id, "output": "hi"},
        ],
    });
    let s = server.stream("/serving-endpoints/responses", &second).await;
    let completed = s.json().pop().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        "kiln-emulator: tool result: hi"
    );
    assert!(
        completed["response"]["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn gemini_sse_json_and_array() {
    let server = start().await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": "name a colour"}]}]});
    let s = server
        .stream(
            "/ai-gateway/gemini/v1beta/models/system.ai.gemini-2-5-pro:streamGenerateContent?alt=sse",
            &body,
        )
        .await;
    assert!(s.chunks > 1);
    let chunks = s.json();
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "kiln-emulator: name a colour");
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );

    let (status, v) = server
        .post_json(
            "/serving-endpoints/gemini/v1beta/models/databricks-gemini-2-5-flash:generateContent",
            &body,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["candidates"][0]["content"]["parts"][0]["text"], text);
    assert!(v["usageMetadata"]["totalTokenCount"].as_u64().unwrap() > 4);

    let (status, v) = server
        .post_json(
            "/serving-endpoints/gemini/v1beta/models/databricks-gemini-2-5-flash:streamGenerateContent",
            &body,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().unwrap().len(), chunks.len());
}

#[tokio::test]
async fn invocations_and_model_list() {
    let server = start().await;
    let body = json!({"messages": [{"role": "user", "content": "ping"}], "max_tokens": 10});
    let response = server
        .post(
            "/serving-endpoints/databricks-meta-llama-3-3-70b-instruct/invocations",
            &body,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["served-model-name"],
        "databricks-meta-llama-3-3-70b-instruct"
    );
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "kiln-emulator: ping");

    let list: Value = server
        .client
        .get(format!("{}/ai-gateway/anthropic/v1/models", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "databricks-claude-opus-4-1")
    );
}

#[tokio::test]
async fn errors_in_databricks_shape() {
    let server = start().await;
    let (status, v) = server
        .post_json(
            "/serving-endpoints/chat/completions",
            &json!({"model": "databricks-nope", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(v["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert!(v["message"].as_str().unwrap().contains("databricks-nope"));

    let (status, v) = server
        .post_json(
            "/serving-endpoints/unknown-endpoint/invocations",
            &json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (404, Some("RESOURCE_DOES_NOT_EXIST"))
    );

    let (status, v) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &json!({"model": "databricks-gpt-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("BAD_REQUEST"))
    );

    let response = server
        .client
        .post(format!("{}/serving-endpoints/responses", server.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error_code"], "BAD_REQUEST");
    assert!(v["message"].as_str().unwrap().contains("Malformed"));

    let (status, v) = server
        .post_json(
            "/serving-endpoints/chat/completions",
            &json!({"model": "databricks-gpt-5"}),
        )
        .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_PARAMETER_VALUE"))
    );

    let huge = "x".repeat(BODY_LIMIT_BYTES + 1);
    let response = server
        .client
        .post(format!(
            "{}/serving-endpoints/chat/completions",
            server.base
        ))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let v: Value = response.json().await.unwrap();
    assert_eq!(v["error_code"], "BAD_REQUEST");
}

#[tokio::test]
async fn requests_are_recorded_without_credentials() {
    let server = start().await;
    let body =
        json!({"model": "databricks-gpt-5-mini", "messages": [{"role": "user", "content": "x"}]});
    let (status, _) = server
        .post_json("/serving-endpoints/chat/completions", &body)
        .await;
    assert_eq!(status, 200);
    let recorded = server.state.requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.path, "/serving-endpoints/chat/completions");
    assert_eq!(
        (r.flavour, r.model.as_str(), r.status),
        ("chat", "databricks-gpt-5-mini", 200)
    );
    assert_eq!(r.body, body);
    assert!(r.headers.iter().any(|(k, _)| k == "anthropic-version"));
    assert!(
        !r.headers
            .iter()
            .any(|(k, v)| k == "authorization" || v.contains("dapi"))
    );
}

#[tokio::test]
async fn admin_routes_script_settings_and_endpoints() {
    let server = start().await;
    let admin = |p: &str| format!("{}/__emulator/serving/{p}", server.base);
    let queued: Value = server
        .client
        .post(admin("script"))
        .json(&json!({"endpoint": "databricks-claude-opus-4-1", "steps": [
            {"tool_call": {"name": "Bash", "arguments": {"command": "ls"}}},
            {"text": "all done"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], 2);

    let messages = |model: &str| {
        json!({"model": model, "max_tokens": 100,
               "messages": [{"role": "user", "content": "go"}]})
    };
    // Another endpoint passes the scripted steps by.
    let (_, v) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &messages("databricks-claude-sonnet-4-5"),
        )
        .await;
    assert_eq!(v["content"][0]["text"], "kiln-emulator: go");
    let (_, v) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &messages("databricks-claude-opus-4-1"),
        )
        .await;
    assert_eq!(v["content"][0]["type"], "tool_use");
    assert_eq!(v["content"][0]["input"], json!({"command": "ls"}));
    let (_, v) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &messages("databricks-claude-opus-4-1"),
        )
        .await;
    assert_eq!(v["content"][0]["text"], "all done");

    let recorded: Value = server
        .client
        .get(admin("requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(recorded["requests"].as_array().unwrap().len(), 3);
    assert_eq!(
        recorded["requests"][1]["model"],
        "databricks-claude-opus-4-1"
    );

    let settings: Value = server
        .client
        .put(admin("settings"))
        .json(&json!({"quirks": {"claude_rejects_empty_text": false}, "stream_interval_ms": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["stream_interval_ms"], 0);
    assert_eq!(settings["quirks"]["claude_rejects_empty_text"], false);
    assert_eq!(
        settings["quirks"]["claude_rejects_orphan_tool_results"],
        true
    );

    let spec: Value = server
        .client
        .post(admin("endpoints"))
        .json(&json!({"name": "my-claude", "family": "anthropic", "ready": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        spec["api_types"],
        json!(["llm/v1/chat", "anthropic/v1/messages"])
    );
    let (status, v) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &messages("my-claude"),
        )
        .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (503, Some("TEMPORARILY_UNAVAILABLE"))
    );
    let gone = server
        .client
        .delete(admin("endpoints/my-claude"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let (status, _) = server
        .post_json(
            "/serving-endpoints/anthropic/v1/messages",
            &messages("my-claude"),
        )
        .await;
    assert_eq!(status, 404);
    let bad = server
        .client
        .post(admin("script"))
        .body("{")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}
