//! The HTTP admin API under `/__emulator/` (a path Databricks never uses), accepted only
//! from loopback peers and never from a foreign browser origin: clock, faults, request log,
//! users, tokens, settings, state-machine delays, recorded init scripts, app credentials.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::faults::Fault;
use crate::net::ConnInfo;
use crate::settings::{Settings, StateDelays};
use crate::world::Shared;

/// The admin router (state applied).
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/__emulator/info", get(info))
        .route("/__emulator/clock", get(clock))
        .route("/__emulator/clock/advance", post(advance))
        .route("/__emulator/settings", get(get_settings).put(put_settings))
        .route("/__emulator/delays", get(get_delays).put(put_delays))
        .route(
            "/__emulator/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/__emulator/faults/{id}", delete(remove_fault))
        .route("/__emulator/requests", get(requests).delete(clear_requests))
        .route("/__emulator/users", post(create_user))
        .route("/__emulator/tokens", post(create_token))
        .route("/__emulator/clusters/{id}/init-scripts", get(init_scripts))
        .route("/__emulator/apps/{name}/credentials", get(app_credentials))
        .merge(crate::apps::admin::router())
        .merge(crate::serving::admin_router(shared.serving.clone()))
        .layer(from_fn(guard))
        .with_state(shared)
}

/// Loopback peers only; a browser `Origin` must match `Host` (no cross-site driving).
async fn guard(req: Request, next: Next) -> Response {
    let loopback = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|ConnectInfo(ci)| ci.peer.ip().is_loopback())
        .unwrap_or(true);
    if !loopback {
        return ApiError::permission_denied(
            "The emulator admin API only answers loopback clients.",
        )
        .into_response();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if Some(origin_host) != host {
            return ApiError::permission_denied(
                "Cross-origin requests to the admin API are refused.",
            )
            .into_response();
        }
    }
    next.run(req).await
}

async fn info(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "identities": s.identities,
        "now_ms": s.now_ms(),
    }))
}

async fn clock(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "now_ms": s.now_ms() }))
}

#[derive(Deserialize)]
struct AdvanceBody {
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    millis: u64,
}

async fn advance(
    State(s): State<Arc<Shared>>,
    JsonBody(b): JsonBody<AdvanceBody>,
) -> ApiResult<Json<Value>> {
    if !b.seconds.is_finite() || b.seconds < 0.0 {
        return Err(ApiError::invalid("seconds must be a non-negative number"));
    }
    let by = Duration::from_secs_f64(b.seconds) + Duration::from_millis(b.millis);
    let now = s.clock.advance(by);
    tracing::info!(by_ms = by.as_millis() as u64, "clock advanced");
    Ok(Json(json!({ "now_ms": now })))
}

async fn get_settings(State(s): State<Arc<Shared>>) -> Json<Settings> {
    Json(s.world().settings.clone())
}

async fn put_settings(
    State(s): State<Arc<Shared>>,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<Settings>> {
    let mut w = s.world();
    let merged = merge(serde_json::to_value(&w.settings).unwrap_or_default(), patch);
    w.settings = serde_json::from_value(merged)
        .map_err(|e| ApiError::invalid(format!("Invalid settings: {e}")))?;
    Ok(Json(w.settings.clone()))
}

async fn get_delays(State(s): State<Arc<Shared>>) -> Json<StateDelays> {
    Json(s.world().delays.clone())
}

async fn put_delays(
    State(s): State<Arc<Shared>>,
    JsonBody(patch): JsonBody<Value>,
) -> ApiResult<Json<StateDelays>> {
    let mut w = s.world();
    let merged = merge(serde_json::to_value(&w.delays).unwrap_or_default(), patch);
    w.delays = serde_json::from_value(merged)
        .map_err(|e| ApiError::invalid(format!("Invalid delays: {e}")))?;
    Ok(Json(w.delays.clone()))
}

fn merge(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Value::Object(p)) = (base.as_object_mut(), patch) {
        for (k, v) in p {
            b.insert(k, v);
        }
    }
    base
}

async fn list_faults(State(s): State<Arc<Shared>>) -> Json<Value> {
    let rules: Vec<Value> = s
        .faults
        .list()
        .into_iter()
        .map(|(id, f, remaining)| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            v["id"] = json!(id);
            v["remaining"] = json!(remaining);
            v
        })
        .collect();
    Json(json!({ "faults": rules }))
}

async fn add_fault(
    State(s): State<Arc<Shared>>,
    JsonBody(f): JsonBody<Fault>,
) -> ApiResult<Json<Value>> {
    if f.path.is_empty() {
        return Err(ApiError::invalid("path is required"));
    }
    let id = s.faults.add(f, s.now_ms());
    Ok(Json(json!({ "id": id })))
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> Json<Value> {
    s.faults.clear();
    Json(json!({}))
}

async fn remove_fault(State(s): State<Arc<Shared>>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    if s.faults.remove(id) {
        Ok(Json(json!({})))
    } else {
        Err(ApiError::not_found(format!("No fault with id {id}")))
    }
}

async fn requests(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({ "requests": s.log.entries() }))
}

async fn clear_requests(State(s): State<Arc<Shared>>) -> Json<Value> {
    s.log.clear();
    Json(json!({}))
}

#[derive(Deserialize)]
struct UserBody {
    email: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(
    State(s): State<Arc<Shared>>,
    JsonBody(b): JsonBody<UserBody>,
) -> ApiResult<Response> {
    let token = s
        .create_user(&b.email, b.admin)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok((
        StatusCode::OK,
        Json(json!({ "email": b.email, "token": token })),
    )
        .into_response())
}

#[derive(Deserialize)]
struct TokenBody {
    user: String,
    lifetime_seconds: Option<i64>,
    comment: Option<String>,
    token: Option<String>,
}

async fn create_token(
    State(s): State<Arc<Shared>>,
    JsonBody(b): JsonBody<TokenBody>,
) -> ApiResult<Json<Value>> {
    let token = s
        .create_token(&b.user, b.lifetime_seconds, b.comment, b.token)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(
        json!({ "token_value": token, "token_id": crate::ids::token_id(&token) }),
    ))
}

async fn init_scripts(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let runs = s
        .init_scripts(&id)
        .ok_or_else(|| ApiError::not_found(format!("Cluster {id} does not exist")))?;
    let runs: Vec<Value> = runs
        .into_iter()
        .map(|r| {
            json!({
                "kind": r.kind,
                "destination": r.destination,
                "content": r.content.map(|c| String::from_utf8_lossy(&c).into_owned()),
                "env": r.env,
                "run_ms": r.run_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "init_scripts": runs })))
}

async fn app_credentials(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (id, secret) = s.app_credentials(&name).ok_or_else(|| {
        ApiError::not_found(format!(
            "App with name {name} does not exist or is deleted."
        ))
    })?;
    Ok(Json(json!({ "client_id": id, "client_secret": secret })))
}
