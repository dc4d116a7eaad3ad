//! Agents setup inside `kiln serve`: it runs at start against the server's own gateway (the
//! configs point at the gateway's URL with its key), `GET /api/agents` is behind the access check,
//! and pasting the first Databricks token starts another run that asks the workspace (models
//! from its serving endpoints, git identity from SCIM Me). Retry goes through the same API.

use crate::support::TestServer;
use kiln::agents::{Selection, SetupOptions};
use kiln::gateway::GatewayOptions;
use kiln_emulator::{Emulator, EmulatorOptions};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

async fn agents(server: &TestServer) -> Value {
    let r = server.req(Method::GET, "/api/agents").send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Waits until `runs` runs have finished and nothing is running.
async fn settled(server: &TestServer, runs: u64) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let snap = agents(server).await;
            if snap["runs"] == runs && snap["running"] == false {
                return snap;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("setup run {runs} did not finish within {WAIT:?}"))
}

fn item<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_runs_at_start_and_again_when_a_token_is_pasted() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let host = emu.url().to_owned();
    let tools = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tools.path());
    let server = TestServer::with(|opts| {
        let home = opts.term.home.clone().unwrap();
        opts.credentials.host = Some(host.clone());
        opts.credentials.broker = false;
        opts.gateway = Some(GatewayOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            fallback_to_free_port: false,
            state_dir: Some(home.join(".kiln")),
            probe: false,
            warm_up: false,
            ..GatewayOptions::default()
        });
        let mut setup = SetupOptions::new(home.clone()).unwrap();
        setup.install = fake.install_options(&home.join(".local"));
        setup.manifest = fake.manifest();
        setup.selection = Selection::parse("claude,codex,git,databricks").unwrap();
        setup.env = Default::default();
        opts.agents = Some(setup);
    })
    .await;
    let home = server.home.path().to_path_buf();

    // Behind the access check.
    let r = server
        .http
        .get(server.url("/api/agents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // First run at start: no token yet, so built-in model defaults and no git identity.
    let snap = settled(&server, 1).await;
    for name in ["claude", "codex", "git", "databricks"] {
        assert_eq!(item(&snap, name)["status"], "ok", "{name}: {snap}");
    }
    assert!(
        snap["models_source"]
            .as_str()
            .unwrap()
            .contains("built-in defaults"),
        "{snap}"
    );
    let usage: Value = server
        .req(Method::GET, "/api/usage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let gw_url = usage["url"].as_str().unwrap();
    let settings: Value =
        serde_json::from_slice(&std::fs::read(home.join(".claude/settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        settings["env"]["ANTHROPIC_BASE_URL"],
        format!("{gw_url}/claude")
    );
    let key = std::fs::read_to_string(home.join(".kiln/gateway.key")).unwrap();
    assert_eq!(settings["env"]["ANTHROPIC_AUTH_TOKEN"], key.trim());
    assert!(
        !std::fs::read_to_string(home.join(".gitconfig"))
            .unwrap_or_default()
            .contains("email")
    );

    // The first token: another run, now with the workspace's models and the owner's identity.
    let r = server
        .req(Method::POST, "/api/credentials")
        .json(&json!({ "token": emu.user_token() }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let snap = settled(&server, 2).await;
    assert!(
        snap["models_source"]
            .as_str()
            .unwrap()
            .contains("serving endpoints"),
        "{snap}"
    );
    assert_eq!(snap["models"]["codex"], "databricks-gpt-5-5");
    let gitconfig = std::fs::read_to_string(home.join(".gitconfig")).unwrap();
    assert!(
        gitconfig.contains("email = alice@example.com"),
        "{gitconfig}"
    );
    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("model = \"databricks-gpt-5-5\""), "{codex}");

    // Retry through the API.
    let r = server
        .req(Method::POST, "/api/agents/codex/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = server
        .req(Method::POST, "/api/agents/nope/retry")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let snap = settled(&server, 2).await;
    assert_eq!(item(&snap, "codex")["status"], "ok");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_setup_the_api_says_it_is_off() {
    let server = TestServer::start().await;
    let r = server.req(Method::GET, "/api/agents").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"enabled": false}));
    let r = server
        .req(Method::POST, "/api/agents/codex/retry")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    server.stop().await;
}
