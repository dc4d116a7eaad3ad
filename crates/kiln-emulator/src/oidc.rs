//! OAuth for service principals: `POST /oidc/v1/token` (client_credentials, client
//! authentication by HTTP Basic or form fields), plus the discovery documents the SDKs read
//! (`/oidc/.well-known/oauth-authorization-server`, `/.well-known/databricks-config`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::json;

use crate::auth::oauth_key;
use crate::ids;
use crate::principals::OauthToken;
use crate::world::Shared;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/oidc/v1/token", post(token))
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/.well-known/databricks-config", get(databricks_config))
}

/// The base URL clients used to reach us (from `Host`, falling back to the bound address).
pub fn request_base(shared: &Shared, headers: &HeaderMap) -> String {
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("http://{host}"),
        _ => shared.base_url.clone(),
    }
}

async fn authorization_server(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let base = request_base(&shared, &headers);
    Json(json!({
        "issuer": format!("{base}/oidc"),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": format!("{base}/oidc/v1/token"),
        "jwks_uri": format!("{base}/oidc/jwks.json"),
        "response_types_supported": ["code", "id_token"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "scopes_supported": ["all-apis", "offline_access", "openid", "profile", "email"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn databricks_config(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let base = request_base(&shared, &headers);
    Json(json!({
        "oidc_endpoint": format!("{base}/oidc"),
        "workspace_id": shared.workspace_id.to_string(),
        "cloud": "AWS",
        "token_federation_default_oidc_audiences": [format!("{base}/oidc/v1/token")],
    }))
    .into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({
            "error": error,
            "error_description": description,
            "error_id": ids::uuid4(),
        })),
    )
        .into_response()
}

/// Client id and secret from `Authorization: Basic` or the form body.
fn client_credentials(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = v.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (id, secret) = text.split_once(':')?;
        return Some((id.to_string(), secret.to_string()));
    }
    Some((
        form.get("client_id")?.clone(),
        form.get("client_secret")?.clone(),
    ))
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body must be application/x-www-form-urlencoded",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing grant_type",
            );
        }
    }
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    };
    let scope = form
        .get("scope")
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .unwrap_or_else(|| "all-apis".to_string());
    let now = shared.now_ms();
    let mut w = shared.world();
    let secret_id = ids::token_id(&secret);
    let owner = w.principals.values().find(|p| {
        p.user_name == client_id
            && p.sp_secrets
                .as_ref()
                .is_some_and(|s| s.contains(&secret_id))
    });
    let Some(owner) = owner.map(|p| p.id) else {
        drop(w);
        tracing::info!(client_id = %client_id, "oidc token: client authentication failed");
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    };
    let lifetime = w.settings.oauth_token_lifetime_secs;
    let access_token = fake_jwt(&client_id, now, lifetime);
    w.oauth.insert(
        oauth_key(&access_token),
        OauthToken {
            owner,
            expiry_ms: now + i64::try_from(lifetime * 1000).unwrap_or(i64::MAX / 4),
        },
    );
    drop(w);
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }))
    .into_response()
}

/// A JWT-shaped opaque token (`header.payload.signature`, base64url), unique per call.
fn fake_jwt(subject: &str, now_ms: i64, lifetime_secs: u64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"kid":"emulator","typ":"at+jwt","alg":"RS256"}"#);
    let iat = now_ms / 1000;
    let payload = b64.encode(
        json!({
            "client_id": subject,
            "sub": subject,
            "iat": iat,
            "exp": iat + i64::try_from(lifetime_secs).unwrap_or(0),
            "scope": "all-apis",
            "jti": ids::uuid4(),
        })
        .to_string(),
    );
    let sig = b64.encode(ids::random_bytes(32));
    format!("{header}.{payload}.{sig}")
}
