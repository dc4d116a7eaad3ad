//! `GET/PUT /api/settings` against a real server: empty at first, a valid PUT is kept in
//! `~/.kiln/ui-settings.json` (0600) and read back, refused bodies (wrong shape, out of range,
//! garbage, too large, no key) change nothing and say why.

use crate::support::{KEY, TestServer};
use reqwest::Method;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;

async fn put(srv: &TestServer, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let r = srv
        .req(Method::PUT, "/api/settings")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(srv: &TestServer) -> Value {
    let r = srv.req(Method::GET, "/api/settings").send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn settings_are_kept_validated_and_private() {
    let srv = TestServer::start().await;
    assert_eq!(get(&srv).await, json!({"settings": {}}));

    let good = json!({
        "version": 1, "theme": "solarized-light", "font_size": 16, "cursor": "bar",
        "scrollback": 20000, "copy_on_select": true,
        "layout": {"tabs": [{"label": "build", "panes": {"split": "h", "a": {}, "b": {}}}]}
    });
    let (status, body) = put(&srv, good.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(&srv).await, json!({ "settings": good }));
    let file = srv.home.path().join(".kiln").join("ui-settings.json");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(file.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);

    for (bad, says) in [
        (json!({"font_size": 40}).to_string(), "font_size"),
        (json!({"cursor": "blob"}).to_string(), "cursor"),
        (json!({"unknown": 1}).to_string(), "unknown setting"),
        (json!(["not", "an", "object"]).to_string(), "object"),
        ("{not json".to_string(), "malformed"),
    ] {
        let (status, body) = put(&srv, bad).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["message"].as_str().unwrap().contains(says), "{body}");
    }
    let huge = json!({"layout": {"names": "x".repeat(100 << 10)}}).to_string();
    let (status, body) = put(&srv, huge).await;
    assert_eq!(status, 413, "{body}");
    // Nothing refused touched what was kept.
    assert_eq!(get(&srv).await, json!({ "settings": good }));

    // Without the key: refused.
    let r = srv.http.get(srv.url("/api/settings")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = srv
        .http
        .put(srv.url("/api/settings"))
        .bearer_auth(format!("{KEY}-wrong"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A file damaged by hand reads as no settings; the next PUT replaces it.
    std::fs::write(&file, b"{damaged").unwrap();
    assert_eq!(get(&srv).await, json!({"settings": {}}));
    let (status, _) = put(&srv, json!({"theme": "dark"}).to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(get(&srv).await, json!({"settings": {"theme": "dark"}}));
    srv.stop().await;
}

/// Without a model gateway, `GET /api/usage` says so with a 200 (the UI hides the usage chip; a
/// 404 would be an error in every browser console), still behind the access check.
#[tokio::test]
async fn usage_without_a_gateway_says_so() {
    let srv = TestServer::start().await;
    let r = srv.req(Method::GET, "/api/usage").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"gateway": false}));
    let anonymous = reqwest::get(srv.url("/api/usage")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
}
