//! What goes on the wire: User-Agent, workspace id, Authorization, Accept, content types —
//! checked by a tiny local server that records requests.

use crate::common::fast;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use kiln_databricks::{Client, ConfigLoader, Environment};
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<(String, HeaderMap, Vec<u8>)>>>;

async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/api/2.0/preview/scim/v2/Me",
            get(|State(s): State<Seen>, h: HeaderMap| async move {
                s.lock().unwrap().push(("me".into(), h, Vec::new()));
                axum::Json(serde_json::json!({"id": "1", "userName": "u@example.com"}))
            }),
        )
        .route(
            "/api/2.0/workspace-files/import-file/{*path}",
            post(
                |State(s): State<Seen>, h: HeaderMap, body: axum::body::Bytes| async move {
                    s.lock().unwrap().push(("import".into(), h, body.to_vec()));
                    ""
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn headers_on_the_wire() {
    let (url, seen) = serve().await;
    let config = ConfigLoader::new(
        Environment::new()
            .with_var("DATABRICKS_HOST", &url)
            .with_var("DATABRICKS_TOKEN", "dapi-header-test")
            .with_var("DATABRICKS_WORKSPACE_ID", "424242"),
    )
    .load()
    .unwrap();
    let client = Client::with_options(&config, fast()).unwrap();
    client.scim().me().await.unwrap();
    client
        .workspace()
        .import_file(
            "/Users/u@example.com/a.bin",
            bytes::Bytes::from_static(&[0, 1, 2, 255]),
            true,
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    let (_, h, _) = &seen[0];
    let ua = h["user-agent"].to_str().unwrap();
    assert!(
        ua.starts_with(&format!("kiln/{} ", env!("CARGO_PKG_VERSION"))),
        "{ua}"
    );
    assert!(ua.contains("os/") && ua.ends_with("auth/pat"), "{ua}");
    assert_eq!(h["x-databricks-workspace-id"], "424242");
    assert_eq!(h["authorization"], "Bearer dapi-header-test");
    assert_eq!(h["accept"], "application/json");
    let (_, h, body) = &seen[1];
    assert_eq!(body, &vec![0, 1, 2, 255]);
    assert_eq!(h["content-type"], "application/octet-stream");
}
