//! Who may use the server. Local mode: one access key per start, accepted as a `?key=` URL
//! parameter (exchanged for an `HttpOnly; SameSite=Strict` cookie and stripped by a redirect), as
//! that cookie, or as `Authorization: Bearer <key>`, always compared in constant time. Every path
//! but `/health` passes through [`require_access`].

use super::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use subtle::ConstantTimeEq;

/// Name of the cookie that carries the key after the exchange.
pub const COOKIE: &str = "kiln_key";
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

/// The `key` query parameter and the query without it.
fn split_key(query: &str) -> (Option<String>, String) {
    let mut key = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            if let Some(v) = pair.strip_prefix("key=") {
                key = Some(v.to_owned());
                false
            } else {
                !pair.is_empty()
            }
        })
        .collect();
    (key, rest.join("&"))
}

fn cookie_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|line| {
            line.split(';').find_map(|c| {
                c.trim()
                    .strip_prefix(COOKIE)?
                    .strip_prefix('=')
                    .map(str::to_owned)
            })
        })
}

fn bearer_key(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn unauthorized(path: &str, message: &str) -> Response {
    if path.starts_with("/api/") {
        return super::error::AppError::new(StatusCode::UNAUTHORIZED, message).into_response();
    }
    let page = format!(
        "<!doctype html><meta charset=utf-8><title>kiln: access key needed</title>\
         <h1>Access key needed</h1><p>{message}</p><p>Open the URL that <code>kiln serve</code> \
         printed when it started (it ends in <code>?key=…</code>).</p>"
    );
    (StatusCode::UNAUTHORIZED, Html(page)).into_response()
}

/// The access check in front of every route but `/health`.
pub async fn require_access(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        return next.run(req).await;
    }
    let key = &state.key;
    if let Some(query) = req.uri().query() {
        let (given, rest) = split_key(query);
        if let Some(given) = given {
            if !key.matches(&given) {
                return unauthorized(&path, "The access key in the URL is wrong.");
            }
            let is_page = req.method() == Method::GET && !path.starts_with("/api/");
            if is_page {
                let location = if rest.is_empty() {
                    path.clone()
                } else {
                    format!("{path}?{rest}")
                };
                let cookie = format!(
                    "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                    key.reveal()
                );
                let mut resp =
                    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
                return resp;
            }
            return next.run(req).await;
        }
    }
    let presented = bearer_key(req.headers()).or_else(|| cookie_key(req.headers()));
    match presented {
        Some(k) if key.matches(&k) => next.run(req).await,
        Some(_) => unauthorized(&path, "The access key is wrong."),
        None => unauthorized(&path, "An access key is required."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parameter_is_split_out() {
        assert_eq!(split_key("key=abc"), (Some("abc".into()), String::new()));
        assert_eq!(
            split_key("a=1&key=abc&b=2"),
            (Some("abc".into()), "a=1&b=2".into())
        );
        assert_eq!(split_key("a=1"), (None, "a=1".into()));
    }

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
    fn cookie_and_bearer_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; kiln_key=xyz; c=d"),
        );
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tok"),
        );
        assert_eq!(cookie_key(&h).as_deref(), Some("xyz"));
        assert_eq!(bearer_key(&h).as_deref(), Some("tok"));
    }
}
