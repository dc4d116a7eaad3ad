//! The gateway inside `kiln serve`: started with the server's workspace and current-token
//! source, `GET /api/usage` behind the server's access check, the discovery file written while
//! it runs and removed when the server stops.

use crate::support::gateway::{
    CLAUDE, GEMINI, WAIT, anthropic_body, assert_no_escape, gemini_body, raw_post, usage_of,
};
use crate::support::{KEY, TestServer};
use kiln::credentials::ConfigSource;
use kiln::gateway::GatewayOptions;
use kiln_databricks::{Secret, StaticToken};
use kiln_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;
use std::sync::Arc;

#[tokio::test]
async fn serve_runs_the_gateway_and_reports_usage() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let token = emu.user_token().to_owned();
    let host = emu.url().to_owned();
    let server = TestServer::with(|opts| {
        let home = opts.term.home.clone().unwrap();
        opts.credentials.host = Some(host.clone());
        opts.credentials.broker = false;
        opts.credentials.config_source = Some(ConfigSource {
            source: Arc::new(StaticToken::new(Secret::new(token.clone()))),
            description: "test token".into(),
        });
        opts.gateway = Some(GatewayOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            fallback_to_free_port: false,
            state_dir: Some(home.join(".kiln")),
            ..GatewayOptions::default()
        });
    })
    .await;

    // /api/usage is behind the server's access check.
    let r = server
        .http
        .get(server.url("/api/usage"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let usage: Value = server
        .req(reqwest::Method::GET, "/api/usage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = usage["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{usage}");
    assert_eq!(usage["host"], emu.url());

    // Agents find it through the discovery file and use the local key.
    let state = server.home.path().join(".kiln");
    let discovery: Value =
        serde_json::from_slice(&std::fs::read(state.join("gateway.json")).unwrap()).unwrap();
    assert_eq!(discovery["url"], url.as_str());
    let key = std::fs::read_to_string(state.join("gateway.key"))
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(key, KEY);
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let r = http
        .post(format!("{url}/claude/v1/messages"))
        .bearer_auth(&key)
        .json(&anthropic_body(CLAUDE, "from a terminal", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let used = emu
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST")
        .unwrap();
    assert_eq!(used.identity.as_deref(), Some(emu.user_email()));

    let usage: Value = server
        .req(reqwest::Method::GET, "/api/usage")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage_of(&usage, "claude", CLAUDE)["requests"], 1);

    // Only model paths leave kiln serve's gateway too (issue 8, finding 1).
    let target = format!("Users/{}/pwned-by-serve.txt", emu.user_email());
    assert_no_escape(&emu, &url, &key, &target).await;
    let (status, answer) = raw_post(
        &url,
        &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
        &key,
        &gemini_body("still works"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");

    let home = server.home.path().to_path_buf();
    server.stop().await;
    assert!(!home.join(".kiln/gateway.json").exists());
}
