//! The auth layer: `Authorization: Bearer <PAT | OAuth token>` or `Basic token:<PAT>`,
//! checked against the emulator clock. Missing or unsupported credentials → 401; unknown,
//! revoked or expired → 403 "Invalid access token." (`databricks-api.md` §1.7). OIDC,
//! discovery and admin paths are public (admin is loopback-only instead).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::ids;
use crate::principals::Caller;
use crate::world::Shared;

/// Identity recorded on the response for the request log (user name only, never a token).
#[derive(Debug, Clone)]
pub struct LoggedIdentity(pub String);

/// Paths that need no credential.
pub fn is_public(path: &str) -> bool {
    path.starts_with("/oidc/")
        || path.starts_with("/.well-known/")
        || path == "/__emulator"
        || path.starts_with("/__emulator/")
}

/// Middleware: resolves the caller or answers 401/403.
pub async fn layer(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    if is_public(req.uri().path()) {
        return next.run(req).await;
    }
    match resolve(&shared, req.headers()) {
        Ok(caller) => {
            let who = LoggedIdentity(caller.user_name.clone());
            req.extensions_mut().insert(caller);
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(who);
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// Resolves a request's credential to a caller, or the error Databricks answers with.
pub fn resolve(shared: &Shared, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let now = shared.now_ms();
    let w = shared.world();
    let numeric = w.settings.numeric_auth_error_codes;
    let token = bearer_or_basic(headers).ok_or_else(|| unauthenticated(numeric))?;
    let owner = if let Some(pat) = w.pats.get(&ids::token_id(&token)) {
        if pat.expiry_ms >= 0 && now >= pat.expiry_ms {
            return Err(invalid_token(numeric, "Invalid access token."));
        }
        pat.owner
    } else {
        let t = w
            .oauth
            .get(&oauth_key(&token))
            .ok_or_else(|| invalid_token(numeric, "Invalid access token."))?;
        if now >= t.expiry_ms {
            return Err(invalid_token(
                numeric,
                "Invalid access token. The token has expired.",
            ));
        }
        let margin = i64::try_from(w.settings.oauth_expiry_margin_secs * 1000).unwrap_or(0);
        if now + margin >= t.expiry_ms {
            return Err(invalid_token(
                numeric,
                "Invalid access token. Token is expiring within 30 seconds.",
            ));
        }
        t.owner
    };
    let p = w
        .principals
        .get(&owner)
        .ok_or_else(|| invalid_token(numeric, "Invalid access token."))?;
    Ok(Caller {
        id: p.id,
        user_name: p.user_name.clone(),
        is_sp: p.is_sp(),
        admin: p.admin,
    })
}

/// Key under which an OAuth access token is stored.
pub fn oauth_key(token: &str) -> String {
    ids::to_hex(&Sha256::digest(token.as_bytes()))
}

/// The credential from `Bearer x` or `Basic base64(token:x)`.
fn bearer_or_basic(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        if user == "token" && !password.is_empty() {
            return Some(password.to_string());
        }
    }
    None
}

/// 401 for a missing or unsupported credential.
pub fn unauthenticated(numeric: bool) -> ApiError {
    let e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        format!(
            "Credential was not sent or was of an unsupported type for this API. [ReqId: {}]",
            ids::uuid4()
        ),
    );
    if numeric { e.numeric() } else { e }
}

/// 403 for an unknown, revoked or expired token.
pub fn invalid_token(numeric: bool, message: &str) -> ApiError {
    let e = ApiError::permission_denied(message);
    if numeric { e.numeric() } else { e }
}
