//! Who may use the server in local mode. One access key per start, carried by every API request
//! as `Authorization: Bearer <key>` and by WebSocket upgrades as the subprotocol
//! `kiln.key.<key>` (browsers cannot set headers on a WebSocket), always compared in constant
//! time. The key never rides in a cookie (cookies are not port-scoped, so every other server on
//! 127.0.0.1 would receive it) nor in a URL a browser keeps in its history: a browser signs in
//! with a one-time code from the URL fragment ([`super::login`]) and keeps the key in the
//! page's own `localStorage` (scoped to scheme, host and port). The UI's static files are
//! public (they hold no secret); every `/api/` route but the sign-in needs the key.

use super::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Shortest key accepted from `KILN_ACCESS_KEY`.
pub const MIN_KEY_CHARS: usize = 16;

/// The access key; its `Debug` never shows it.
#[derive(Clone)]
pub struct AccessKey(String);

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessKey(***)")
    }
}

impl AccessKey {
    /// A fresh random key (32 bytes, hex).
    pub fn random() -> std::io::Result<Self> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw)
            .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
        Ok(Self(raw.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A key chosen by the operator; refused when too short or not URL-safe.
    pub fn fixed(key: &str) -> Result<Self, String> {
        if key.chars().count() < MIN_KEY_CHARS {
            return Err(format!(
                "KILN_ACCESS_KEY must be at least {MIN_KEY_CHARS} characters"
            ));
        }
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
        {
            return Err("KILN_ACCESS_KEY may only contain letters, digits and - _ . ~".into());
        }
        Ok(Self(key.to_owned()))
    }

    /// The key itself, for the URL printed at start.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }
}

/// The WebSocket subprotocol a browser offers so kiln picks one it knows.
pub const WS_PROTOCOL: &str = "kiln";
/// Prefix of the WebSocket subprotocol that carries the key (`kiln.key.<key>`).
pub const WS_KEY_PREFIX: &str = "kiln.key.";

fn bearer_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The key offered as a WebSocket subprotocol (`Sec-WebSocket-Protocol: kiln, kiln.key.<key>`).
fn subprotocol_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_KEY_PREFIX).map(str::to_owned))
}

/// Whether a request may go without the key: `/health`, the UI's static files (GET or HEAD of
/// anything outside `/api/`), and the sign-in exchange.
fn is_public(method: &Method, path: &str) -> bool {
    path == "/health"
        || ((method == Method::GET || method == Method::HEAD) && !path.starts_with("/api/"))
        || (method == Method::POST && path == super::login::LOGIN_PATH)
}

fn unauthorized(message: &str) -> Response {
    crate::http::error::AppError::new(StatusCode::UNAUTHORIZED, message).into_response()
}

/// The access check in front of every route but the public ones ([`is_public`]).
pub async fn require_access(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_public(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let presented = bearer_key(req.headers()).or_else(|| subprotocol_key(req.headers()));
    match presented {
        Some(k) if state.key.matches(&k) => next.run(req).await,
        Some(_) => unauthorized(
            "The access key is wrong (kiln makes a new one at every start unless \
             KILN_ACCESS_KEY is set): open the sign-in link kiln serve printed.",
        ),
        None => unauthorized(
            "An access key is required: open the sign-in link kiln serve printed, or send \
             Authorization: Bearer <key>.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn fixed_keys_are_checked() {
        assert!(AccessKey::fixed("short").is_err());
        assert!(AccessKey::fixed("has spaces in it, long").is_err());
        let k = AccessKey::fixed("abcdefghijklmnop").unwrap();
        assert!(k.matches("abcdefghijklmnop"));
        assert!(!k.matches("abcdefghijklmnoq"));
        assert!(!k.matches(""));
        assert_eq!(format!("{k:?}"), "AccessKey(***)");
    }

    #[test]
    fn bearer_and_subprotocol_are_read() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("kiln_key=xyz"));
        assert_eq!(bearer_key(&h), None);
        assert_eq!(subprotocol_key(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("kiln, kiln.key.abc"),
        );
        assert_eq!(bearer_key(&h).as_deref(), Some("tok"));
        assert_eq!(subprotocol_key(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn only_the_ui_health_and_sign_in_are_public() {
        assert!(is_public(&Method::GET, "/"));
        assert!(is_public(&Method::GET, "/app.js"));
        assert!(is_public(&Method::GET, "/health"));
        assert!(is_public(&Method::POST, "/api/login"));
        assert!(!is_public(&Method::GET, "/api/sessions"));
        assert!(!is_public(&Method::GET, "/api/login"));
        assert!(!is_public(&Method::POST, "/"));
        assert!(!is_public(&Method::GET, "/api/sessions/x/ws"));
    }
}
