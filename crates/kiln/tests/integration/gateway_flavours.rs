//! The gateway against kiln-emulator: every flavour as JSON and as SSE through each agent's
//! prefix, usage per agent and model, chunks relayed as they arrive, the local key in all four
//! places, the preflight and probe answers, the body limit, and the compatibility filters
//! meeting the emulator's Databricks quirks.

use crate::support::gateway::*;
use futures_util::StreamExt;
use kiln_emulator::serving::{ANSWER_MARKER, Quirks, ScriptStep};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn every_flavour_as_json_and_sse() {
    let rig = Rig::start().await;
    let said = |text: &str| format!("{ANSWER_MARKER} {text}");

    // Claude Code: Anthropic Messages, with its query string.
    let r = rig
        .post(
            "/claude/v1/messages?beta=true",
            &anthropic_body(CLAUDE, "hello claude", false),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], said("hello claude"));
    let s = read_stream(
        rig.post(
            "/claude/v1/messages?beta=true",
            &anthropic_body(CLAUDE, "stream claude", true),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert!(
        s.content_type.starts_with("text/event-stream"),
        "{}",
        s.content_type
    );
    assert_eq!(anthropic_text(&s.json()), said("stream claude"));
    assert_eq!(
        s.events().last().unwrap().0.as_deref(),
        Some("message_stop")
    );

    // Codex: Responses, always streamed.
    let s = read_stream(
        rig.post(
            "/codex/responses",
            &responses_body(GPT, "hello codex", true),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    let events = s.json();
    let delta: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(delta, said("hello codex"));
    assert_eq!(events.last().unwrap()["type"], "response.completed");
    let v: Value = rig
        .post(
            "/codex/responses",
            &responses_body(GPT, "json codex", false),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "completed");

    // Gemini CLI: streamGenerateContent?alt=sse and generateContent, key in x-goog-api-key too.
    let path = format!("/gemini/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse");
    let s = read_stream(
        rig.http
            .post(rig.url(&path))
            .bearer_auth(&rig.key)
            .header("x-goog-api-key", &rig.key)
            .json(&gemini_body("hello gemini"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    let text: String = s
        .json()
        .iter()
        .filter_map(|e| e["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(text, said("hello gemini"));
    let v: Value = rig
        .post(
            &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
            &gemini_body("json gemini"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        said("json gemini")
    );

    // OpenCode and Hermes: Chat Completions (OpenCode streams with include_usage).
    let s = read_stream(
        rig.post(
            "/opencode/chat/completions",
            &chat_body(GPT, "hello opencode", true),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(chat_text(&s.json()), said("hello opencode"));
    assert_eq!(s.events().last().unwrap().1, "[DONE]");
    let v: Value = rig
        .post(
            "/hermes/chat/completions",
            &chat_body(CLAUDE, "hello hermes", false),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], said("hello hermes"));

    // Generic prefixes.
    let v: Value = rig
        .post(
            "/openai/v1/chat/completions",
            &chat_body(GPT, "generic", false),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], said("generic"));
    let v: Value = rig
        .post(
            "/anthropic/v1/messages",
            &anthropic_body(CLAUDE, "generic", false),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"][0]["text"], said("generic"));

    // Upstream: the workspace AI Gateway, with the user's token, never the local key.
    let paths = rig.upstream_paths();
    assert!(
        paths.iter().all(|p| p.starts_with("/ai-gateway/")),
        "{paths:?}"
    );
    assert!(paths.contains(&"/ai-gateway/anthropic/v1/messages".to_owned()));
    assert!(paths.contains(&"/ai-gateway/codex/v1/responses".to_owned()));
    assert!(paths.contains(&"/ai-gateway/mlflow/v1/chat/completions".to_owned()));
    assert!(paths.contains(&format!(
        "/ai-gateway/gemini/v1beta/models/{GEMINI}:streamGenerateContent"
    )));
    for r in rig.emu.serving().requests() {
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(&rig.key)),
            "local key forwarded: {:?}",
            r.headers
        );
    }
    let data_plane: Vec<_> = rig
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/ai-gateway/") && r.method == "POST")
        .collect();
    assert!(!data_plane.is_empty());
    assert!(
        data_plane
            .iter()
            .all(|r| r.identity.as_deref() == Some(rig.emu.user_email())),
        "{data_plane:?}"
    );
    assert!(
        rig.emu
            .requests()
            .iter()
            .all(|r| !r.query.contains(&rig.key))
    );

    // Usage per agent and model, tokens from JSON and from streams.
    let usage = rig.usage().await;
    let claude = usage_of(&usage, "claude", CLAUDE);
    assert_eq!(claude["requests"], 2);
    assert_eq!(claude["errors"], 0);
    assert!(claude["input_tokens"].as_u64().unwrap() >= 4);
    assert!(claude["output_tokens"].as_u64().unwrap() >= 6);
    for (agent, model) in [
        ("codex", GPT),
        ("gemini", GEMINI),
        ("opencode", GPT),
        ("hermes", CLAUDE),
        ("other", GPT),
        ("other", CLAUDE),
    ] {
        let u = usage_of(&usage, agent, model);
        assert!(u["output_tokens"].as_u64().unwrap() > 0, "{agent}: {u}");
        assert!(u["input_tokens"].as_u64().unwrap() > 0, "{agent}: {u}");
        assert!(u["latency_ms_avg"].as_f64().unwrap() > 0.0);
    }
    let kinds: Vec<&str> = usage["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["ai-gateway"; 4]);
    assert_eq!(usage["host"], rig.emu.url());
}

#[tokio::test]
async fn chunks_are_relayed_as_they_arrive() {
    let rig = Rig::start().await;
    // Events 300 ms apart: a buffering gateway would hand over everything at the end.
    rig.emu
        .serving()
        .set_stream_interval(Duration::from_millis(300));
    rig.emu
        .serving()
        .push_script(ScriptStep::Text("one two three four five".into()));
    let r = rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let first = tokio::time::timeout(WAIT, body.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(first.contains("message_start"), "{first}");
    assert!(
        !first.contains("message_stop"),
        "the first chunk held the whole answer: {first}"
    );
    let mut rest = Vec::new();
    while let Some(c) = tokio::time::timeout(WAIT, body.next()).await.unwrap() {
        rest.push(String::from_utf8(c.unwrap().to_vec()).unwrap());
    }
    assert!(rest.len() >= 3, "{rest:?}");
    assert!(rest.concat().contains("message_stop"));
}

#[tokio::test]
async fn local_key_in_every_accepted_place_and_nowhere_else() {
    let rig = Rig::start().await;
    let body = chat_body(GPT, "hi", false);
    let send = |b: reqwest::RequestBuilder| {
        let body = body.clone();
        async move { b.json(&body).send().await.unwrap() }
    };
    let url = rig.url("/opencode/chat/completions");
    assert_eq!(
        send(rig.http.post(&url).bearer_auth(&rig.key))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(rig.http.post(&url).header("x-api-key", &rig.key))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(rig.http.post(&url).header("x-goog-api-key", &rig.key))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(rig.http.post(format!("{url}?key={}", rig.key)))
            .await
            .status(),
        200
    );

    // Missing or wrong: 401 in each protocol's own error shape, nothing forwarded.
    let before = rig.upstream_paths().len();
    let r = send(rig.http.post(&url)).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let r = rig
        .http
        .post(rig.url("/claude/v1/messages"))
        .bearer_auth("wrong")
        .json(&anthropic_body(CLAUDE, "x", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["type"].as_str(), v["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error"))
    );
    let r = rig
        .http
        .post(rig.url(&format!("/gemini/v1beta/models/{GEMINI}:generateContent")))
        .header("x-goog-api-key", "wrong")
        .json(&gemini_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
    let r = rig
        .http
        .post(rig.url("/codex/responses"))
        .header("x-api-key", format!("{}0", rig.key))
        .json(&responses_body(GPT, "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = rig
        .http
        .post(format!("{}?key=nope", rig.url("/codex/responses")))
        .json(&responses_body(GPT, "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(rig.upstream_paths().len(), before);

    // The usage API wants the key too.
    assert_eq!(
        rig.http
            .get(rig.url("/api/usage"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn preflight_probes_and_unknown_paths() {
    let rig = Rig::start().await;
    // Claude's preflight: HEAD on the base, no credential needed.
    for base in ["/claude", "/claude/", "/anthropic"] {
        let r = rig.http.head(rig.url(base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{base}");
    }
    // Hermes' local-server probes, with and without the key: Databricks-style 404s.
    for probe in [
        "/hermes/models",
        "/hermes/v1/models",
        "/hermes/api/tags",
        "/hermes/props",
        "/hermes/version",
        "/nothing",
        "/",
    ] {
        for with_key in [false, true] {
            let mut b = rig.http.get(rig.url(probe));
            if with_key {
                b = b.bearer_auth(&rig.key);
            }
            let r = b.send().await.unwrap();
            assert_eq!(r.status(), 404, "{probe}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error_code"], "ENDPOINT_NOT_FOUND", "{probe}");
            assert!(v["message"].as_str().unwrap().contains(probe), "{v}");
        }
    }
    assert_eq!(
        rig.http
            .get(rig.url("/claude/v1/messages"))
            .bearer_auth(&rig.key)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let health: Value = rig
        .http
        .get(rig.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert!(rig.upstream_paths().is_empty());
}

#[tokio::test]
async fn body_limit() {
    let rig = Rig::with(Default::default(), |o| o.body_limit = 4096).await;
    let big = "word ".repeat(2000);
    let r = rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, &big, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "request_too_large");
    // Without a Content-Length (chunked), the limit holds while reading.
    let stream = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))),
    );
    let r = rig
        .http
        .post(rig.url("/opencode/chat/completions"))
        .bearer_auth(&rig.key)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(rig.upstream_paths().is_empty());
    let ok = rig
        .post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, "small", false),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn filters_meet_the_databricks_quirks() {
    let rig = Rig::start().await;
    let serving = rig.emu.serving();
    assert_eq!(serving.quirks(), Quirks::default());
    // OpenCode-style history for a Claude model: an empty assistant turn, an orphaned tool result.
    let history = json!({"model": CLAUDE, "messages": [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": ""},
        {"role": "tool", "tool_call_id": "call_gone", "content": "stale"},
        {"role": "user", "content": "second"}]});
    let direct = rig
        .http
        .post(format!(
            "{}/ai-gateway/mlflow/v1/chat/completions",
            rig.emu.url()
        ))
        .bearer_auth(rig.emu.user_token())
        .json(&history)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 400, "the emulator refuses the raw request");
    let v: Value = rig
        .post("/opencode/chat/completions", &history)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        format!("{ANSWER_MARKER} second")
    );
    let sent = serving.requests().last().unwrap().body.clone();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 2, "{sent}");

    // Gemini on Chat Completions: stream_options and JSON-Schema keys removed.
    let mut gem = chat_body(GEMINI, "tools please", true);
    gem["tools"] = json!([{"type": "function", "function": {"name": "read", "parameters": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": false,
        "properties": {"path": {"type": "string"}}}}}]);
    let s = read_stream(
        rig.post("/opencode/chat/completions", &gem)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.text());
    assert_eq!(
        chat_text(&s.json()),
        format!("{ANSWER_MARKER} tools please")
    );
    let sent = serving.requests().last().unwrap().body.clone();
    assert!(sent.get("stream_options").is_none());
    assert_eq!(
        sent["tools"][0]["function"]["parameters"],
        json!({"type": "object", "properties": {"path": {"type": "string"}}})
    );

    // A valid request passes byte for byte (the recorded body equals what was sent).
    let valid = chat_body(GPT, "valid", false);
    rig.post("/hermes/chat/completions", &valid)
        .send()
        .await
        .unwrap();
    assert_eq!(serving.requests().last().unwrap().body, valid);

    // Databricks ending tool calls with finish_reason "stop": fixed, streamed and not.
    serving.set_quirks(Quirks {
        tool_calls_finish_with_stop: true,
        ..Quirks::default()
    });
    serving.push_script(ScriptStep::ToolCall {
        name: "read".into(),
        arguments: json!({"path": "a"}),
    });
    let s = read_stream(
        rig.post("/opencode/chat/completions", &chat_body(GPT, "call", true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let events = s.json();
    let finish: Vec<&str> = events
        .iter()
        .filter_map(|e| e["choices"].get(0))
        .filter_map(|c| c["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    serving.push_script(ScriptStep::ToolCall {
        name: "read".into(),
        arguments: json!({"path": "a"}),
    });
    let v: Value = rig
        .post("/opencode/chat/completions", &chat_body(GPT, "call", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "read"
    );
}
