//! Metadata-service tests against a small local service: request headers, caching,
//! single-flight, refresh before `expires_on`, rejection, errors that never show the URL.

use super::*;
use axum::Router;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::Notify;

const KEY: &str = "key-0123456789abcdef";
const HOST: &str = "https://dbc-1.cloud.databricks.com";

struct Service {
    calls: AtomicU32,
    /// Seconds from now for `expires_on`.
    ttl: u64,
    gate: Option<Notify>,
    arrived: Notify,
}

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn metadata(
    AxState(svc): AxState<Arc<Service>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let n = svc.calls.fetch_add(1, Ordering::SeqCst) + 1;
    svc.arrived.notify_one();
    if let Some(gate) = &svc.gate {
        gate.notified().await;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if key != KEY {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error":"unauthorized","message":"wrong broker key"})),
        )
            .into_response();
    }
    if header("x-databricks-metadata-version") != Some("1")
        || header("x-databricks-host") != Some(HOST)
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error":"bad_request","message":"bad headers"})),
        )
            .into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": format!("tok-{n}"),
        "token_type": "Bearer",
        "expires_on": epoch() + svc.ttl,
    }))
    .into_response()
}

async fn serve(ttl: u64, gated: bool) -> (String, Arc<Service>) {
    let svc = Arc::new(Service {
        calls: AtomicU32::new(0),
        ttl,
        gate: gated.then(Notify::new),
        arrived: Notify::new(),
    });
    let app = Router::new()
        .route("/metadata/{key}", get(metadata))
        .with_state(Arc::clone(&svc));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), svc)
}

fn source(url: String) -> MetadataService {
    let retry = RetryPolicy {
        budget: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    MetadataService::new(
        crate::http::build_http_client_without_proxy().unwrap(),
        Secret::new(url),
        HOST,
        &retry,
        "kiln-test/0".into(),
    )
}

#[test]
fn parses_responses_like_the_sdk() {
    let now = Duration::from_secs(1_000_000);
    let ok = |body: &str| parse(body.as_bytes(), now);
    let (t, ttl) =
        ok(r#"{"access_token":"a","token_type":"Bearer","expires_on":1003600}"#).unwrap();
    assert_eq!((t.expose(), ttl), ("a", Duration::from_secs(3600)));
    let (_, ttl) =
        ok(r#"{"access_token":"a","token_type":"bearer","expires_on":"1000060"}"#).unwrap();
    assert_eq!(ttl, Duration::from_secs(60));
    for (body, why) in [
        (
            r#"{"token_type":"Bearer","expires_on":1003600}"#,
            "no access_token",
        ),
        (
            r#"{"access_token":"a","expires_on":1003600}"#,
            "no token_type",
        ),
        (
            r#"{"access_token":"a","token_type":"Bearer"}"#,
            "expires_on",
        ),
        (
            r#"{"access_token":"a","token_type":"Bearer","expires_on":""}"#,
            "expires_on",
        ),
        (
            r#"{"access_token":"a","token_type":"Bearer","expires_on":999999}"#,
            "expired",
        ),
        (
            r#"{"access_token":"a","token_type":"MAC","expires_on":1003600}"#,
            "not Bearer",
        ),
        ("<html>", "not a token response"),
    ] {
        let e = ok(body).unwrap_err().to_string();
        assert!(e.contains(why), "{body}: {e}");
    }
}

#[tokio::test]
async fn sends_the_headers_and_caches_the_token() {
    let (base, svc) = serve(3600, false).await;
    let s = source(format!("{base}/metadata/{KEY}"));
    assert_eq!(s.token().await.unwrap().expose(), "tok-1");
    assert_eq!(s.token().await.unwrap().expose(), "tok-1");
    assert_eq!(svc.calls.load(Ordering::SeqCst), 1);
    assert_eq!(s.auth_type(), "metadata-service");
    let debug = format!("{s:?}");
    assert!(!debug.contains(KEY), "{debug}");
}

#[tokio::test]
async fn errors_never_show_the_url() {
    let (base, _svc) = serve(3600, false).await;
    let s = source(format!("{base}/metadata/wrong-{KEY}"));
    let e = s.token().await.unwrap_err().to_string();
    assert!(
        e.contains("metadata service") && e.contains("wrong broker key"),
        "{e}"
    );
    assert!(!e.contains(KEY), "{e}");

    // Nothing listening: a transport error, still without the URL.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let retry = RetryPolicy {
        budget: Duration::from_millis(200),
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let s = MetadataService::new(
        crate::http::build_http_client_without_proxy().unwrap(),
        Secret::new(format!("http://{addr}/metadata/{KEY}")),
        HOST,
        &retry,
        "kiln-test/0".into(),
    );
    let e = s.token().await.unwrap_err().to_string();
    assert!(e.contains("metadata service"), "{e}");
    assert!(!e.contains(KEY), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_callers_share_one_fetch() {
    let (base, svc) = serve(3600, true).await;
    let s = source(format!("{base}/metadata/{KEY}"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.token().await.map(|t| t.expose().to_owned()) })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(10), svc.arrived.notified())
        .await
        .unwrap();
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    svc.gate.as_ref().unwrap().notify_one();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "tok-1");
    }
    assert_eq!(svc.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn refreshes_before_expires_on() {
    // expires_on 4 s ahead: refresh-ahead from ~2 s, stale from ~3 s.
    let (base, svc) = serve(4, false).await;
    let s = source(format!("{base}/metadata/{KEY}"));
    let first = s.token().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = s.token().await.unwrap();
        if t != first {
            assert_eq!(t.expose(), "tok-2");
            break;
        }
        assert!(Instant::now() < deadline, "no refreshed token after 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(svc.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rejected_token_is_dropped() {
    let (base, svc) = serve(3600, false).await;
    let s = source(format!("{base}/metadata/{KEY}"));
    let t1 = s.token().await.unwrap();
    assert!(s.rejected(&t1));
    assert_eq!(s.token().await.unwrap().expose(), "tok-2");
    assert_eq!(svc.calls.load(Ordering::SeqCst), 2);
}
