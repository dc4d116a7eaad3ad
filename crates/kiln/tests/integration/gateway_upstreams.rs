//! Upstream resolution order against kiln-emulator, per flavour: a per-agent base URL >
//! `DATABRICKS_GATEWAY_HOST` > the workspace AI Gateway (probed) > the older gateway host
//! (probed; a second emulator stands in for it) > `/serving-endpoints`. The choice and its
//! reason show in `/api/usage`; a routing 404 from a chosen gateway makes the next request
//! probe again.

use crate::support::gateway::*;
use kiln::agent::Agent;
use kiln::gateway::{self, Caller};
use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction, RunningEmulator};
use serde_json::Value;

/// The same user and token on every emulator, as one workspace's token works on its gateway host.
const SHARED_TOKEN: &str = "dapi0123456789abcdef0123456789abcdef";

fn shared() -> EmulatorOptions {
    EmulatorOptions {
        user_tokens: vec![(
            kiln_emulator::DEFAULT_USER.to_owned(),
            SHARED_TOKEN.to_owned(),
        )],
        ..EmulatorOptions::default()
    }
}

/// The workspace AI Gateway answers like a workspace without it.
fn no_ai_gateway(emu: &RunningEmulator) {
    emu.add_fault(Fault::new(
        "/ai-gateway/*",
        FaultAction::Status {
            status: 404,
            error_code: Some("ENDPOINT_NOT_FOUND".into()),
            message: Some("No API found".into()),
        },
    ));
}

fn kinds(usage: &Value) -> Vec<(String, String)> {
    usage["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["flavour"].as_str().unwrap().to_owned(),
                u["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn data_plane_posts(emu: &RunningEmulator) -> Vec<String> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.status == 200)
        .map(|r| r.path)
        .collect()
}

async fn call_every_flavour(rig: &Rig) {
    let ok = |r: reqwest::Response| {
        assert_eq!(r.status(), 200, "{}", r.url());
    };
    ok(rig
        .post("/claude/v1/messages", &anthropic_body(CLAUDE, "a", false))
        .send()
        .await
        .unwrap());
    ok(rig
        .post("/codex/responses", &responses_body(GPT, "b", false))
        .send()
        .await
        .unwrap());
    ok(rig
        .post("/opencode/chat/completions", &chat_body(GPT, "c", false))
        .send()
        .await
        .unwrap());
    ok(rig
        .post(
            &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
            &gemini_body("d"),
        )
        .send()
        .await
        .unwrap());
}

#[tokio::test]
async fn workspace_ai_gateway_when_its_probes_answer() {
    let rig = Rig::start().await;
    call_every_flavour(&rig).await;
    let usage = rig.usage().await;
    for (flavour, kind) in kinds(&usage) {
        assert_eq!(kind, "ai-gateway", "{flavour}");
    }
    let reasons: Vec<&str> = usage["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("GET /v1/models answered 200")),
        "{reasons:?}"
    );
    assert_eq!(data_plane_posts(&rig.emu).len(), 4);
    assert!(
        data_plane_posts(&rig.emu)
            .iter()
            .all(|p| p.starts_with("/ai-gateway/"))
    );
}

#[tokio::test]
async fn serving_endpoints_when_no_gateway_answers() {
    let emu_opts = shared();
    let rig = Rig::with(emu_opts, |_| {}).await;
    // Rig::with already resolved against a workspace with the AI Gateway; start over without.
    no_ai_gateway(&rig.emu);
    rig.gw
        .set_source(rig.emu.url().to_owned(), rig.source.clone());
    let upstreams = rig.gw.resolve_upstreams().await;
    assert!(
        upstreams.iter().all(|u| u.kind == "serving-endpoints"),
        "{upstreams:?}"
    );
    assert!(
        upstreams
            .iter()
            .all(|u| u.reason.contains("answered 404 ENDPOINT_NOT_FOUND")),
        "{upstreams:?}"
    );
    assert!(
        upstreams
            .iter()
            .all(|u| u.reason.contains("older AI Gateway host: not applicable")),
        "{upstreams:?}"
    );
    rig.emu.clear_requests();
    call_every_flavour(&rig).await;
    let mut paths = data_plane_posts(&rig.emu);
    paths.sort();
    assert_eq!(
        paths,
        [
            "/serving-endpoints/anthropic/v1/messages".to_owned(),
            "/serving-endpoints/chat/completions".to_owned(),
            format!("/serving-endpoints/gemini/v1beta/models/{GEMINI}:generateContent"),
            "/serving-endpoints/responses".to_owned(),
        ]
    );
}

#[tokio::test]
async fn older_gateway_host_before_serving_endpoints() {
    let legacy = Emulator::start(shared()).await.unwrap();
    let workspace = Emulator::start(shared()).await.unwrap();
    no_ai_gateway(&workspace);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    // The older host serves the gateway paths at its root; the stand-in serves them under /ai-gateway.
    opts.legacy_gateway_host = Some(format!("{}/ai-gateway", legacy.url()));
    let gw = gateway::start(
        opts,
        workspace.url().to_owned(),
        SwapSource::new(SHARED_TOKEN),
    )
    .await
    .unwrap();
    let upstreams = gw.resolve_upstreams().await;
    assert!(
        upstreams.iter().all(|u| u.kind == "legacy-gateway-host"),
        "{upstreams:?}"
    );
    assert!(upstreams.iter().all(|u| {
        u.base_url
            .starts_with(&format!("{}/ai-gateway/", legacy.url()))
    }));
    workspace.clear_requests();
    legacy.clear_requests();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/claude/v1/messages", gw.url()))
        .bearer_auth(gw.key().expose())
        .json(&anthropic_body(CLAUDE, "old host", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        data_plane_posts(&legacy),
        ["/ai-gateway/anthropic/v1/messages"]
    );
    assert!(data_plane_posts(&workspace).is_empty());

    // And when the older host is gone too: serving endpoints, with both reasons.
    no_ai_gateway(&legacy);
    gw.set_source(workspace.url().to_owned(), SwapSource::new(SHARED_TOKEN));
    let upstreams = gw.resolve_upstreams().await;
    assert!(
        upstreams.iter().all(|u| u.kind == "serving-endpoints"),
        "{upstreams:?}"
    );
    assert!(
        upstreams
            .iter()
            .all(|u| u.reason.contains("older AI Gateway host: ")),
        "{upstreams:?}"
    );
}

#[tokio::test]
async fn overrides_come_first_and_skip_probing() {
    let other = Emulator::start(shared()).await.unwrap();
    let workspace = Emulator::start(shared()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path());
    opts.gateway_host = Some(format!("{}/ai-gateway", other.url()));
    opts.agent_base_urls.insert(
        Caller::Agent(Agent::Claude),
        format!("{}/serving-endpoints/anthropic", workspace.url()),
    );
    let gw = gateway::start(
        opts,
        workspace.url().to_owned(),
        SwapSource::new(SHARED_TOKEN),
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", gw.url()))
            .bearer_auth(gw.key().expose())
            .json(&body)
            .send()
    };
    assert_eq!(
        post(
            "/claude/v1/messages",
            anthropic_body(CLAUDE, "per agent", false)
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        post(
            "/anthropic/v1/messages",
            anthropic_body(CLAUDE, "gateway host", false)
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        post(
            "/codex/responses",
            responses_body(GPT, "gateway host", false)
        )
        .await
        .unwrap()
        .status(),
        200
    );
    assert_eq!(
        data_plane_posts(&workspace),
        ["/serving-endpoints/anthropic/v1/messages"]
    );
    assert_eq!(
        data_plane_posts(&other),
        [
            "/ai-gateway/anthropic/v1/messages",
            "/ai-gateway/codex/v1/responses"
        ]
    );
    // No probes anywhere: overrides are taken as given.
    for emu in [&workspace, &other] {
        assert!(
            emu.requests()
                .iter()
                .all(|r| r.method == "POST" && r.status == 200),
            "{:?}",
            emu.requests()
        );
    }
    let usage = gw.usage();
    let claude = usage
        .upstreams
        .iter()
        .find(|u| u.agent.as_deref() == Some("claude"))
        .unwrap();
    assert_eq!(claude.kind, "override");
    let responses = usage
        .upstreams
        .iter()
        .find(|u| u.flavour == "responses" && u.agent.is_none())
        .unwrap();
    assert_eq!(responses.kind, "override");
    assert!(responses.reason.contains("DATABRICKS_GATEWAY_HOST"));
}

#[tokio::test]
async fn a_routing_404_makes_the_next_request_probe_again() {
    let rig = Rig::with(shared(), |_| {}).await;
    let body = chat_body(GPT, "x", false);
    assert_eq!(
        rig.post("/hermes/chat/completions", &body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The gateway route disappears: the agent sees that request's 404 …
    no_ai_gateway(&rig.emu);
    assert_eq!(
        rig.post("/hermes/chat/completions", &body)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // … and the next one is routed to serving endpoints after a fresh probe.
    assert_eq!(
        rig.post("/hermes/chat/completions", &body)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        data_plane_posts(&rig.emu).last().unwrap(),
        "/serving-endpoints/chat/completions"
    );
    let usage = rig.usage().await;
    assert!(kinds(&usage).contains(&("chat".to_owned(), "serving-endpoints".to_owned())));
}
