//! Errors of the data plane, answered in Databricks' error shape
//! `{"error_code": "...", "message": "..."}` (reference §1.5).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A refused data-plane request.
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum ServingError {
    /// No endpoint of that name: 404 `RESOURCE_DOES_NOT_EXIST`.
    #[error("Endpoint with name '{0}' does not exist.")]
    NoEndpoint(String),
    /// Unknown route action (e.g. a Gemini method we do not have): 404 `NOT_FOUND`.
    #[error("{0}")]
    NoMethod(String),
    /// Not JSON, not an object, or the wrong flavour for the endpoint: 400 `BAD_REQUEST`.
    #[error("{0}")]
    BadRequest(String),
    /// A field missing or of the wrong type: 400 `INVALID_PARAMETER_VALUE`.
    #[error("{0}")]
    InvalidParameter(String),
    /// Body over the limit: 413 `BAD_REQUEST`.
    #[error("Request body exceeds the limit of {0} bytes.")]
    TooLarge(usize),
    /// Endpoint exists but is not ready: 503 `TEMPORARILY_UNAVAILABLE`.
    #[error("Endpoint '{0}' is not ready to serve requests.")]
    NotReady(String),
}

impl ServingError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NoEndpoint(_) | Self::NoMethod(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NoEndpoint(_) => "RESOURCE_DOES_NOT_EXIST",
            Self::NoMethod(_) => "NOT_FOUND",
            Self::BadRequest(_) | Self::TooLarge(_) => "BAD_REQUEST",
            Self::InvalidParameter(_) => "INVALID_PARAMETER_VALUE",
            Self::NotReady(_) => "TEMPORARILY_UNAVAILABLE",
        }
    }

    /// Shorthand for a missing or mistyped field.
    pub(crate) fn field(name: &str, expected: &str) -> Self {
        Self::InvalidParameter(format!(
            "Field '{name}' is required and must be {expected}."
        ))
    }
}

impl IntoResponse for ServingError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.code(), "message": self.to_string()});
        (self.status(), Json(body)).into_response()
    }
}
