//! The HTTP layer under the client: the shared `reqwest::Client` (rustls with the ring provider,
//! no redirects), one request attempt turned into a [`Response`] or a typed [`Error`], request
//! descriptions, and safe percent-encoding of workspace / volume paths.

use crate::error::{Error, TransportKind};
use crate::error_body::error_from_response;
use crate::retry::Safety;
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Once;
use std::time::Duration;

static CRYPTO_PROVIDER: Once = Once::new();

/// Builds the one `reqwest::Client` a [`crate::Client`] (and its OAuth provider) reuse.
pub(crate) fn build_http_client() -> Result<reqwest::Client, Error> {
    build(reqwest::Client::builder())
}

/// Like [`build_http_client`], ignoring proxy settings (for a local metadata service, which
/// the SDKs never reach through a proxy).
pub(crate) fn build_http_client_without_proxy() -> Result<reqwest::Client, Error> {
    build(reqwest::Client::builder().no_proxy())
}

fn build(builder: reqwest::ClientBuilder) -> Result<reqwest::Client, Error> {
    CRYPTO_PROVIDER.call_once(|| {
        // Fails only if another provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    builder
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Transport {
            kind: TransportKind::Other,
            request: "building the HTTP client".into(),
            message: error_chain(&e),
        })
}

/// A request body that can be sent again on retry.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Json(Bytes),
    Raw {
        data: Bytes,
        content_type: &'static str,
    },
}

/// One API request (path relative to the host, already encoded).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub safety: Safety,
    pub raw_response: bool,
    pub timeout: Option<Duration>,
}

impl Request {
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        let safety = if matches!(
            method,
            Method::GET | Method::HEAD | Method::DELETE | Method::PUT
        ) {
            Safety::Idempotent
        } else {
            Safety::NotIdempotent
        };
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::Empty,
            safety,
            raw_response: false,
            timeout: None,
        }
    }

    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub(crate) fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    pub(crate) fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("cannot encode the request body: {e}")))?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    pub(crate) fn raw(mut self, data: Bytes, content_type: &'static str) -> Self {
        self.body = Body::Raw { data, content_type };
        self
    }

    /// Marks a POST as safe to repeat.
    pub(crate) fn idempotent(mut self) -> Self {
        self.safety = Safety::Idempotent;
        self
    }

    /// Marks a call as unsafe to repeat (e.g. a PUT without overwrite).
    pub(crate) fn not_idempotent(mut self) -> Self {
        self.safety = Safety::NotIdempotent;
        self
    }

    pub(crate) fn raw_response(mut self) -> Self {
        self.raw_response = true;
        self
    }

    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A successful response, body read in full.
#[derive(Debug)]
pub(crate) struct Response {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request: String,
}

impl Response {
    /// Decodes JSON; an empty body counts as `{}` (action endpoints answer with nothing).
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            request: self.request.clone(),
            message: e.to_string(),
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one attempt and reads the whole body; non-2xx becomes a typed error.
pub(crate) async fn send(builder: RequestBuilder, label: &str) -> Result<Response, Error> {
    let res = builder
        .send()
        .await
        .map_err(|e| transport_error(&e, label))?;
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.bytes().await.map_err(|e| transport_error(&e, label))?;
    if !status.is_success() {
        tracing::debug!(request = label, status = status.as_u16(), "API error");
        return Err(error_from_response(status, &headers, &body, label));
    }
    Ok(Response {
        headers,
        body,
        request: label.to_owned(),
    })
}

pub(crate) fn transport_error(e: &reqwest::Error, label: &str) -> Error {
    let kind = if e.is_connect() {
        if e.is_timeout() || has_transient_io_error(e) {
            TransportKind::Connect
        } else {
            TransportKind::Setup
        }
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Other
    };
    Error::Transport {
        kind,
        request: label.to_owned(),
        message: error_chain(e),
    }
}

/// True when the error's cause is a refused, reset or timed-out connection (not DNS or TLS).
fn has_transient_io_error(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind::*;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ConnectionRefused
                    | ConnectionReset
                    | ConnectionAborted
                    | TimedOut
                    | NotConnected
                    | AddrNotAvailable
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The error and its sources joined with ": " (URLs stripped; they never hold secrets anyway).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Percent-encodes an absolute path for use after an API prefix: segments are kept,
/// everything but unreserved characters and `@` is escaped, and `.`/`..`/empty segments
/// (which URL parsing would resolve into a different API path) are refused.
pub(crate) fn encode_path(path: &str) -> Result<String, Error> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Error::InvalidInput(format!(
            "path {path:?} must be absolute"
        )));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err(Error::InvalidInput("path must not be the root".into()));
    }
    let mut out = String::with_capacity(path.len() + 8);
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(Error::InvalidInput(format!(
                "path {path:?} has an empty, '.' or '..' segment"
            )));
        }
        out.push('/');
        for b in segment.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_paths_safely() {
        assert_eq!(
            encode_path("/Users/alice@example.com/proj/src/main.rs").unwrap(),
            "/Users/alice@example.com/proj/src/main.rs"
        );
        assert_eq!(
            encode_path("/Volumes/c/s/v/a b+c?d#e%f/ü.sh/").unwrap(),
            "/Volumes/c/s/v/a%20b%2Bc%3Fd%23e%25f/%C3%BC.sh"
        );
        assert_eq!(encode_path("/a/.hidden/x..y").unwrap(), "/a/.hidden/x..y");
        for bad in [
            "relative/x",
            "/",
            "",
            "/a//b",
            "/a/../token/delete",
            "/a/./b",
            "/..",
        ] {
            assert!(encode_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_body_decodes_as_empty_object() {
        #[derive(Debug, serde::Deserialize)]
        struct Empty {}
        let r = Response {
            headers: HeaderMap::new(),
            body: Bytes::from_static(b" \n"),
            request: "x".into(),
        };
        let _: Empty = r.json().unwrap();
        let r = Response {
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"not json"),
            request: "GET /x".into(),
        };
        let e = r.json::<Empty>().unwrap_err();
        assert!(
            e.to_string()
                .starts_with("GET /x: cannot decode the response"),
            "{e}"
        );
    }
}
