//! The data-plane router: which path speaks which flavour on `/serving-endpoints/…` and
//! `/ai-gateway/…` (reference §10.2), body reading with a limit, endpoint resolution, recording,
//! and turning a flavour's [`Reply`] (`call.rs`) into a JSON or SSE response.

use super::call::Reply;
use super::error::ServingError;
use super::sse::stream_response;
use super::{BODY_LIMIT_BYTES, RecordedRequest, ServingState, anthropic, chat, gemini, responses};
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;

/// Headers that carry credentials and are never recorded.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "x-databricks-ai-gateway-token",
    "cookie",
];

/// The wire flavour a route speaks.
#[derive(Clone, Copy, Debug)]
enum Flavour {
    Anthropic,
    AnthropicCount,
    Chat,
    /// `any_family`: the multi-provider paths (`open-responses`, the gateway's `mlflow/v1`).
    Responses {
        any_family: bool,
    },
    /// Databricks' native `/{endpoint}/invocations` (chat body, chat answer).
    Invocations,
    Gemini,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Self::Anthropic | Self::AnthropicCount => "anthropic",
            Self::Chat => "chat",
            Self::Responses { .. } => "responses",
            Self::Invocations => "invocations",
            Self::Gemini => "gemini",
        }
    }
}

/// One route: its flavour and whether it is on the AI Gateway.
#[derive(Clone, Copy, Debug)]
struct Call {
    flavour: Flavour,
    gateway: bool,
}

/// The data-plane router with its state applied. Mount it behind the workspace's auth layer;
/// it has no fallback, so it merges into a larger router.
pub fn router(state: Arc<ServingState>) -> Router {
    let se = |flavour| call(flavour, false);
    let gw = |flavour| call(flavour, true);
    Router::new()
        // Model Serving paths.
        .route(
            "/serving-endpoints/anthropic/v1/messages",
            se(Flavour::Anthropic),
        )
        .route(
            "/serving-endpoints/anthropic/v1/messages/count_tokens",
            se(Flavour::AnthropicCount),
        )
        .route("/serving-endpoints/chat/completions", se(Flavour::Chat))
        .route(
            "/serving-endpoints/responses",
            se(Flavour::Responses { any_family: false }),
        )
        .route(
            "/serving-endpoints/codex/v1/responses",
            se(Flavour::Responses { any_family: false }),
        )
        .route(
            "/serving-endpoints/open-responses",
            se(Flavour::Responses { any_family: true }),
        )
        .route(
            "/serving-endpoints/{endpoint}/invocations",
            with_path(Flavour::Invocations, false),
        )
        .route(
            "/serving-endpoints/gemini/v1beta/models/{model_method}",
            with_path(Flavour::Gemini, false),
        )
        // Unity AI Gateway paths.
        .route("/ai-gateway/anthropic/v1/messages", gw(Flavour::Anthropic))
        .route(
            "/ai-gateway/anthropic/v1/messages/count_tokens",
            gw(Flavour::AnthropicCount),
        )
        .route("/ai-gateway/anthropic/v1/models", get(anthropic_models))
        .route(
            "/ai-gateway/codex/v1/responses",
            gw(Flavour::Responses { any_family: false }),
        )
        .route("/ai-gateway/mlflow/v1/chat/completions", gw(Flavour::Chat))
        .route(
            "/ai-gateway/mlflow/v1/responses",
            gw(Flavour::Responses { any_family: true }),
        )
        .route(
            "/ai-gateway/gemini/v1beta/models/{model_method}",
            with_path(Flavour::Gemini, true),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}

/// A POST route without path parameters.
fn call(flavour: Flavour, gateway: bool) -> MethodRouter<Arc<ServingState>> {
    let c = Call { flavour, gateway };
    post(
        move |State(state): State<Arc<ServingState>>,
              uri: Uri,
              headers: HeaderMap,
              body: Result<Bytes, BytesRejection>| async move {
            serve(&state, c, None, &uri, &headers, body)
        },
    )
}

/// A POST route with one path parameter (endpoint name, or Gemini's `model:method`).
fn with_path(flavour: Flavour, gateway: bool) -> MethodRouter<Arc<ServingState>> {
    let c = Call { flavour, gateway };
    post(
        move |State(state): State<Arc<ServingState>>,
              Path(param): Path<String>,
              uri: Uri,
              headers: HeaderMap,
              body: Result<Bytes, BytesRejection>| async move {
            serve(&state, c, Some(&param), &uri, &headers, body)
        },
    )
}

async fn anthropic_models(State(state): State<Arc<ServingState>>) -> Json<Value> {
    Json(anthropic::models(&state))
}

/// Handles one call: body checks, the flavour, recording, the response.
fn serve(
    state: &ServingState,
    call: Call,
    param: Option<&str>,
    uri: &Uri,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body_bytes = body.as_ref().map_or(0, Bytes::len);
    let parsed: Result<Value, ServingError> = match body {
        Ok(bytes) => parse_body(&bytes),
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            Err(ServingError::TooLarge(BODY_LIMIT_BYTES))
        }
        Err(other) => Err(ServingError::BadRequest(format!(
            "Could not read the request body: {other}"
        ))),
    };
    let body_value = parsed.as_ref().cloned().unwrap_or(Value::Null);
    let result = parsed.and_then(|body| dispatch(state, call, param, uri.query(), &body));
    let model = match (call.flavour, param) {
        (Flavour::Invocations, Some(p)) => p.to_owned(),
        (Flavour::Gemini, Some(p)) => p.rsplit_once(':').map_or(p, |(m, _)| m).to_owned(),
        _ => body_value
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    };
    let mut response = match result {
        Ok(Reply::Json(v)) => Json(v).into_response(),
        Ok(Reply::Events(events)) => stream_response(events, state.stream_interval()),
        Err(e) => {
            tracing::debug!(flavour = call.flavour.name(), %model, error = %e, "serving request refused");
            e.into_response()
        }
    };
    if matches!(call.flavour, Flavour::Invocations)
        && response.status().is_success()
        && let Ok(v) = HeaderValue::from_str(&model)
    {
        response.headers_mut().insert("served-model-name", v);
    }
    state.record(RecordedRequest {
        path: uri.path().to_owned(),
        flavour: call.flavour.name(),
        model,
        status: response.status().as_u16(),
        headers: recordable_headers(headers),
        body: body_value,
        body_bytes,
    });
    response
}

fn parse_body(bytes: &[u8]) -> Result<Value, ServingError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ServingError::BadRequest(format!("Malformed JSON request body: {e}")))?;
    if !value.is_object() {
        return Err(ServingError::BadRequest(
            "The request body must be a JSON object.".to_owned(),
        ));
    }
    Ok(value)
}

fn dispatch(
    state: &ServingState,
    call: Call,
    param: Option<&str>,
    query: Option<&str>,
    body: &Value,
) -> Result<Reply, ServingError> {
    let gw = call.gateway;
    match call.flavour {
        Flavour::Anthropic => anthropic::messages(state, gw, body),
        Flavour::AnthropicCount => anthropic::count_tokens(state, gw, body),
        Flavour::Chat => chat::completions(state, gw, None, body),
        Flavour::Invocations => chat::completions(state, gw, param, body),
        Flavour::Responses { any_family } => responses::create(state, gw, any_family, body),
        Flavour::Gemini => {
            let alt_sse = query
                .unwrap_or("")
                .split('&')
                .any(|kv| kv.eq_ignore_ascii_case("alt=sse"));
            gemini::call(state, gw, param.unwrap_or(""), alt_sse, body)
        }
    }
}

fn recordable_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| !SECRET_HEADERS.contains(&name.as_str()))
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}
