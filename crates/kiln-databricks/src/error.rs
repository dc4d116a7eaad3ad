//! The client's error type: typed API failures (from the HTTP status and the body's `error_code`),
//! configuration and credential failures, transport failures and waits that ran out.
//! Nothing in here ever holds a token or secret.

use crate::config::ConfigError;
use std::fmt;
use std::time::Duration;

/// One failed API call as the server described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The body's `error_code` (a string, or a number turned into one), `SCIM_<status>` for
    /// SCIM bodies, or the reason phrase in UPPER_SNAKE for bodies without one.
    pub error_code: Option<String>,
    /// Human-readable message (at most a few hundred characters).
    pub message: String,
    /// `reason` of a `google.rpc.ErrorInfo` detail, when present.
    pub reason: Option<String>,
    /// `request_id` of a `google.rpc.RequestInfo` detail, when present.
    pub request_id: Option<String>,
    /// Method and path of the request (no query string), for context.
    pub request: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}", self.message, self.status)?;
        if let Some(code) = self
            .error_code
            .as_deref()
            .filter(|c| *c != self.status.to_string())
        {
            write!(f, " {code}")?;
        }
        if let Some(reason) = &self.reason {
            write!(f, ", reason {reason}")?;
        }
        write!(f, ", {})", self.request)
    }
}

/// What kind of transport failure happened; decides whether a retry is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection was refused, reset or timed out while connecting: the request was
    /// never sent, and trying again may work.
    Connect,
    /// The connection could not be set up for a reason that will not fix itself soon
    /// (name resolution, TLS): never retried.
    Setup,
    /// The request or the response body took longer than the per-request timeout.
    Timeout,
    /// Anything else (connection reset mid-request, protocol error, body read failure).
    Other,
}

/// Why a credential could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The OAuth token endpoint refused or failed the request.
    #[error("OAuth token request failed: {0}")]
    TokenRequest(Box<Error>),
    /// The token endpoint answered 200 with something that is not a token.
    #[error("OAuth token response from {url} is not usable: {message}")]
    BadTokenResponse {
        /// Token endpoint URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The metadata service (`metadata_service_url`) refused or failed the request. The URL is
    /// never shown: it is a secret.
    #[error("metadata service request failed: {0}")]
    MetadataRequest(Box<Error>),
    /// The metadata service answered 200 with something that is not a token.
    #[error("metadata service response is not usable: {0}")]
    BadMetadataResponse(String),
    /// A caller-supplied [`crate::TokenSource`] failed.
    #[error("token source failed: {0}")]
    Source(String),
}

/// Every error the client returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `RESOURCE_DOES_NOT_EXIST`, `NOT_FOUND` or HTTP 404 (also `clusters/get` of an unknown id).
    #[error("not found: {0}")]
    NotFound(Box<ApiError>),
    /// `RESOURCE_ALREADY_EXISTS` / `ALREADY_EXISTS`.
    #[error("already exists: {0}")]
    AlreadyExists(Box<ApiError>),
    /// `PERMISSION_DENIED` or HTTP 403 (also an invalid or expired token).
    #[error("permission denied: {0}")]
    PermissionDenied(Box<ApiError>),
    /// `UNAUTHENTICATED` or HTTP 401: no usable credential was sent.
    #[error("not authenticated: {0}")]
    Unauthenticated(Box<ApiError>),
    /// HTTP 429, `REQUEST_LIMIT_EXCEEDED`, `RESOURCE_EXHAUSTED`.
    #[error("rate limited{}: {error}", fmt_retry_after(*.retry_after))]
    RateLimited {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The server's description.
        error: Box<ApiError>,
    },
    /// `INVALID_PARAMETER_VALUE`, `BAD_REQUEST`, `MALFORMED_REQUEST` or another HTTP 400.
    #[error("invalid parameter: {0}")]
    InvalidParameter(Box<ApiError>),
    /// `INVALID_STATE`: the resource is not in a state that allows the call.
    #[error("invalid state: {0}")]
    InvalidState(Box<ApiError>),
    /// `RESOURCE_CONFLICT`, `ABORTED` or HTTP 409.
    #[error("conflict: {0}")]
    ResourceConflict(Box<ApiError>),
    /// HTTP 503, `TEMPORARILY_UNAVAILABLE`, `UNAVAILABLE`.
    #[error("temporarily unavailable{}: {error}", fmt_retry_after(*.retry_after))]
    Unavailable {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
        /// The server's description.
        error: Box<ApiError>,
    },
    /// Any other API error.
    #[error("{0}")]
    Other(Box<ApiError>),
    /// The configuration is incomplete or contradictory.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No credential could be obtained.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The request did not get an HTTP response.
    #[error("{request}: {message}")]
    Transport {
        /// Connect, timeout or other.
        kind: TransportKind,
        /// Method and path.
        request: String,
        /// What went wrong (no secrets: URLs never carry one).
        message: String,
    },
    /// A successful response whose body is not what the API promises.
    #[error("{request}: cannot decode the response: {message}")]
    Decode {
        /// Method and path.
        request: String,
        /// The decoder's complaint.
        message: String,
    },
    /// Retries ran out of their time budget; `last` is the final failure.
    #[error("gave up after {attempts} attempts in {:.1}s: {last}", elapsed.as_secs_f64())]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// A wait for a resource state ran out of time.
    #[error("timed out after {:.1}s waiting for {what} to become {target} (last state {last_state})", timeout.as_secs_f64())]
    WaitTimeout {
        /// The resource waited on.
        what: String,
        /// The state wanted.
        target: String,
        /// The last state seen.
        last_state: String,
        /// How long was waited.
        timeout: Duration,
    },
    /// A wait for a resource state ended in a state that cannot lead to the target.
    #[error("{what} reached state {state} while waiting for {target}: {message}")]
    WaitFailed {
        /// The resource waited on.
        what: String,
        /// The state wanted.
        target: String,
        /// The failure state reached.
        state: String,
        /// The server's state message.
        message: String,
    },
    /// The caller passed something the client refuses to send (e.g. a path with `..`).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

fn fmt_retry_after(d: Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {}s)", d.as_secs_f64()),
        None => String::new(),
    }
}

impl Error {
    /// The error itself, or for [`Error::RetriesExhausted`] the last attempt's error.
    pub fn root(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.root(),
            other => other,
        }
    }

    /// The server's description, when this is an API error.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self.root() {
            Error::NotFound(e)
            | Error::AlreadyExists(e)
            | Error::PermissionDenied(e)
            | Error::Unauthenticated(e)
            | Error::InvalidParameter(e)
            | Error::InvalidState(e)
            | Error::ResourceConflict(e)
            | Error::Other(e)
            | Error::RateLimited { error: e, .. }
            | Error::Unavailable { error: e, .. } => Some(e),
            _ => None,
        }
    }

    /// HTTP status, when this is an API error.
    pub fn status(&self) -> Option<u16> {
        self.api_error().map(|e| e.status)
    }

    /// The body's `error_code`, when this is an API error that had one.
    pub fn error_code(&self) -> Option<&str> {
        self.api_error().and_then(|e| e.error_code.as_deref())
    }

    /// True for [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self.root(), Error::NotFound(_))
    }

    /// True for [`Error::AlreadyExists`].
    pub fn is_already_exists(&self) -> bool {
        matches!(self.root(), Error::AlreadyExists(_))
    }

    /// True when the credential itself was refused (401, or 403 that mentions the token).
    pub fn is_auth_failure(&self) -> bool {
        match self.root() {
            Error::Unauthenticated(_) => true,
            Error::PermissionDenied(e) => e.message.to_ascii_lowercase().contains("token"),
            Error::Credentials(_) => true,
            _ => false,
        }
    }
}

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
