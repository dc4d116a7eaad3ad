//! The loopback control listener `kiln sync` talks to while `kiln serve` runs: address in
//! `~/.kiln/sync.json`, a fresh key in `~/.kiln/sync.key` (0600), `Authorization: Bearer <key>`
//! compared in constant time, loopback `Host` only. Routes: `GET /status` (the `/api/sync`
//! document), `POST /run` `{"action": "sync"|"restore", "names": [...], "force": bool}` (waits
//! for the outcome). The key is local to this machine and grants nothing in Databricks.

use super::service::{Action, SyncHandle};
use crate::state::{random_hex, remove_quietly, write_private};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

/// Discovery file under `~/.kiln`.
pub const INFO_FILE: &str = "sync.json";
/// Key file under `~/.kiln`.
pub const KEY_FILE: &str = "sync.key";

#[derive(Clone)]
struct Ctl {
    handle: SyncHandle,
    key: String,
}

/// Body of `POST /run`.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct RunBody {
    /// `sync` or `restore`.
    pub action: String,
    /// Projects (empty: all).
    #[serde(default)]
    pub names: Vec<String>,
    /// Sync even over a workspace copy kiln has no record of.
    #[serde(default)]
    pub force: bool,
}

/// Starts the listener and writes the files; they are removed at shutdown.
pub fn start(
    handle: SyncHandle,
    kiln_dir: &Path,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let key = random_hex(32)?;
    let key_path = kiln_dir.join(KEY_FILE);
    let info_path = kiln_dir.join(INFO_FILE);
    write_private(&key_path, format!("{key}\n").as_bytes())?;
    write_private(
        &info_path,
        format!("{}\n", json!({"url": url, "pid": std::process::id()})).as_bytes(),
    )?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = Router::new()
        .route("/status", get(status))
        .route("/run", post(run))
        .layer(from_fn_with_state(
            Ctl {
                handle: handle.clone(),
                key: key.clone(),
            },
            check,
        ))
        .with_state(Ctl { handle, key });
    let files: Vec<PathBuf> = vec![info_path, key_path];
    tokio::spawn(async move {
        let limits = crate::http::conn::Limits::default();
        let served = crate::http::conn::serve(listener, app, limits, shutdown).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "sync control listener stopped");
        }
        for f in &files {
            remove_quietly(f);
        }
    });
    Ok(())
}

async fn check(State(ctl): State<Ctl>, req: Request, next: Next) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            let name = h.rsplit_once(':').map_or(h, |(n, _)| n);
            matches!(name, "127.0.0.1" | "localhost" | "[::1]")
        });
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !host_ok || !bool::from(given.as_bytes().ct_eq(ctl.key.as_bytes())) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "unauthorized"})),
        )
            .into_response();
    }
    next.run(req).await
}

async fn status(State(ctl): State<Ctl>) -> Response {
    Json(ctl.handle.status_json()).into_response()
}

async fn run(
    State(ctl): State<Ctl>,
    body: Result<Json<RunBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "bad_request", "message": "expected {\"action\", \"names\", \"force\"}"}))).into_response();
    };
    let action = match body.action.as_str() {
        "sync" => Action::Sync { force: body.force },
        "restore" => Action::Restore,
        other => {
            return (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": "bad_request", "message": format!("unknown action {other:?}")}),
                ),
            )
                .into_response();
        }
    };
    match ctl.handle.request(action, body.names).await {
        Ok(results) => {
            let results: Vec<_> = results
                .into_iter()
                .map(|(name, r)| match r {
                    Ok(()) => json!({"name": name, "ok": true}),
                    Err(e) => json!({"name": name, "ok": false, "message": e}),
                })
                .collect();
            Json(json!({"results": results, "status": ctl.handle.status_json()})).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable", "message": e})),
        )
            .into_response(),
    }
}
