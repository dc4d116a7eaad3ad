//! The web UI's files: embedded in the binary by `build.rs` (index.html, app.js, app.css,
//! favicon.svg, and the fonts kiln ships under fonts/), or read from `KILN_UI_DIR` at run time while developing (path traversal refused).
//!
//! Contract with the router: [`fallback`] answers every GET the API routes do not claim, after the
//! access check. Unknown paths get the API's JSON 404.
//!
//! Fewer bytes: the build precompresses the assets (`NAME.gz`, `NAME.br`); a browser that accepts
//! brotli or gzip (`Accept-Encoding`) gets those bytes with `Content-Encoding` and
//! `Vary: Accept-Encoding`. Every asset has an ETag (the bundle's content hash plus the
//! encoding), and a request whose `If-None-Match` holds it gets `304 Not Modified` with no body.
//! `HEAD` answers as `GET` without the body.
//!
//! `index.html` is a template, filled per response: a fresh style nonce (also added to that
//! response's CSP, so the `<style>` elements xterm.js creates are allowed without
//! `'unsafe-inline'`), and the assets' content hash in their URLs (`app.js?v=<hash>`), so the
//! assets can be cached for good while index.html is never cached.

use crate::http::error::AppError;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::LazyLock;

/// Placeholders in index.html.
const NONCE_PLACEHOLDER: &str = "__KILN_STYLE_NONCE__";
const VERSION_PLACEHOLDER: &str = "__KILN_ASSET_VERSION__";
/// Caching: versioned assets for a year, anything else revalidated, index.html never stored.
const CACHE_VERSIONED: &str = "private, max-age=31536000, immutable";
const CACHE_REVALIDATE: &str = "private, no-cache";
const CACHE_NEVER: &str = "no-store";

macro_rules! ui_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("OUT_DIR"), "/ui/", $name))
    };
}

/// One embedded asset: its URL path, file name, and its bytes plain, gzipped and brotli'd (the
/// compressed ones are empty when the build made none).
struct Asset {
    path: &'static str,
    name: &'static str,
    plain: &'static [u8],
    gzip: &'static [u8],
    brotli: &'static [u8],
}

macro_rules! asset {
    ($name:literal) => {
        Asset {
            path: concat!("/", $name),
            name: $name,
            plain: ui_file!($name),
            gzip: include_bytes!(concat!(env!("OUT_DIR"), "/ui/", $name, ".gz")),
            brotli: include_bytes!(concat!(env!("OUT_DIR"), "/ui/", $name, ".br")),
        }
    };
}

/// An embedded file that is not worth compressing (fonts are compressed already).
macro_rules! plain_asset {
    ($name:literal) => {
        Asset {
            path: concat!("/", $name),
            name: $name,
            plain: ui_file!($name),
            gzip: &[],
            brotli: &[],
        }
    };
}

/// The embedded bundle: the app, and the fonts kiln ships with their licences.
static EMBEDDED: &[Asset] = &[
    asset!("app.js"),
    asset!("app.css"),
    asset!("favicon.svg"),
    plain_asset!("fonts/jetbrains-mono-latin-400-normal.woff2"),
    plain_asset!("fonts/jetbrains-mono-latin-700-normal.woff2"),
    plain_asset!("fonts/jetbrains-mono-LICENSE.txt"),
    plain_asset!("fonts/fira-code-latin-400-normal.woff2"),
    plain_asset!("fonts/fira-code-latin-700-normal.woff2"),
    plain_asset!("fonts/fira-code-LICENSE.txt"),
];
static INDEX_HTML: &[u8] = ui_file!("index.html");

/// Content hash of the embedded assets: their URLs' version and their ETag.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Fnv1a::new();
    for a in EMBEDDED {
        h.write(a.name.as_bytes());
        h.write(a.plain);
    }
    format!("{:016x}", h.finish())
});

/// A content coding the assets come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Gzip => "gzip",
            Coding::Identity => "identity",
        }
    }
}

/// Whether `Accept-Encoding` in `headers` accepts `coding` (listed, or `*`, with a q above 0).
fn accepts(headers: &HeaderMap, coding: &str) -> bool {
    let mut star = false;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if token.eq_ignore_ascii_case(coding) {
                return !q_zero;
            }
            if token == "*" {
                star = !q_zero;
            }
        }
    }
    star
}

/// The best coding of `asset` the request accepts: brotli, then gzip, then the plain bytes.
fn choose(asset: &Asset, headers: &HeaderMap) -> (Coding, &'static [u8]) {
    if !asset.brotli.is_empty() && accepts(headers, "br") {
        (Coding::Brotli, asset.brotli)
    } else if !asset.gzip.is_empty() && accepts(headers, "gzip") {
        (Coding::Gzip, asset.gzip)
    } else {
        (Coding::Identity, asset.plain)
    }
}

/// Whether `If-None-Match` in `headers` names `etag` (or is `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
            })
        })
    })
}

/// FNV-1a, 64 bit: a cache key, not a security measure.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Serves the UI file for `uri` (`/` is `index.html`) from `ui_dir` (`kiln serve --ui-dir`,
/// `KILN_UI_DIR`) or the embedded bundle, or a JSON 404. `headers` are the request's
/// (`Accept-Encoding`, `If-None-Match`); HEAD gets the same answer without a body (the server
/// drops it).
pub async fn fallback(ui_dir: Option<&Path>, uri: Uri, headers: HeaderMap) -> Response {
    let result = match ui_dir {
        Some(dir) => from_dir(dir, uri.path()).await,
        None => Ok(embedded(&uri, &headers)),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn is_index(path: &str) -> bool {
    path == "/" || path == "/index.html"
}

fn not_found() -> Response {
    AppError::not_found("page").into_response()
}

fn embedded(uri: &Uri, headers: &HeaderMap) -> Response {
    let path = uri.path();
    if is_index(path) {
        return index(INDEX_HTML, &VERSION);
    }
    let Some(asset) = EMBEDDED.iter().find(|a| a.path == path) else {
        return not_found();
    };
    let versioned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == format!("v={}", *VERSION)));
    let cache = if versioned {
        CACHE_VERSIONED
    } else {
        CACHE_REVALIDATE
    };
    let (coding, bytes) = choose(asset, headers);
    // One ETag per representation: a cache must not answer a gzip request with brotli bytes.
    let etag = format!("\"{}-{}\"", *VERSION, coding.token());
    let mut resp = if not_modified(headers, &etag) {
        (StatusCode::NOT_MODIFIED, [(header::CACHE_CONTROL, cache)]).into_response()
    } else {
        let mut resp = file_response(asset.name, bytes.to_vec(), cache);
        if coding != Coding::Identity {
            resp.headers_mut().insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(coding.token()),
            );
        }
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    resp
}

/// A file from `dir` for the URL path `path`; refuses anything that could leave `dir`.
async fn from_dir(dir: &Path, path: &str) -> Result<Response, AppError> {
    let rel = if is_index(path) {
        "index.html"
    } else {
        safe_relative(path).ok_or_else(|| AppError::not_found("page"))?
    };
    let root = tokio::fs::canonicalize(dir)
        .await
        .map_err(|e| AppError::internal("KILN_UI_DIR cannot be read", e))?;
    let file = match tokio::fs::canonicalize(root.join(rel)).await {
        Ok(f) if f.starts_with(&root) => f,
        _ => return Err(AppError::not_found("page")),
    };
    let bytes = match tokio::fs::read(&file).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            return Err(AppError::not_found("page"));
        }
        Err(e) => return Err(AppError::internal("a UI file cannot be read", e)),
    };
    if rel == "index.html" {
        return Ok(index(&bytes, "dev"));
    }
    Ok(file_response(rel, bytes, CACHE_REVALIDATE))
}

/// `path` without its leading `/`, when every segment is a plain file or directory name.
fn safe_relative(path: &str) -> Option<&str> {
    let rel = path.strip_prefix('/')?;
    let plain = |seg: &str| {
        !seg.is_empty()
            && !seg.starts_with('.')
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    };
    rel.split('/').all(plain).then_some(rel)
}

/// Fills in index.html's placeholders and sets the CSP with this response's style nonce.
fn index(template: &[u8], version: &str) -> Response {
    let nonce = match style_nonce() {
        Ok(n) => n,
        Err(e) => {
            return AppError::internal("no randomness for the page's nonce", e).into_response();
        }
    };
    let html = String::from_utf8_lossy(template)
        .replace(NONCE_PLACEHOLDER, &nonce)
        .replace(VERSION_PLACEHOLDER, version);
    let mut resp = file_response("index.html", html.into_bytes(), CACHE_NEVER);
    if let Ok(csp) = HeaderValue::from_str(&csp_with_nonce(&nonce)) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    resp
}

/// 16 random bytes, hex.
fn style_nonce() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// The server's CSP with `nonce` allowed for `<style>` elements (and nothing else relaxed).
fn csp_with_nonce(nonce: &str) -> String {
    super::CSP.replacen(
        "style-src 'self'",
        &format!("style-src 'self' 'nonce-{nonce}'"),
        1,
    )
}

fn file_response(name: &str, body: Vec<u8>, cache: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type(name)),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The content type for a file name.
fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" | "map" => "application/json",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn relative_paths_are_plain_names_only() {
        assert_eq!(safe_relative("/app.js"), Some("app.js"));
        assert_eq!(
            safe_relative("/fonts/a-b_c.woff2"),
            Some("fonts/a-b_c.woff2")
        );
        for bad in [
            "/../etc/passwd",
            "/a/../../b",
            "/.env",
            "/a//b",
            "/",
            "/a/",
            "/%2e%2e/x",
            "/a\\b",
            "relative",
            "/a:b",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("x"), "application/octet-stream");
    }

    #[test]
    fn csp_gains_only_a_style_nonce() {
        let csp = csp_with_nonce("abc123");
        assert!(csp.contains("style-src 'self' 'nonce-abc123';"));
        assert!(csp.contains("script-src 'self';"));
        assert!(!csp.contains("unsafe-inline"));
        assert_eq!(csp.matches("nonce-").count(), 1);
    }

    #[tokio::test]
    async fn index_gets_a_fresh_nonce_each_time() {
        let template = b"<meta name=n content=\"__KILN_STYLE_NONCE__\"><script src=\"app.js?v=__KILN_ASSET_VERSION__\">";
        let a = index(template, "v1");
        let b = index(template, "v1");
        let csp_a = a.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let csp_b = b.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(csp_a, csp_b);
        assert_eq!(a.headers()[header::CACHE_CONTROL], CACHE_NEVER);
        let html = body(a).await;
        assert!(!html.contains("__KILN"));
        assert!(html.contains("app.js?v=v1"));
        let nonce = html
            .split("content=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(nonce.len(), 32);
        assert!(csp_a.contains(&format!("'nonce-{nonce}'")));
    }

    #[tokio::test]
    async fn embedded_assets_are_served_with_types_and_caching() {
        let index = fallback(None, Uri::from_static("/"), HeaderMap::new()).await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let none = HeaderMap::new();
        let js = embedded(&Uri::from_static("/app.js"), &none);
        assert_eq!(js.status(), StatusCode::OK);
        assert_eq!(js.headers()[header::CACHE_CONTROL], CACHE_REVALIDATE);
        assert!(js.headers().contains_key(header::ETAG));
        let uri: Uri = format!("/app.js?v={}", *VERSION).parse().unwrap();
        let versioned = embedded(&uri, &none);
        assert_eq!(versioned.headers()[header::CACHE_CONTROL], CACHE_VERSIONED);
        let css = embedded(&Uri::from_static("/app.css"), &none);
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
        let missing = embedded(&Uri::from_static("/nope.js"), &none);
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(body(missing).await.contains("\"not_found\""));
    }

    fn with(pairs: &[(header::HeaderName, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accept_encoding_is_parsed_with_q_values() {
        let ae = |v: &'static str| with(&[(header::ACCEPT_ENCODING, v)]);
        assert!(accepts(&ae("gzip, deflate, br, zstd"), "br"));
        assert!(accepts(&ae("GZIP"), "gzip"));
        assert!(!accepts(&ae("gzip;q=0, br"), "gzip"));
        assert!(accepts(&ae("gzip;q=0.5"), "gzip"));
        assert!(accepts(&ae("*"), "br"));
        assert!(!accepts(&ae("*;q=0"), "br"));
        assert!(!accepts(&ae("br;q=0, *"), "br"));
        assert!(!accepts(&ae("identity"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
        assert!(!accepts(&ae("bro, xgzip"), "br"));
    }

    #[tokio::test]
    async fn assets_are_precompressed_and_revalidated() {
        let uri = Uri::from_static("/app.js");
        let plain = embedded(&uri, &HeaderMap::new());
        assert!(!plain.headers().contains_key(header::CONTENT_ENCODING));
        assert_eq!(plain.headers()[header::VARY], "accept-encoding");
        let plain_etag = plain.headers()[header::ETAG].clone();
        let plain_body = body(plain).await;
        for (accept, coding) in [("gzip, deflate, br", "br"), ("gzip", "gzip")] {
            let resp = embedded(&uri, &with(&[(header::ACCEPT_ENCODING, accept)]));
            assert_eq!(resp.status(), StatusCode::OK);
            let etag = resp.headers()[header::ETAG].clone();
            assert_ne!(etag, plain_etag, "one ETag per representation");
            if EMBEDDED[0].brotli.is_empty() {
                continue; // a build without the UI (KILN_SKIP_UI_BUILD)
            }
            assert_eq!(resp.headers()[header::CONTENT_ENCODING], coding);
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .unwrap();
            let decoded = match coding {
                "gzip" => {
                    let mut out = String::new();
                    std::io::Read::read_to_string(
                        &mut flate2::read::GzDecoder::new(&bytes[..]),
                        &mut out,
                    )
                    .unwrap();
                    out
                }
                _ => {
                    assert!(bytes.len() < plain_body.len() / 2, "brotli is smaller");
                    continue;
                }
            };
            assert_eq!(decoded, plain_body);
            // The same ETag back: 304 with no body.
            let again = embedded(
                &uri,
                &with(&[
                    (header::ACCEPT_ENCODING, accept),
                    (header::IF_NONE_MATCH, "\"other\", W/\"x\""),
                ]),
            );
            assert_eq!(again.status(), StatusCode::OK);
            let mut h = with(&[(header::ACCEPT_ENCODING, accept)]);
            h.insert(header::IF_NONE_MATCH, etag.clone());
            let cached = embedded(&uri, &h);
            assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
            assert_eq!(cached.headers()[header::ETAG], etag);
            assert!(body(cached).await.is_empty());
        }
    }

    #[tokio::test]
    async fn ui_dir_serves_files_and_refuses_escapes() {
        let root = tempfile::tempdir().unwrap();
        let ui = root.path().join("ui");
        std::fs::create_dir_all(ui.join("sub")).unwrap();
        std::fs::write(ui.join("index.html"), "<p>__KILN_STYLE_NONCE__</p>").unwrap();
        std::fs::write(ui.join("app.js"), "console.log(1)").unwrap();
        std::fs::write(root.path().join("secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret.txt"), ui.join("link.txt")).unwrap();

        let index = from_dir(&ui, "/").await.unwrap();
        let csp = index.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let html = body(index).await;
        assert!(!html.contains("__KILN"));
        assert!(csp.contains("'nonce-"));
        let js = from_dir(&ui, "/app.js").await.unwrap();
        assert_eq!(
            js.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(body(js).await, "console.log(1)");
        for bad in [
            "/../secret.txt",
            "/link.txt",
            "/sub",
            "/missing.js",
            "/.hidden",
        ] {
            let err = from_dir(&ui, bad).await.unwrap_err();
            assert_eq!(err.status, StatusCode::NOT_FOUND, "{bad}");
        }
    }
}
