//! The workspace's OTLP/HTTP traces endpoint, `POST /api/2.0/otel/v1/traces`, as the Databricks
//! documentation describes it for sending OpenTelemetry spans to an MLflow experiment stored in
//! Unity Catalog: a bearer token (checked by the auth layer like every API),
//! `Content-Type: application/x-protobuf`, and `X-Databricks-UC-Table-Name:
//! <catalog>.<schema>.<prefix>_otel_spans`. The body is an OTLP `ExportTraceServiceRequest`;
//! the emulator keeps only its size (it does not store spans) and answers an empty
//! `ExportTraceServiceResponse` (zero bytes of protobuf). Who sent what is in the request log.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::error::ApiError;
use crate::world::Shared;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/api/2.0/otel/v1/traces", post(traces))
}

fn table_name_ok(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

async fn traces(headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-protobuf") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_PARAMETER_VALUE",
            "Content-Type must be application/x-protobuf",
        ));
    }
    let table = headers
        .get("x-databricks-uc-table-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !table_name_ok(table) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "X-Databricks-UC-Table-Name must name a table as <catalog>.<schema>.<table>",
        ));
    }
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER_VALUE",
            "empty ExportTraceServiceRequest",
        ));
    }
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Bytes::new(),
    )
        .into_response())
}
