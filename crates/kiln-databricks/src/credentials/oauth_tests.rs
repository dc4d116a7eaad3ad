//! OAuth M2M tests against a small local token endpoint: request shape, caching,
//! single-flight, background refresh ahead of expiry, rejection, errors without secrets.

use super::*;
use axum::Router;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::Notify;

const SECRET: &str = "dose-test-secret-value";

struct Endpoint {
    calls: AtomicU32,
    expires_in: serde_json::Value,
    /// When set, each request waits for a notification before answering.
    gate: Option<Notify>,
    arrived: Notify,
}

async fn token(
    AxState(ep): AxState<Arc<Endpoint>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let n = ep.calls.fetch_add(1, Ordering::SeqCst) + 1;
    ep.arrived.notify_one();
    if let Some(gate) = &ep.gate {
        gate.notified().await;
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("client-1:{SECRET}"))
    );
    let auth_ok =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    let form_ok = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("scope").map(String::as_str) == Some("all-apis");
    if !auth_ok || !form_ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error":"invalid_client","error_description":"Client authentication failed","error_id":"x"})),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": format!("jwt-{n}"),
        "token_type": "Bearer",
        "expires_in": ep.expires_in,
        "scope": "all-apis",
    }))
    .into_response()
}

async fn serve(expires_in: serde_json::Value, gated: bool) -> (String, Arc<Endpoint>) {
    let ep = Arc::new(Endpoint {
        calls: AtomicU32::new(0),
        expires_in,
        gate: gated.then(Notify::new),
        arrived: Notify::new(),
    });
    let app = Router::new()
        .route("/oidc/v1/token", post(token))
        .with_state(Arc::clone(&ep));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), ep)
}

fn provider(host: &str, secret: &str) -> OAuthM2m {
    let retry = RetryPolicy {
        budget: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    OAuthM2m::new(
        crate::http::build_http_client().unwrap(),
        host,
        "client-1".into(),
        Secret::new(secret),
        retry,
        "kiln-test/0".into(),
    )
}

#[tokio::test]
async fn fetches_caches_and_hides_the_secret() {
    let (host, ep) = serve(serde_json::json!(3600), false).await;
    let p = provider(&host, SECRET);
    assert_eq!(p.token().await.unwrap().expose(), "jwt-1");
    assert_eq!(p.token().await.unwrap().expose(), "jwt-1");
    assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
    assert_eq!(p.auth_type(), "oauth-m2m");
    let dbg = format!("{p:?}");
    assert!(!dbg.contains(SECRET) && dbg.contains("client-1"), "{dbg}");
}

#[tokio::test]
async fn expires_in_as_a_string_is_accepted() {
    let (host, _ep) = serve(serde_json::json!("3600"), false).await;
    assert_eq!(
        provider(&host, SECRET).token().await.unwrap().expose(),
        "jwt-1"
    );
}

#[tokio::test]
async fn missing_expires_in_is_a_clear_error() {
    let (host, _ep) = serve(serde_json::Value::Null, false).await;
    let e = provider(&host, SECRET).token().await.unwrap_err();
    assert!(
        e.to_string().contains("missing or invalid expires_in"),
        "{e}"
    );
}

#[tokio::test]
async fn rejected_client_gives_an_error_without_the_secret() {
    let (host, ep) = serve(serde_json::json!(3600), false).await;
    let p = provider(&host, "wrong-secret-value");
    let e = p.token().await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("Client authentication failed") && msg.contains("invalid_client"),
        "{msg}"
    );
    assert!(
        !msg.contains("wrong-secret-value") && !format!("{e:?}").contains("wrong-secret-value")
    );
    assert_eq!(ep.calls.load(Ordering::SeqCst), 1, "a 401 is not retried");
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_callers_share_one_fetch() {
    let (host, ep) = serve(serde_json::json!(3600), true).await;
    let p = provider(&host, SECRET);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.token().await.map(|t| t.expose().to_owned()) })
        })
        .collect();
    // The first request is being served and held; every other caller is waiting by now.
    tokio::time::timeout(Duration::from_secs(10), ep.arrived.notified())
        .await
        .unwrap();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    ep.gate.as_ref().unwrap().notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "jwt-1");
    }
    assert_eq!(ep.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshes_in_the_background_before_expiry() {
    // TTL 4 s: refresh-ahead from 2 s, stale from 3 s.
    let (host, ep) = serve(serde_json::json!(4), false).await;
    let p = provider(&host, SECRET);
    let first = p.token().await.unwrap();
    assert_eq!(first.expose(), "jwt-1");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen_first_again = 0u32;
    loop {
        let t = p.token().await.unwrap();
        if t != first {
            assert_eq!(t.expose(), "jwt-2");
            break;
        }
        seen_first_again += 1;
        assert!(Instant::now() < deadline, "no refreshed token after 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_first_again > 0);
    assert_eq!(
        ep.calls.load(Ordering::SeqCst),
        2,
        "one refresh for many calls"
    );
}

#[tokio::test]
async fn rejected_token_is_dropped() {
    let (host, ep) = serve(serde_json::json!(3600), false).await;
    let p = provider(&host, SECRET);
    let t1 = p.token().await.unwrap();
    assert!(p.rejected(&t1));
    let t2 = p.token().await.unwrap();
    assert_eq!(t2.expose(), "jwt-2");
    // Rejecting an old token does not throw away the new one.
    assert!(p.rejected(&t1));
    assert_eq!(p.token().await.unwrap(), t2);
    assert_eq!(ep.calls.load(Ordering::SeqCst), 2);
}
