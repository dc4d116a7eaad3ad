//! What every flavour's handler shares: reading the body's fields, resolving the endpoint a
//! call names, and the [`Reply`] it hands back to `routes` (a leaf: the flavours and `routes`
//! import it, it imports neither).

use super::ServingState;
use super::catalog::{API_CHAT, EndpointSpec};
use super::error::ServingError;
use super::sse::SseEvent;
use serde_json::Value;

/// What a flavour answers: one JSON document or a sequence of SSE events.
#[derive(Debug)]
pub(crate) enum Reply {
    Json(Value),
    Events(Vec<SseEvent>),
}

/// Finds the endpoint `model` names and checks it is ready and answers `api_type`
/// (`api_name` names the API in the refusal).
pub(crate) fn resolve(
    state: &ServingState,
    model: &str,
    gateway: bool,
    api_type: &str,
    api_name: &str,
) -> Result<EndpointSpec, ServingError> {
    let endpoint = state
        .find(model, gateway)
        .ok_or_else(|| ServingError::NoEndpoint(model.to_owned()))?;
    if !endpoint.ready {
        return Err(ServingError::NotReady(endpoint.name));
    }
    if !endpoint.supports(api_type) {
        return Err(ServingError::BadRequest(format!(
            "Endpoint '{}' does not support the {api_name} API.",
            endpoint.name
        )));
    }
    Ok(endpoint)
}

/// Like [`resolve`] for the chat API, which every chat endpoint answers.
pub(crate) fn resolve_chat(
    state: &ServingState,
    model: &str,
    gateway: bool,
) -> Result<EndpointSpec, ServingError> {
    resolve(state, model, gateway, API_CHAT, "Chat Completions")
}

/// A required string field.
pub(crate) fn required_str<'a>(body: &'a Value, field: &str) -> Result<&'a str, ServingError> {
    body.get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ServingError::field(field, "a string"))
}

/// A required array field.
pub(crate) fn required_array<'a>(
    body: &'a Value,
    field: &str,
) -> Result<&'a [Value], ServingError> {
    body.get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| ServingError::field(field, "an array"))
}

/// The optional boolean `stream` field (absent or `null` means false).
pub(crate) fn stream_flag(body: &Value) -> Result<bool, ServingError> {
    match body.get("stream") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ServingError::field("stream", "a boolean")),
    }
}
