//! `GET /api/credentials` (owner, workspace, token state: what the UI's dialog and banner show)
//! and `POST /api/credentials` `{"token": "…"}` (a pasted personal access token: validated, turned
//! into kiln's own short-lived token; refusals change nothing and say why). Both sit behind the
//! access check and the same-origin rule like every `/api` route. Also [`note_activity`], which
//! tells the rotation that the owner is around.

use super::AppState;
use crate::credentials::BootstrapError;
use crate::http::error::{ApiJson, AppError};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Json, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/credentials", get(status).post(paste))
}

async fn status(State(st): State<AppState>) -> Json<Value> {
    Json(st.credentials.status())
}

/// The body of a paste. No `Debug`: it holds a token.
#[derive(Deserialize)]
struct Paste {
    token: String,
}

fn status_of(e: &BootstrapError) -> StatusCode {
    match e {
        BootstrapError::Malformed(_) | BootstrapError::Refused(_) => StatusCode::BAD_REQUEST,
        BootstrapError::NotOwner { .. } => StatusCode::FORBIDDEN,
        BootstrapError::NotAccepting(_) => StatusCode::CONFLICT,
        BootstrapError::Unavailable(_) | BootstrapError::OwnerUnknown(_) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

async fn paste(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<Paste>,
) -> Result<Json<Value>, AppError> {
    match st.credentials.bootstrap(&body.token).await {
        Ok(done) => {
            let life = lifetime_phrase(done.lifetime_seconds);
            let message = match &done.pasted {
                crate::credentials::PastedFate::Revoked { .. } => format!(
                    "kiln now works with its own {life} token, renewed automatically; the token \
                     you pasted has been revoked."
                ),
                crate::credentials::PastedFate::Kept { message } => format!(
                    "kiln now works with its own {life} token, renewed automatically. {message}"
                ),
            };
            Ok(Json(json!({
                "ok": true,
                "user": done.user,
                "token_id": done.token_id,
                "lifetime_seconds": done.lifetime_seconds,
                "pasted": done.pasted,
                "message": message,
            })))
        }
        Err(e) => {
            tracing::info!(error = %e, "pasted token refused");
            Err(AppError::new(status_of(&e), e.to_string()))
        }
    }
}

/// A lifetime as an adjective: `15-minute`, `90-second`.
fn lifetime_phrase(seconds: i64) -> String {
    if seconds % 60 == 0 {
        format!("{}-minute", seconds / 60)
    } else {
        format!("{seconds}-second")
    }
}

/// Counts requests that passed the access check as the owner's activity, except the UI's
/// status polls (an open tab alone does not keep tokens alive).
pub async fn note_activity(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let poll = req.method() == Method::GET
        && matches!(
            req.uri().path(),
            "/api/status" | "/api/credentials" | "/health"
        );
    if !poll {
        st.credentials.touch();
    }
    next.run(req).await
}
