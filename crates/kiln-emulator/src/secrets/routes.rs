//! The Secrets API routes (scopes create/list/delete, put, list, delete).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::Entry;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::principals::Caller;
use crate::world::Shared;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/secrets/scopes/create", post(create_scope))
        .route("/api/2.0/secrets/scopes/list", get(list_scopes))
        .route("/api/2.0/secrets/scopes/delete", post(delete_scope))
        .route("/api/2.0/secrets/put", post(put))
        .route("/api/2.0/secrets/list", get(list))
        .route("/api/2.0/secrets/delete", post(delete))
}

#[derive(Deserialize)]
struct ScopeBody {
    scope: Option<String>,
}

#[derive(Deserialize)]
struct PutBody {
    scope: Option<String>,
    key: Option<String>,
    string_value: Option<String>,
    bytes_value: Option<String>,
}

#[derive(Deserialize)]
struct KeyBody {
    scope: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    scope: Option<String>,
}

fn required(v: Option<String>, name: &str) -> ApiResult<String> {
    v.filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid(format!("Missing required field: {name}")))
}

fn valid_name(name: &str, what: &str) -> ApiResult<()> {
    let ok = name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "{what} name must consist of alphanumeric characters, dashes, underscores, and periods, and may not exceed 128 characters."
        )))
    }
}

fn no_scope(scope: &str) -> ApiError {
    ApiError::not_found(format!("Scope {scope} does not exist!"))
}

async fn create_scope(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    JsonBody(body): JsonBody<ScopeBody>,
) -> ApiResult<Json<Value>> {
    let scope = required(body.scope, "scope")?;
    valid_name(&scope, "Scope")?;
    let mut w = shared.world();
    if w.secrets.scopes.contains_key(&scope) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            format!("Scope {scope} already exists!"),
        ));
    }
    w.secrets.scopes.insert(scope, BTreeMap::new());
    Ok(Json(json!({})))
}

async fn list_scopes(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let w = shared.world();
    let scopes: Vec<Value> = w
        .secrets
        .scopes
        .keys()
        .map(|n| json!({"name": n, "backend_type": "DATABRICKS"}))
        .collect();
    if scopes.is_empty() {
        Json(json!({}))
    } else {
        Json(json!({ "scopes": scopes }))
    }
}

async fn delete_scope(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<ScopeBody>,
) -> ApiResult<Json<Value>> {
    let scope = required(body.scope, "scope")?;
    let mut w = shared.world();
    w.secrets
        .scopes
        .remove(&scope)
        .ok_or_else(|| no_scope(&scope))?;
    Ok(Json(json!({})))
}

async fn put(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<PutBody>,
) -> ApiResult<Json<Value>> {
    let scope = required(body.scope, "scope")?;
    let key = required(body.key, "key")?;
    valid_name(&key, "Secret key")?;
    let value = match (body.string_value, body.bytes_value) {
        (Some(s), None) => s,
        (None, Some(b)) => {
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|_| ApiError::invalid("bytes_value is not valid base64"))?;
            String::from_utf8_lossy(&raw).into_owned()
        }
        _ => {
            return Err(ApiError::invalid(
                "Exactly one of string_value and bytes_value must be set",
            ));
        }
    };
    if value.len() > 128 << 10 {
        return Err(ApiError::invalid("Secret value exceeds the 128 KB limit"));
    }
    let now = shared.now_ms();
    let mut w = shared.world();
    let keys = w
        .secrets
        .scopes
        .get_mut(&scope)
        .ok_or_else(|| no_scope(&scope))?;
    keys.insert(
        key,
        Entry {
            value,
            updated_ms: now,
        },
    );
    Ok(Json(json!({})))
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let scope = required(q.scope, "scope")?;
    let w = shared.world();
    let keys = w
        .secrets
        .scopes
        .get(&scope)
        .ok_or_else(|| no_scope(&scope))?;
    let secrets: Vec<Value> = keys
        .iter()
        .map(|(k, e)| json!({"key": k, "last_updated_timestamp": e.updated_ms}))
        .collect();
    if secrets.is_empty() {
        Ok(Json(json!({})))
    } else {
        Ok(Json(json!({ "secrets": secrets })))
    }
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<KeyBody>,
) -> ApiResult<Json<Value>> {
    let scope = required(body.scope, "scope")?;
    let key = required(body.key, "key")?;
    let mut w = shared.world();
    let keys = w
        .secrets
        .scopes
        .get_mut(&scope)
        .ok_or_else(|| no_scope(&scope))?;
    keys.remove(&key).ok_or_else(|| {
        ApiError::not_found(format!("Secret Key {key} does not exist in scope {scope}"))
    })?;
    Ok(Json(json!({})))
}
