//! HTTP API of the setup runner, for `kiln serve`: `GET /api/agents` (progress: items, steps,
//! status, durations, log tail, models) and `POST /api/agents/{name}/retry` (202; 404 for an
//! unknown name; 409 while that item is being set up). The handlers capture the runner, so the
//! router fits any state type and merges into the server's router before its layers (the access
//! check and the same-origin rule apply as to every `/api` route).

use super::setup::{RetryError, SetupRunner};
use crate::http::AppError;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// The router of the setup API.
pub fn setup_router<S>(runner: SetupRunner) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let r1 = runner.clone();
    Router::new()
        .route(
            "/api/agents",
            get(move || {
                let r = r1.clone();
                async move { Json(r.snapshot()) }
            }),
        )
        .route(
            "/api/agents/{name}/retry",
            post(move |Path(name): Path<String>| {
                let r = runner.clone();
                async move { retry(&r, &name) }
            }),
        )
}

fn retry(runner: &SetupRunner, name: &str) -> Response {
    match runner.retry(name) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({"retrying": name}))).into_response(),
        Err(e @ RetryError::Unknown(_)) => {
            AppError::new(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e @ RetryError::Busy(_)) => {
            AppError::new(StatusCode::CONFLICT, e.to_string()).into_response()
        }
    }
}
