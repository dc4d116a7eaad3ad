//! Serving-endpoints control plane rendered from the data plane's catalog, and the data
//! plane behind the same auth layer.

use crate::support::start;
use serde_json::json;

#[tokio::test]
async fn list_and_get_endpoints() {
    let c = start().await;
    let list = c.get("/api/2.0/serving-endpoints").await;
    let names: Vec<&str> = list.body["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let catalog: Vec<String> = c
        .emu
        .serving()
        .endpoints()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, catalog);
    let one = c
        .get("/api/2.0/serving-endpoints/databricks-claude-sonnet-4-5")
        .await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["state"]["ready"], "READY");
    assert_eq!(one.body["task"], "llm/v1/chat");
    let missing = c.get("/api/2.0/serving-endpoints/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn data_plane_requires_a_credential() {
    let c = start().await;
    let body = json!({"model": "databricks-claude-sonnet-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]});
    let anon = c
        .call(
            "POST",
            "/serving-endpoints/anthropic/v1/messages",
            None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(anon.status, 401);
    let ok = c
        .post("/serving-endpoints/anthropic/v1/messages", body)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let log = c.emu.requests();
    assert_eq!(
        log.last().unwrap().identity.as_deref(),
        Some(c.emu.user_email())
    );
}

#[tokio::test]
async fn serving_admin_routes_are_mounted_on_the_emulator() {
    let c = start().await;
    let http = reqwest::Client::new();
    let queued: serde_json::Value = http
        .post(c.url("/__emulator/serving/script"))
        .json(&json!({"steps": [{"text": "scripted over http"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(queued["queued"], 1);
    let body = json!({"model": "databricks-claude-sonnet-4-5", "max_tokens": 16,
                      "messages": [{"role": "user", "content": "hi"}]});
    let r = c
        .post("/serving-endpoints/anthropic/v1/messages", body)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["content"][0]["text"], "scripted over http");
}
