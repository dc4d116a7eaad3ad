//! The Databricks error body (`{"error_code", "message", "details"}`) and the HTTP status
//! for each case, as in `databricks-api.md` §1.5–§1.7. Every handler returns `ApiError`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The `error_code` field: normally a string, numeric in some auth errors, empty in a few
/// workspace-files errors.
#[derive(Debug, Clone)]
pub enum Code {
    /// `"RESOURCE_DOES_NOT_EXIST"` and friends.
    Text(&'static str),
    /// `403`, `401` (older auth errors).
    Number(u16),
    /// A code chosen at run time (fault injection).
    Custom(String),
}

/// An error answered with a Databricks-shaped JSON body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error_code` field.
    pub code: Code,
    /// The `message` field.
    pub message: String,
    /// `details` entries (google.rpc types), omitted when empty.
    pub details: Vec<Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// An error with a string code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: Code::Text(code),
            message: message.into(),
            details: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// 400 `INVALID_PARAMETER_VALUE`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    /// 400 `MALFORMED_REQUEST`.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", message)
    }

    /// 400 `INVALID_STATE`.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_STATE", message)
    }

    /// 404 `RESOURCE_DOES_NOT_EXIST`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    /// 403 `PERMISSION_DENIED`.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    /// The same error with a numeric `error_code` equal to its status.
    pub fn numeric(mut self) -> Self {
        self.code = Code::Number(self.status.as_u16());
        self
    }

    /// Adds a `google.rpc.ErrorInfo` detail with `reason`.
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "filesystem.databricks.com",
            "metadata": {}
        }));
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let code = match &self.code {
            Code::Text(t) => Value::from(*t),
            Code::Number(n) => Value::from(*n),
            Code::Custom(t) => Value::from(t.as_str()),
        };
        let mut body = json!({ "error_code": code, "message": self.message });
        if !self.details.is_empty() {
            body["details"] = Value::from(self.details.clone());
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body().to_string();
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.message) {
            h.insert(HeaderName::from_static("x-databricks-reason-phrase"), v);
        }
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        resp
    }
}

/// Handler result type.
pub type ApiResult<T> = Result<T, ApiError>;
