//! Model calls as MLflow traces. Against a real MLflow tracking server (SQLite, loopback; the
//! `#[ignore]`d tests, run by scripts/test): every agent's prefix and flavour through the
//! gateway lands as spans with the fields, found with MLflow's own client; a tool-result
//! follow-up joins its turn's trace; with content capture off no prompt text is stored, with it
//! on the prompt is there; an experiment given by name is created. Without MLflow: an exporter
//! pointed at a dead endpoint and at one answering 500 leaves every model call working and
//! counts the spans as dropped (nothing of the key or the token reaches the endpoint); the
//! Databricks target sends to the workspace's `/api/2.0/otel/v1/traces` with the current token.

use crate::support::WAIT;
use crate::support::gateway::*;
use crate::support::mlflow::Mlflow;
use axum::body::Bytes;
use axum::http::HeaderMap;
use kiln::gateway::TraceArgs;
use kiln_emulator::EmulatorOptions;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET_PROMPT: &str = "PROMPT-TEXT-7f3a kiln must not store this";

fn settings(f: impl FnOnce(&mut TraceArgs)) -> kiln::gateway::trace::TraceSettings {
    let mut a = TraceArgs::default();
    f(&mut a);
    a.settings().unwrap().unwrap()
}

/// One call per agent prefix (every flavour), plus Claude's tool-result follow-up.
async fn calls_of_every_agent(rig: &Rig) {
    let ok = |r: reqwest::Response| {
        assert_eq!(r.status(), 200);
        r
    };
    let s = read_stream(ok(rig
        .post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, SECRET_PROMPT, true),
        )
        .send()
        .await
        .unwrap()))
    .await;
    assert_eq!(s.status, 200);
    let follow_up = json!({"model": CLAUDE, "max_tokens": 64, "stream": false, "messages": [
        {"role": "user", "content": [{"type": "text", "text": SECRET_PROMPT}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "file text"}]}
    ]});
    ok(rig
        .post("/claude/v1/messages", &follow_up)
        .send()
        .await
        .unwrap());
    let s = read_stream(ok(rig
        .post(
            "/codex/responses",
            &responses_body(GPT, SECRET_PROMPT, true),
        )
        .send()
        .await
        .unwrap()))
    .await;
    assert_eq!(s.status, 200);
    ok(rig
        .post(
            &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
            &gemini_body(SECRET_PROMPT),
        )
        .send()
        .await
        .unwrap());
    for agent in ["opencode", "hermes"] {
        let s = read_stream(ok(rig
            .post(
                &format!("/{agent}/chat/completions"),
                &chat_body(GPT, SECRET_PROMPT, true),
            )
            .send()
            .await
            .unwrap()))
        .await;
        assert_eq!(s.status, 200);
    }
}

fn spans(traces: &[Value]) -> Vec<(String, Value)> {
    traces
        .iter()
        .flat_map(|t| {
            let id = t["trace_id"].as_str().unwrap_or_default().to_owned();
            t["spans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |s| (id.clone(), s))
        })
        .collect()
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

fn num(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(-1.0)
}

async fn wait_for_tracing(rig: &Rig, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let t = rig.usage().await["tracing"].clone();
        if done(&t) {
            return t;
        }
        assert!(
            started.elapsed() < WAIT * 2,
            "tracing status never got there: {t:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One MLflow server for both parts (it takes a minute or more to start on a loaded machine).
#[tokio::test]
#[ignore = "needs MLflow (scripts/test installs it into .venv-mlflow)"]
async fn mlflow_gets_every_agent_and_content_only_when_asked() {
    let mlflow = Mlflow::start().await;
    every_agent_lands_in_mlflow_with_its_fields(&mlflow).await;
    content_capture_and_experiment_by_name(&mlflow).await;
}

async fn every_agent_lands_in_mlflow_with_its_fields(mlflow: &Mlflow) {
    let experiment = mlflow.create_experiment("kiln-agents").await;
    let url = mlflow.url.clone();
    let exp = experiment.clone();
    let rig = Rig::with(EmulatorOptions::default(), move |o| {
        o.trace = Some(settings(|a| {
            a.tracking_uri = Some(url);
            a.experiment_id = Some(exp);
            a.service_name = Some("kiln-test".into());
        }));
    })
    .await;
    calls_of_every_agent(&rig).await;

    let traces = mlflow.wait_for_spans(&experiment, 6).await;
    let all = spans(&traces);
    assert_eq!(all.len(), 6, "{traces:#?}");
    for agent in ["claude", "codex", "gemini", "opencode", "hermes"] {
        let (_, s) = all
            .iter()
            .find(|(_, s)| attr(s, "kiln.agent") == agent)
            .unwrap_or_else(|| panic!("no span of {agent}: {traces:#?}"));
        assert_eq!(attr(s, "gen_ai.operation.name"), "chat");
        assert!(attr(s, "gen_ai.request.model").is_string(), "{s:#}");
        assert!(num(attr(s, "gen_ai.usage.input_tokens")) > 0.0, "{s:#}");
        assert!(num(attr(s, "gen_ai.usage.output_tokens")) > 0.0, "{s:#}");
        assert!(
            attr(s, "gen_ai.usage.cache_read.input_tokens").is_number(),
            "{s:#}"
        );
        assert_eq!(num(attr(s, "http.response.status_code")), 200.0);
        assert!(num(attr(s, "kiln.latency_ms")) >= 0.0);
        assert!(num(attr(s, "kiln.time_to_first_token_ms")) >= 0.0, "{s:#}");
        assert_eq!(
            attr(s, "kiln.request_id").as_str().map(str::len),
            Some(16),
            "{s:#}"
        );
        assert!(attr(s, "kiln.upstream").is_string());
        assert!(s["status"].as_str().unwrap_or("").contains("OK"), "{s:#}");
    }
    // Claude's follow-up (a tool result) is a child of the turn's first call, same trace.
    let claude: Vec<&(String, Value)> = all
        .iter()
        .filter(|(_, s)| attr(s, "kiln.agent") == "claude")
        .collect();
    assert_eq!(claude.len(), 2);
    let (root, child) = if claude[0].1["parent_id"].is_null() {
        (claude[0], claude[1])
    } else {
        (claude[1], claude[0])
    };
    assert_eq!(root.0, child.0, "one trace per turn");
    assert_eq!(child.1["parent_id"], root.1["span_id"]);
    assert_eq!(attr(&child.1, "kiln.turn.continues"), true);
    // Content capture is off: the prompt text is nowhere in what MLflow stored.
    let stored = serde_json::to_string(&traces).unwrap();
    assert!(!stored.contains("PROMPT-TEXT-7f3a"), "prompt text stored");
    assert!(!stored.contains(&rig.key), "local key stored");
    assert!(!stored.contains(rig.emu.user_token()), "token stored");

    let t = wait_for_tracing(&rig, |t| t["exported_spans"] == 6).await;
    assert_eq!(t["state"], "flowing");
    assert_eq!(t["dropped_spans"], 0);
    assert_eq!(t["experiment_id"], experiment.as_str());
    assert!(t["last_export_at"].is_string());
}

async fn content_capture_and_experiment_by_name(mlflow: &Mlflow) {
    let url = mlflow.url.clone();
    let rig = Rig::with(EmulatorOptions::default(), move |o| {
        o.trace = Some(settings(|a| {
            a.tracking_uri = Some(url);
            a.experiment_name = Some("kiln-content".into());
            a.content = true;
        }));
    })
    .await;
    let r = rig
        .post(
            "/opencode/chat/completions",
            &chat_body(GPT, SECRET_PROMPT, false),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let answer_text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = wait_for_tracing(&rig, |t| t["exported_spans"] == 1).await;
    let experiment = mlflow
        .experiment_id("kiln-content")
        .await
        .expect("kiln created the experiment");
    assert_eq!(t["experiment_id"], experiment.as_str());
    let traces = mlflow.wait_for_spans(&experiment, 1).await;
    let stored = serde_json::to_string(&traces).unwrap();
    assert!(stored.contains("PROMPT-TEXT-7f3a"), "{stored}");
    assert!(stored.contains(&answer_text), "{stored}");
}

/// An OTLP endpoint that answers 500 to everything and keeps what it was sent.
#[derive(Default)]
struct Failing {
    hits: Mutex<Vec<(HeaderMap, Bytes)>>,
}

async fn failing_endpoint() -> (String, Arc<Failing>) {
    let state = Arc::new(Failing::default());
    let s = Arc::clone(&state);
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let s = Arc::clone(&s);
        async move {
            s.hits.lock().unwrap().push((headers, body));
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "collector down",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1/traces"), state)
}

#[tokio::test]
async fn dead_and_failing_endpoints_never_break_a_call() {
    let dead = format!("http://127.0.0.1:{}/v1/traces", crate::support::free_port());
    let (failing, seen) = failing_endpoint().await;
    for endpoint in [dead, failing] {
        let e = endpoint.clone();
        let rig = Rig::with(EmulatorOptions::default(), move |o| {
            o.trace = Some(settings(|a| a.otlp_endpoint = Some(e)));
        })
        .await;
        for i in 0..5 {
            let r = rig
                .post(
                    "/hermes/chat/completions",
                    &chat_body(GPT, &format!("call {i}"), false),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{endpoint}");
            assert!(r.headers().contains_key("x-kiln-request-id"));
        }
        let t = wait_for_tracing(&rig, |t| t["dropped_spans"].as_u64() >= Some(5)).await;
        assert_eq!(t["state"], "failing", "{t:#}");
        assert_eq!(t["exported_spans"], 0);
        assert!(t["last_error"].is_string(), "{t:#}");
        assert!(t["last_export_at"].is_null());
        let usage = rig.usage().await;
        assert_eq!(usage["agents"][0]["requests"], 5);
        assert_eq!(usage["agents"][0]["errors"], 0);
        // Nothing of the local key or the workspace token reached the endpoint.
        for (headers, body) in seen.hits.lock().unwrap().iter() {
            for secret in [rig.key.as_str(), rig.emu.user_token()] {
                assert!(headers.values().all(|v| {
                    !v.as_bytes()
                        .windows(secret.len())
                        .any(|w| w == secret.as_bytes())
                }));
                assert!(!body.windows(secret.len()).any(|w| w == secret.as_bytes()));
            }
        }
    }
    // The 500 endpoint was tried (first attempt plus retries).
    assert!(seen.hits.lock().unwrap().len() >= 3);
}

#[tokio::test]
async fn databricks_target_uses_the_current_token() {
    let rig = Rig::with(EmulatorOptions::default(), |o| {
        o.trace = Some(settings(|a| {
            a.tracking_uri = Some("databricks".into());
            a.experiment_id = Some("1234".into());
            a.uc_table = Some("main.agents.kiln_otel_spans".into());
        }));
    })
    .await;
    let call = |text: &'static str| {
        rig.post("/claude/v1/messages", &anthropic_body(CLAUDE, text, false))
            .send()
    };
    assert_eq!(call("one").await.unwrap().status(), 200);
    let t = wait_for_tracing(&rig, |t| t["exported_spans"] == 1).await;
    assert_eq!(t["state"], "flowing");
    assert_eq!(
        t["endpoint"],
        format!("{}/api/2.0/otel/v1/traces", rig.emu.url())
    );
    let sent: Vec<_> = rig
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/2.0/otel/v1/traces")
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, 200);
    assert_eq!(sent[0].identity.as_deref(), Some(rig.emu.user_email()));

    // The token is asked for on every export: a refused one fails the export, not the call.
    rig.source.set("not-a-token");
    let refused = call("two").await.unwrap();
    assert_ne!(
        refused.status(),
        200,
        "the model call itself needs a token too"
    );
    let t = wait_for_tracing(&rig, |t| t["dropped_spans"] == 1).await;
    assert_eq!(t["state"], "failing");
    rig.source.set(rig.emu.user_token());
    assert_eq!(call("three").await.unwrap().status(), 200);
    let t = wait_for_tracing(&rig, |t| t["exported_spans"] == 2).await;
    assert_eq!(t["state"], "flowing");
}
