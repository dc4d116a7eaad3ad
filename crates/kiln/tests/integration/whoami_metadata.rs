//! `kiln whoami` inside a kiln terminal: the `[kiln]` profile kiln serve writes
//! (`auth_type = metadata-service`, see `kiln::credentials::profile`) works for kiln's own
//! commands too. A stand-in for the token broker's `GET /metadata/<key>` hands out a token the
//! emulator accepts; the real binary is run with that profile.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kiln_databricks::Secret;
use kiln_emulator::{Emulator, EmulatorOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KEY: &str = "broker-key-0123456789abcdef";

struct Broker {
    host: String,
    token: String,
    calls: AtomicU32,
}

async fn metadata(
    State(b): State<Arc<Broker>>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    b.calls.fetch_add(1, Ordering::SeqCst);
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if key != KEY
        || header("x-databricks-metadata-version") != Some("1")
        || header("x-databricks-host") != Some(b.host.as_str())
    {
        return (StatusCode::BAD_REQUEST, "bad metadata request").into_response();
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    axum::Json(serde_json::json!({
        "access_token": b.token,
        "token_type": "Bearer",
        "expires_on": now.as_secs() + 3600,
    }))
    .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whoami_uses_the_kiln_profile_with_metadata_service_auth() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let broker = Arc::new(Broker {
        host: emu.url().to_owned(),
        token: emu.user_token().to_owned(),
        calls: AtomicU32::new(0),
    });
    let app = Router::new()
        .route("/metadata/{key}", get(metadata))
        .with_state(Arc::clone(&broker));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let home = tempfile::tempdir().unwrap();
    let url = Secret::new(format!("http://{addr}/metadata/{KEY}"));
    kiln::profile::install(home.path(), emu.url(), &url).unwrap();

    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.arg("whoami")
        .env("HOME", home.path())
        .env("DATABRICKS_CONFIG_PROFILE", "kiln")
        .kill_on_drop(true);
    for (name, _) in std::env::vars() {
        if name.starts_with("DATABRICKS_") && name != "DATABRICKS_CONFIG_PROFILE" {
            cmd.env_remove(name);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(&format!("user name:    {}", emu.user_email())),
        "{stdout}"
    );
    assert!(
        stdout.contains("auth type:    metadata-service"),
        "{stdout}"
    );
    assert!(
        stdout.contains("metadata_service_url=*** (from profile kiln in ~/.databrickscfg)"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(KEY) && !stderr.contains(KEY),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains(emu.user_token()), "{stdout}");
    assert_eq!(broker.calls.load(Ordering::SeqCst), 1);
}
