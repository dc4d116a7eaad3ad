//! Tokens and failures through the gateway against kiln-emulator: a token rotated (and the old
//! one revoked) in the middle of a stream breaks nothing and the next request uses the new one;
//! `set_source` swaps identities; a changed profile file takes effect on the next request;
//! 429 / 503 are retried before the first byte within bounds, honouring `Retry-After`; a
//! refused token is replaced once; failures after the first byte reach the agent as an error
//! event in its protocol's shape.

use crate::support::gateway::*;
use futures_util::StreamExt;
use kiln::gateway;
use kiln_databricks::credentials::ConfigFileSource;
use kiln_databricks::{CredentialsError, Environment, Secret, TokenFuture, TokenSource};
use kiln_emulator::serving::{ANSWER_MARKER, ScriptStep};
use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Mints a PAT for the seeded user through the Token API: `(value, id)`.
async fn mint(rig: &Rig, with: &str, comment: &str) -> (String, String) {
    let v: Value = rig
        .http
        .post(format!("{}/api/2.0/token/create", rig.emu.url()))
        .bearer_auth(with)
        .json(&json!({"lifetime_seconds": 3600, "comment": comment}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        v["token_value"].as_str().unwrap().to_owned(),
        v["token_info"]["token_id"].as_str().unwrap().to_owned(),
    )
}

fn posts_to(rig: &Rig, path: &str) -> Vec<kiln_emulator::RequestRecord> {
    rig.emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == path)
        .collect()
}

#[tokio::test]
async fn rotation_in_the_middle_of_a_stream_breaks_nothing() {
    let rig = Rig::start().await;
    let (first, first_id) = mint(&rig, rig.emu.user_token(), "first").await;
    let (second, _) = mint(&rig, rig.emu.user_token(), "second").await;
    rig.source.set(&first);

    rig.emu
        .serving()
        .set_stream_interval(Duration::from_millis(150));
    let words = "alpha beta gamma delta epsilon zeta eta theta";
    rig.emu
        .serving()
        .push_script(ScriptStep::Text(words.into()));
    let r = rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, "go", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut text = String::from_utf8(
        tokio::time::timeout(WAIT, body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(!text.contains("message_stop"));

    // Rotate: the broker hands out the new token and the old one is revoked, mid-stream.
    rig.source.set(&second);
    let revoked = rig
        .http
        .post(format!("{}/api/2.0/token/delete", rig.emu.url()))
        .bearer_auth(&second)
        .json(&json!({"token_id": first_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let direct = rig
        .http
        .get(format!("{}/api/2.0/preview/scim/v2/Me", rig.emu.url()))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 403, "the first token is revoked");

    while let Some(chunk) = tokio::time::timeout(WAIT, body.next()).await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let streamed = Streamed {
        status: 200,
        content_type: String::new(),
        chunks: vec![text],
    };
    assert_eq!(anthropic_text(&streamed.json()), words);
    assert_eq!(
        streamed.events().last().unwrap().0.as_deref(),
        Some("message_stop")
    );

    // The next request goes out with the new token.
    rig.emu.serving().set_stream_interval(Duration::ZERO);
    let r = rig
        .post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, "after", false),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let calls = posts_to(&rig, "/ai-gateway/anthropic/v1/messages");
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.status == 200), "{calls:?}");
    assert!(
        rig.emu
            .requests()
            .iter()
            .all(|r| r.status != 403 || r.path.contains("scim"))
    );
    let usage = rig.usage().await;
    assert_eq!(usage_of(&usage, "claude", CLAUDE)["errors"], 0);
}

#[tokio::test]
async fn set_source_swaps_the_identity_for_the_next_request() {
    let rig = Rig::start().await;
    rig.post("/codex/responses", &responses_body(GPT, "as alice", true))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = "/ai-gateway/codex/v1/responses";
    let who = |rig: &Rig| -> Vec<Option<String>> {
        posts_to(rig, path)
            .into_iter()
            .map(|r| r.identity)
            .collect()
    };
    assert_eq!(who(&rig), [Some("alice@example.com".to_owned())]);
    let bob = rig.emu.create_user("bob@example.com").unwrap();
    rig.gw.set_source(
        rig.emu.url().to_owned(),
        Arc::new(kiln_databricks::StaticToken::new(Secret::new(bob))),
    );
    // The swap resolves upstreams again (probing as bob); leave those probes out.
    let upstreams = rig.gw.resolve_upstreams().await;
    assert!(
        upstreams.iter().all(|u| u.kind == "ai-gateway"),
        "{upstreams:?}"
    );
    rig.emu.clear_requests();
    let s = read_stream(
        rig.post("/codex/responses", &responses_body(GPT, "as bob", true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(who(&rig), [Some("bob@example.com".to_owned())]);
}

#[tokio::test]
async fn a_changed_profile_file_takes_effect_on_the_next_request() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let bob = emu.create_user("bob@example.com").unwrap();
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join(".databrickscfg");
    std::fs::write(
        &cfg,
        format!(
            "[DEFAULT]\nhost = {}\ntoken = {}\n",
            emu.url(),
            emu.user_token()
        ),
    )
    .unwrap();
    let source = ConfigFileSource::new(Environment::new().with_home(home.path()), None).unwrap();
    let state = tempfile::tempdir().unwrap();
    let gw = gateway::start_with_config(options(state.path()), Arc::new(source))
        .await
        .unwrap();
    gw.resolve_upstreams().await;
    emu.clear_requests();
    let http = reqwest::Client::new();
    let call = || async {
        let r = http
            .post(format!("{}/hermes/chat/completions", gw.url()))
            .bearer_auth(gw.key().expose())
            .json(&chat_body(GPT, "who", false))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    call().await;
    let tmp = home.path().join(".databrickscfg.new");
    std::fs::write(
        &tmp,
        format!("[DEFAULT]\nhost = {}\ntoken = {bob}\n", emu.url()),
    )
    .unwrap();
    std::fs::rename(&tmp, &cfg).unwrap();
    call().await;
    let who: Vec<Option<String>> = emu
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/ai-gateway/mlflow/v1/chat/completions")
        .map(|r| r.identity)
        .collect();
    assert_eq!(
        who,
        [
            Some("alice@example.com".to_owned()),
            Some("bob@example.com".to_owned())
        ]
    );
    assert_eq!(gw.usage().host, emu.url());
}

#[tokio::test]
async fn busy_upstream_is_retried_before_the_first_byte() {
    let rig = Rig::start().await;
    let path = "/ai-gateway/anthropic/v1/messages";
    rig.emu.add_fault(
        Fault::new(
            path,
            FaultAction::RateLimit {
                retry_after_secs: 1,
            },
        )
        .method("POST")
        .times(1),
    );
    let s = read_stream(
        rig.post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, "patience", true),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    assert_eq!(
        anthropic_text(&s.json()),
        format!("{ANSWER_MARKER} patience")
    );
    let calls = posts_to(&rig, path);
    assert_eq!(
        calls.iter().map(|c| c.status).collect::<Vec<_>>(),
        [429, 200]
    );
    assert_eq!(calls[0].fault.as_deref(), Some("rate_limit"));

    // A wait longer than the bound is not made: the agent gets the 429 and its Retry-After.
    rig.emu.add_fault(
        Fault::new(
            path,
            FaultAction::RateLimit {
                retry_after_secs: 120,
            },
        )
        .method("POST")
        .times(1),
    );
    let r = rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, "x", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers().get("retry-after").unwrap(), "120");
    assert_eq!(posts_to(&rig, path).len(), 3);
    let usage = rig.usage().await;
    let u = usage_of(&usage, "claude", CLAUDE);
    assert_eq!(
        (u["requests"].as_u64(), u["errors"].as_u64()),
        (Some(2), Some(1))
    );
}

#[tokio::test]
async fn unavailable_upstream_gives_up_after_the_bounded_attempts() {
    let rig = Rig::with(Default::default(), |o| {
        o.retry = gateway::RetryBounds {
            max_attempts: 3,
            budget: Duration::from_secs(5),
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(40),
        };
    })
    .await;
    let path = "/ai-gateway/mlflow/v1/chat/completions";
    rig.emu.add_fault(
        Fault::new(
            path,
            FaultAction::Status {
                status: 503,
                error_code: None,
                message: Some("down".into()),
            },
        )
        .method("POST"),
    );
    let r = rig
        .post("/opencode/chat/completions", &chat_body(GPT, "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["message"], "down",
        "the upstream's own answer is passed on"
    );
    assert_eq!(posts_to(&rig, path).len(), 3);

    // A reset connection before any answer: 502 in the protocol's shape, not retried (POST).
    rig.emu.clear_faults();
    rig.emu.add_fault(
        Fault::new("/ai-gateway/anthropic/v1/messages", FaultAction::Reset)
            .method("POST")
            .times(1),
    );
    let r = rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach the workspace"),
        "{v}"
    );
}

/// Hands out a bad token until told it was refused, then a good one.
struct Refreshing {
    tokens: Mutex<Vec<String>>,
}

impl TokenSource for Refreshing {
    fn token(&self) -> TokenFuture<'_> {
        let t = self
            .tokens
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default();
        Box::pin(async move { Ok(Secret::new(t)) })
    }
    fn rejected(&self, token: &Secret) -> bool {
        let mut tokens = self.tokens.lock().unwrap();
        if tokens.len() > 1 && tokens.last().map(String::as_str) == Some(token.expose()) {
            tokens.pop();
            return true;
        }
        false
    }
}

struct Broken;

impl TokenSource for Broken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async {
            Err(CredentialsError::Source(
                "no token has been configured yet".into(),
            ))
        })
    }
}

#[tokio::test]
async fn refused_token_is_replaced_once_and_missing_credentials_are_explained() {
    let rig = Rig::with(Default::default(), |o| o.probe = false).await;
    let source = Arc::new(Refreshing {
        tokens: Mutex::new(vec![
            rig.emu.user_token().to_owned(),
            "dapi-stale".to_owned(),
        ]),
    });
    rig.gw.set_source(rig.emu.url().to_owned(), source);
    let r = rig
        .post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, "again", false),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let statuses: Vec<u16> = posts_to(&rig, "/serving-endpoints/anthropic/v1/messages")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, [403, 200]);

    rig.gw
        .set_source(rig.emu.url().to_owned(), Arc::new(Broken));
    let r = rig
        .post(
            &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
            &gemini_body("x"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["status"], "UNAVAILABLE");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no token has been configured yet"),
        "{v}"
    );
}

#[tokio::test]
async fn failure_after_the_first_byte_arrives_in_the_protocol_shape() {
    let rig = Rig::with(Default::default(), |o| {
        o.idle_timeout = Duration::from_millis(400)
    })
    .await;
    // The upstream stalls after its first event.
    rig.emu
        .serving()
        .set_stream_interval(Duration::from_secs(5));

    let s = read_stream(
        rig.post(
            "/claude/v1/messages",
            &anthropic_body(CLAUDE, "stall", true),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s.status, 200);
    let events = s.events();
    assert_eq!(events.first().unwrap().0.as_deref(), Some("message_start"));
    let (name, data) = events.last().unwrap();
    assert_eq!(name.as_deref(), Some("error"));
    let v: Value = serde_json::from_str(data).unwrap();
    assert_eq!(v["type"], "error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sent nothing"),
        "{v}"
    );

    let s = read_stream(
        rig.post("/opencode/chat/completions", &chat_body(GPT, "stall", true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let last = s.json().pop().unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kiln gateway"),
        "{last}"
    );

    let s = read_stream(
        rig.post("/codex/responses", &responses_body(GPT, "stall", true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (name, data) = s.events().pop().unwrap();
    assert_eq!(name.as_deref(), Some("response.failed"));
    let v: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["response"]["status"], "failed");

    let path = format!("/gemini/v1beta/models/{GEMINI}:streamGenerateContent?alt=sse");
    let s = read_stream(rig.post(&path, &gemini_body("stall")).send().await.unwrap()).await;
    let last = s.json().pop().unwrap();
    assert_eq!(last["error"]["status"], "INTERNAL");

    let usage = rig.usage().await;
    let u = usage_of(&usage, "claude", CLAUDE);
    assert_eq!(u["errors"], 1);
    assert!(u["last_error"].as_str().unwrap().contains("sent nothing"));
}
