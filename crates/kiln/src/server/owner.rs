//! The access check in front of every route but `/health` (WebSocket upgrades included). On
//! Databricks Apps it is the owner check: the proxy's `X-Forwarded-Email` must be the owner's,
//! compared case-insensitively; anyone else gets 403 naming the owner, and until the owner is
//! known everyone gets 503 saying why (fail closed). Elsewhere it is the access key
//! ([`super::access`]). The same-origin rule ([`super::guard`]) applies in both modes.

use super::AppState;
use crate::credentials::OwnerState;
use crate::credentials::owner::same_email;
use crate::http::error::AppError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// The header the Databricks Apps proxy sets to the signed-in user's email.
pub const FORWARDED_EMAIL: &str = "x-forwarded-email";
/// `Retry-After` of the 503 answered while the owner is unknown (5 s).
const RETRY_AFTER_SECS: u64 = 5;

/// The access check: owner on Databricks Apps, access key elsewhere.
pub async fn require_access(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.credentials.is_apps() {
        return super::access::require_access(State(state), req, next).await;
    }
    let path = req.uri().path().to_owned();
    if path == "/health" {
        return next.run(req).await;
    }
    match state.credentials.owner().state() {
        OwnerState::Known { email, .. } => {
            let user = req
                .headers()
                .get(FORWARDED_EMAIL)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned);
            match user {
                Some(u) if same_email(&u, &email) => next.run(req).await,
                Some(u) => {
                    tracing::warn!(user = %u, %path, "refused a user who is not the owner");
                    refuse(
                        StatusCode::FORBIDDEN,
                        &path,
                        &format!("This kiln belongs to {email}; you are signed in as {u}."),
                        None,
                    )
                }
                None => refuse(
                    StatusCode::FORBIDDEN,
                    &path,
                    "No signed-in user: kiln only serves its owner, through the Databricks Apps \
                     proxy (the request has no X-Forwarded-Email).",
                    None,
                ),
            }
        }
        OwnerState::Resolving {
            message,
            next_retry_ms,
            ..
        } => {
            let retry = next_retry_ms.map(|_| RETRY_AFTER_SECS);
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &path,
                &format!(
                    "kiln does not know its owner yet, so it lets nobody in. Reason: {message}. \
                     It keeps retrying; reload this page in a moment."
                ),
                retry,
            )
        }
        OwnerState::NotApplicable => refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            &path,
            "kiln runs as a Databricks App but has no owner check configured.",
            None,
        ),
    }
}

fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn refuse(status: StatusCode, path: &str, message: &str, retry_after: Option<u64>) -> Response {
    let mut resp = if path.starts_with("/api/") {
        AppError::new(status, message).into_response()
    } else {
        let title = if status == StatusCode::SERVICE_UNAVAILABLE {
            "kiln is not ready"
        } else {
            "Not your kiln"
        };
        let page = format!(
            "<!doctype html><meta charset=utf-8><title>kiln: {title}</title><h1>{title}</h1><p>{}</p>",
            escape(message)
        );
        (status, Html(page)).into_response()
    };
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_users_send() {
        assert_eq!(escape("<b>\"x\"&'"), "&lt;b&gt;&quot;x&quot;&amp;&#39;");
    }
}
