//! HTTP controls of the data plane for tests that drive the emulator as a separate process,
//! under `/__emulator/serving/` (mounted by the emulator's admin router, behind its
//! loopback-only guard):
//!
//! | method and path | body / answer |
//! |---|---|
//! | `POST /__emulator/serving/script` | `{"steps": [{"text": "…"}, {"tool_call": {"name": "…", "arguments": {…}}}], "endpoint"?: "<name>"}` → `{"queued": N}` |
//! | `GET` / `DELETE /__emulator/serving/script` | `{"queued": N}` / clears the queue |
//! | `GET` / `DELETE /__emulator/serving/requests` | `{"requests": [RecordedRequest…]}` / clears them |
//! | `GET` / `PUT /__emulator/serving/settings` | `{"quirks": {…}, "stream_interval_ms": N}` (PUT: any subset) |
//! | `POST /__emulator/serving/endpoints` | `{"name", "family", …EndpointSpec fields}` (added or replaced) → the spec |
//! | `DELETE /__emulator/serving/endpoints/{name}` | `{}`, or 404 when unknown |

use super::error::ServingError;
use super::{EndpointSpec, Quirks, ScriptStep, ServingState};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The control routes with their state applied; `S` is whatever state the router they are
/// merged into has.
pub fn admin_router<S: Clone + Send + Sync + 'static>(state: Arc<ServingState>) -> Router<S> {
    Router::new()
        .route(
            "/__emulator/serving/script",
            get(script_len).post(push_steps).delete(clear_script),
        )
        .route(
            "/__emulator/serving/requests",
            get(requests).delete(clear_requests),
        )
        .route(
            "/__emulator/serving/settings",
            get(settings).put(put_settings),
        )
        .route("/__emulator/serving/endpoints", post(add_endpoint))
        .route(
            "/__emulator/serving/endpoints/{name}",
            delete(remove_endpoint),
        )
        .with_state(state)
}

type Shared = State<Arc<ServingState>>;

/// Body of `POST /__emulator/serving/script`.
#[derive(Deserialize)]
struct PushSteps {
    steps: Vec<ScriptStep>,
    /// Only calls to this endpoint consume the steps.
    endpoint: Option<String>,
}

/// Body of `POST /__emulator/serving/endpoints`: `name` and `family` required, the rest
/// defaulting as in [`EndpointSpec::chat`].
#[derive(Deserialize)]
struct NewEndpoint {
    name: String,
    family: String,
    display_name: Option<String>,
    task: Option<String>,
    served_entity_name: Option<String>,
    api_types: Option<Vec<String>>,
    ready: Option<bool>,
    creation_timestamp_ms: Option<u64>,
}

impl NewEndpoint {
    fn into_spec(self) -> EndpointSpec {
        let display = self.display_name.unwrap_or_else(|| self.name.clone());
        let mut spec = EndpointSpec::chat(&self.name, &self.family, &display);
        spec.task = self.task.unwrap_or(spec.task);
        spec.served_entity_name = self.served_entity_name.unwrap_or(spec.served_entity_name);
        spec.api_types = self.api_types.unwrap_or(spec.api_types);
        spec.ready = self.ready.unwrap_or(spec.ready);
        spec.creation_timestamp_ms = self
            .creation_timestamp_ms
            .unwrap_or(spec.creation_timestamp_ms);
        spec
    }
}

/// Body of `PUT /__emulator/serving/settings`.
#[derive(Deserialize)]
struct PutSettings {
    quirks: Option<Quirks>,
    stream_interval_ms: Option<u64>,
}

fn body<T>(json: Result<Json<T>, JsonRejection>) -> Result<T, ServingError> {
    json.map(|Json(v)| v)
        .map_err(|e| ServingError::BadRequest(e.body_text()))
}

async fn script_len(State(state): Shared) -> Json<Value> {
    Json(json!({"queued": state.script_len()}))
}

async fn push_steps(
    State(state): Shared,
    req: Result<Json<PushSteps>, JsonRejection>,
) -> Result<Json<Value>, ServingError> {
    let req = body(req)?;
    for step in req.steps {
        match &req.endpoint {
            Some(endpoint) => state.push_script_for(endpoint, step),
            None => state.push_script(step),
        }
    }
    Ok(Json(json!({"queued": state.script_len()})))
}

async fn clear_script(State(state): Shared) -> Json<Value> {
    state.clear_script();
    Json(json!({"queued": 0}))
}

async fn requests(State(state): Shared) -> Json<Value> {
    Json(json!({"requests": state.requests()}))
}

async fn clear_requests(State(state): Shared) -> Json<Value> {
    state.clear_requests();
    Json(json!({}))
}

fn settings_json(state: &ServingState) -> Value {
    let millis = u64::try_from(state.stream_interval().as_millis()).unwrap_or(u64::MAX);
    json!({"quirks": state.quirks(), "stream_interval_ms": millis})
}

async fn settings(State(state): Shared) -> Json<Value> {
    Json(settings_json(&state))
}

async fn put_settings(
    State(state): Shared,
    req: Result<Json<PutSettings>, JsonRejection>,
) -> Result<Json<Value>, ServingError> {
    let req = body(req)?;
    if let Some(quirks) = req.quirks {
        state.set_quirks(quirks);
    }
    if let Some(ms) = req.stream_interval_ms {
        state.set_stream_interval(Duration::from_millis(ms));
    }
    Ok(Json(settings_json(&state)))
}

async fn add_endpoint(
    State(state): Shared,
    req: Result<Json<NewEndpoint>, JsonRejection>,
) -> Result<Json<EndpointSpec>, ServingError> {
    let spec = body(req)?.into_spec();
    if spec.name.is_empty() {
        return Err(ServingError::field("name", "a non-empty string"));
    }
    state.add_endpoint(spec.clone());
    Ok(Json(spec))
}

async fn remove_endpoint(
    State(state): Shared,
    Path(name): Path<String>,
) -> Result<Json<Value>, ServingError> {
    if state.remove_endpoint(&name) {
        Ok(Json(json!({})))
    } else {
        Err(ServingError::NoEndpoint(name))
    }
}
