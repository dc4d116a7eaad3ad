//! Personal access tokens: `POST /api/2.0/token/create`, `GET /api/2.0/token/list`,
//! `POST /api/2.0/token/delete` — lifetime honoured against the emulator clock, expired
//! tokens hidden from the list, a per-principal quota, and an optional admin lifetime cap.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::ids;
use crate::principals::{Caller, Pat};
use crate::world::{Shared, World};

/// Lifetime of a token created without `lifetime_seconds` (the SDK documents two years).
pub const DEFAULT_LIFETIME_SECS: i64 = 2 * 365 * 24 * 3600;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/token/create", post(create))
        .route("/api/2.0/token/list", get(list))
        .route("/api/2.0/token/delete", post(delete))
}

#[derive(Deserialize)]
struct CreateBody {
    lifetime_seconds: Option<i64>,
    comment: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct DeleteBody {
    token_id: Option<String>,
}

/// `PublicTokenInfo` JSON.
pub fn info(p: &Pat) -> Value {
    let mut v = json!({
        "token_id": p.token_id,
        "creation_time": p.created_ms,
        "expiry_time": p.expiry_ms,
    });
    if let Some(c) = &p.comment {
        v["comment"] = json!(c);
    }
    if let Some(s) = &p.scopes {
        v["scopes"] = json!(s);
    }
    v
}

/// Creates a token for `owner`, enforcing quota and lifetime cap; returns (value, info).
pub fn create_for(
    w: &mut World,
    owner: u64,
    now: i64,
    lifetime_seconds: Option<i64>,
    comment: Option<String>,
    scopes: Option<Vec<String>>,
    value: Option<String>,
) -> ApiResult<(String, Pat)> {
    let lifetime = match lifetime_seconds {
        None => DEFAULT_LIFETIME_SECS,
        Some(s) if s <= 0 => -1,
        Some(s) => s,
    };
    if let Some(cap) = w.settings.max_token_lifetime_secs {
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        if lifetime < 0 || lifetime > cap {
            return Err(ApiError::invalid(format!(
                "Token lifetime exceeds the maximum of {} days allowed by the workspace administrator.",
                cap / 86_400
            )));
        }
    }
    let live = w
        .pats
        .values()
        .filter(|p| p.owner == owner && (p.expiry_ms < 0 || p.expiry_ms > now))
        .count();
    if live >= w.settings.token_quota {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "QUOTA_EXCEEDED",
            format!(
                "Cannot create more than {} tokens for this user.",
                w.settings.token_quota
            ),
        ));
    }
    let value = value.unwrap_or_else(ids::pat);
    let expiry = if lifetime < 0 {
        -1
    } else {
        now.saturating_add(lifetime.saturating_mul(1000))
    };
    let token_id = w.insert_pat(owner, &value, now, expiry, comment);
    let pat = w
        .pats
        .get_mut(&token_id)
        .ok_or_else(|| ApiError::invalid("token vanished"))?;
    pat.scopes = scopes;
    Ok((value, pat.clone()))
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateBody>,
) -> ApiResult<Json<Value>> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let (value, pat) = create_for(
        &mut w,
        caller.id,
        now,
        body.lifetime_seconds,
        body.comment,
        body.scopes,
        None,
    )?;
    drop(w);
    tracing::info!(owner = %caller.user_name, token_id = %pat.token_id, "token created");
    Ok(Json(
        json!({ "token_value": value, "token_info": info(&pat) }),
    ))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    let now = shared.now_ms();
    let w = shared.world();
    let mut mine: Vec<&Pat> = w
        .pats
        .values()
        .filter(|p| p.owner == caller.id && (p.expiry_ms < 0 || p.expiry_ms > now))
        .collect();
    mine.sort_by(|a, b| (a.created_ms, &a.token_id).cmp(&(b.created_ms, &b.token_id)));
    if mine.is_empty() {
        return Json(json!({}));
    }
    Json(json!({ "token_infos": mine.into_iter().map(info).collect::<Vec<_>>() }))
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<DeleteBody>,
) -> ApiResult<Json<Value>> {
    let id = body
        .token_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: token_id"))?;
    let mut w = shared.world();
    let owned = w
        .pats
        .get(&id)
        .is_some_and(|p| p.owner == caller.id || caller.admin);
    if !owned {
        return Err(ApiError::not_found(format!(
            "Token with id {id} does not exist."
        )));
    }
    w.pats.remove(&id);
    drop(w);
    tracing::info!(owner = %caller.user_name, token_id = %id, "token deleted");
    Ok(Json(json!({})))
}
