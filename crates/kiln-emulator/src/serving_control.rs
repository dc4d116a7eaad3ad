//! Model-serving control plane: `GET /api/2.0/serving-endpoints` and
//! `GET /api/2.0/serving-endpoints/{name}`, rendered from the data plane's endpoint catalog
//! (`ServingState::endpoints()`) in the reference's `ServingEndpointDetailed` shape.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::principals::Caller;
use crate::world::Shared;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/serving-endpoints", get(list))
        .route("/api/2.0/serving-endpoints/{name}", get(get_one))
}

async fn list(State(shared): State<Arc<Shared>>, Extension(_c): Extension<Caller>) -> Json<Value> {
    let endpoints: Vec<Value> = shared
        .serving
        .endpoints()
        .iter()
        .map(|e| e.to_api_json())
        .collect();
    if endpoints.is_empty() {
        return Json(json!({}));
    }
    Json(json!({ "endpoints": endpoints }))
}

async fn get_one(
    State(shared): State<Arc<Shared>>,
    Extension(_c): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let spec = shared
        .serving
        .endpoints()
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            ApiError::not_found(format!("Endpoint with name '{name}' does not exist."))
        })?;
    Ok(Json(spec.to_api_json()))
}
