//! Admin routes of the Apps runtime (mounted under the loopback-only `/__emulator/` guard):
//! browser sign-in for the app proxies (`/__emulator/login`, `/__emulator/logout`), sessions for
//! scripted clients (`POST /__emulator/apps/sessions`), and an app's logs
//! (`GET /__emulator/apps/{name}/logs`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::proxy::{SESSION_COOKIE, encode, escape};
use crate::EmulatorError;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::ids;
use crate::world::Shared;

/// Routes of this module (state applied by the admin router).
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/__emulator/login", get(login))
        .route("/__emulator/logout", get(logout))
        .route("/__emulator/apps/sessions", post(create_session))
        .route("/__emulator/apps/{name}/logs", get(logs))
}

/// Signs `user` (email or service-principal application id) in; returns the session id to put
/// in the `kiln_emulator_session` cookie.
pub fn new_session(shared: &Shared, user: &str) -> Result<String, EmulatorError> {
    let mut w = shared.world();
    let id = w
        .principal_by_name(user)
        .map(|p| p.id)
        .ok_or_else(|| EmulatorError::UnknownPrincipal(user.to_string()))?;
    let sid = ids::hex(32);
    w.app_sessions.insert(ids::token_id(&sid), id);
    Ok(sid)
}

/// Only loopback `http://` URLs (the app proxies) or emulator paths are redirect targets.
fn safe_next(next: &str) -> bool {
    if next.starts_with('/') && !next.starts_with("//") {
        return true;
    }
    let Some(rest) = next.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

#[derive(Deserialize)]
struct LoginQuery {
    user: Option<String>,
    next: Option<String>,
}

fn cookie(value: &str, max_age: Option<u32>) -> String {
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax{age}")
}

async fn login(State(s): State<Arc<Shared>>, Params(q): Params<LoginQuery>) -> ApiResult<Response> {
    let next = q.next.unwrap_or_else(|| "/__emulator/login".into());
    if !safe_next(&next) {
        return Err(ApiError::invalid(
            "next must be a loopback http:// URL or an emulator path.",
        ));
    }
    let Some(user) = q.user.filter(|u| !u.is_empty()) else {
        return Ok(chooser(&s, &next));
    };
    let sid = new_session(&s, &user).map_err(|e| ApiError::invalid(e.to_string()))?;
    tracing::info!(user = %user, "emulator browser sign-in");
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie(&sid, None)),
            (header::LOCATION, next),
        ],
    )
        .into_response())
}

/// The sign-in page: one link per user.
fn chooser(s: &Shared, next: &str) -> Response {
    let users: Vec<String> = s
        .world()
        .principals
        .values()
        .filter(|p| !p.is_sp())
        .map(|p| p.user_name.clone())
        .collect();
    let items: String = users
        .iter()
        .map(|u| {
            format!(
                "<li><a href=\"/__emulator/login?user={}&amp;next={}\">{}</a></li>",
                encode(u),
                encode(next),
                escape(u)
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html><head><title>Sign in to the emulated workspace</title></head><body>\
         <h1>Sign in to the emulated workspace</h1><p>Continue as:</p><ul>{items}</ul>\
         <p>Then you go on to <code>{}</code>.</p></body></html>\n",
        escape(next)
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn logout(Params(q): Params<LoginQuery>) -> ApiResult<Response> {
    let next = q.next.unwrap_or_else(|| "/__emulator/login".into());
    if !safe_next(&next) {
        return Err(ApiError::invalid(
            "next must be a loopback http:// URL or an emulator path.",
        ));
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie("", Some(0))),
            (header::LOCATION, next),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
struct SessionBody {
    user: String,
}

async fn create_session(
    State(s): State<Arc<Shared>>,
    JsonBody(b): JsonBody<SessionBody>,
) -> ApiResult<Json<Value>> {
    let sid = new_session(&s, &b.user).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(json!({
        "cookie_name": SESSION_COOKIE,
        "cookie_value": sid,
        "cookie": format!("{SESSION_COOKIE}={sid}"),
    })))
}

async fn logs(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> ApiResult<Response> {
    if !s.world().apps.by_name.contains_key(&name) {
        return Err(ApiError::not_found(format!(
            "App with name {name} does not exist or is deleted."
        )));
    }
    let text = s.runtime.logs(&name).unwrap_or_default();
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets() {
        assert!(safe_next("http://127.0.0.1:4000/x?y"));
        assert!(safe_next("http://[::1]:4000"));
        assert!(safe_next("/__emulator/info"));
        assert!(!safe_next("//evil.example/"));
        assert!(!safe_next("http://evil.example/"));
        assert!(!safe_next("http://127.0.0.1.evil.example/"));
        assert!(!safe_next("https://127.0.0.1/"));
    }
}
