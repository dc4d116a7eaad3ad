//! Browser sign-in without the key in a URL a browser keeps. `kiln serve` prints a link with a
//! one-time code in its fragment (`/#code=…`: a fragment is never sent to any server, and the
//! code is worthless once used, so the copy in the browser's history is harmless). The page
//! trades the code for the access key with `POST /api/login` and keeps the key in its own
//! `localStorage`. More one-time links: `POST /api/login-links` (behind the key), used by
//! programs and tests. Codes are 32 random bytes (hex), compared in constant time, at most
//! [`MAX_CODES`] outstanding (the oldest is dropped first).

use super::AppState;
use crate::http::error::{ApiJson, AppError};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;

/// The public sign-in route.
pub const LOGIN_PATH: &str = "/api/login";
/// Most one-time codes kept at once.
pub const MAX_CODES: usize = 32;

/// The outstanding one-time sign-in codes of a server.
#[derive(Clone, Default)]
pub struct LoginCodes(Arc<Mutex<Vec<String>>>);

impl std::fmt::Debug for LoginCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginCodes(***)")
    }
}

impl LoginCodes {
    /// A new one-time code (32 random bytes, hex).
    pub fn issue(&self) -> std::io::Result<String> {
        let code = crate::state::random_hex(32)?;
        let mut codes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if codes.len() >= MAX_CODES {
            codes.remove(0);
        }
        codes.push(code.clone());
        Ok(code)
    }

    /// Uses up `code`: true (once) when it was issued and not used yet.
    pub fn redeem(&self, code: &str) -> bool {
        let mut codes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let found = codes
            .iter()
            .position(|c| bool::from(c.as_bytes().ct_eq(code.as_bytes())));
        match found {
            Some(i) => {
                codes.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The relative sign-in link of a code (`/#code=…`).
pub fn link_path(code: &str) -> String {
    format!("/#code={code}")
}

#[derive(Deserialize)]
pub struct LoginBody {
    code: String,
}

/// `POST /api/login` `{"code"}` -> `{"key"}`; a used, unknown or malformed code is a 401 that
/// says what to do.
pub async fn login(State(st): State<AppState>, ApiJson(body): ApiJson<LoginBody>) -> Response {
    if st.credentials.is_apps() {
        return AppError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no sign-in here: on Databricks Apps the proxy signs you in",
        )
        .into_response();
    }
    if !st.login.redeem(body.code.trim()) {
        tracing::info!("a sign-in code was refused (used, unknown or from another start)");
        return AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "This sign-in link was already used or is not from this kiln. Paste the access key \
             kiln serve printed, or ask for a new link (POST /api/login-links).",
        )
        .into_response();
    }
    axum::Json(json!({"key": st.key.reveal()})).into_response()
}

/// `POST /api/login-links` (behind the key) -> `{"code","path"}`: a new one-time link.
pub async fn new_link(State(st): State<AppState>) -> Result<Response, AppError> {
    let code = st
        .login
        .issue()
        .map_err(|e| AppError::internal("cannot make a sign-in code", e))?;
    let path = link_path(&code);
    Ok(axum::Json(json!({"code": code, "path": path})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_work_once() {
        let codes = LoginCodes::default();
        let a = codes.issue().unwrap();
        let b = codes.issue().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(!codes.redeem("nope"));
        assert!(codes.redeem(&a));
        assert!(!codes.redeem(&a));
        assert!(codes.redeem(&b));
        assert_eq!(link_path("x"), "/#code=x");
        assert_eq!(format!("{codes:?}"), "LoginCodes(***)");
    }

    #[test]
    fn outstanding_codes_are_bounded() {
        let codes = LoginCodes::default();
        let first = codes.issue().unwrap();
        for _ in 0..MAX_CODES {
            codes.issue().unwrap();
        }
        assert!(!codes.redeem(&first), "the oldest code was dropped");
    }
}
