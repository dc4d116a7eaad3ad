//! `GET /api/sync` (every project's status, see `status.rs`) and `POST /api/sync/retry`
//! `{"name"?}` (queue a sync now, 202) on the server of `kiln serve`, behind its access checks.
//! Without sync (no workspace configured) `GET` answers `{"enabled": false}`.

use super::service::SyncHandle;
use crate::http::ApiJson;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct RetryBody {
    #[serde(default)]
    name: Option<String>,
}

/// The routes (state already applied), for merging into the server's router.
pub fn router<S: Clone + Send + Sync + 'static>(handle: Option<SyncHandle>) -> Router<S> {
    match handle {
        Some(h) => Router::new()
            .route("/api/sync", get(status))
            .route("/api/sync/retry", post(retry))
            .with_state(h),
        None => Router::new().route(
            "/api/sync",
            get(|| async { Json(json!({"enabled": false})) }),
        ),
    }
}

async fn status(State(h): State<SyncHandle>) -> Response {
    Json(h.status_json()).into_response()
}

async fn retry(State(h): State<SyncHandle>, ApiJson(body): ApiJson<RetryBody>) -> Response {
    let names: Vec<String> = body.name.into_iter().collect();
    if let Some(n) = names.first()
        && h.board().get(n).is_none()
    {
        return crate::http::AppError::not_found("project").into_response();
    }
    if h.nudge(names) {
        (StatusCode::ACCEPTED, Json(json!({"queued": true}))).into_response()
    } else {
        crate::http::AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "the sync queue is full; try again shortly",
        )
        .into_response()
    }
}
