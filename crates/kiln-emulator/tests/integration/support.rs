//! Shared fixture for the emulator's integration tests: a started [`RunningEmulator`] and a
//! small JSON-over-HTTP client with a generous timeout.

use std::future::Future;
use std::time::Duration;

use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator};
use serde_json::Value;

/// Generous bound for any one HTTP exchange.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A running emulator plus an HTTP client.
pub struct Ctx {
    pub emu: RunningEmulator,
    pub http: reqwest::Client,
}

/// A response: status, headers and JSON body (`Null` when not JSON).
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// `error_code` of an error body.
    pub fn code(&self) -> &Value {
        &self.body["error_code"]
    }
}

/// Starts an emulator with default options.
pub async fn start() -> Ctx {
    start_with(EmulatorOptions::default()).await
}

/// Starts an emulator with `opts`.
pub async fn start_with(opts: EmulatorOptions) -> Ctx {
    let http = http_client();
    let emu = Emulator::start(opts).await.unwrap();
    Ctx { emu, http }
}

/// The tests' HTTP client: rustls' crypto provider installed, [`TIMEOUT`] per exchange.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(TIMEOUT).build().unwrap()
}

impl Ctx {
    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.url())
    }

    /// The seeded user's PAT.
    pub fn token(&self) -> String {
        self.emu.user_token().to_string()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        into_resp(req.send().await.unwrap()).await
    }

    /// GET as the seeded user.
    pub async fn get(&self, path: &str) -> Resp {
        let t = self.token();
        self.call("GET", path, Some(&t), None).await
    }

    /// POST JSON as the seeded user.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        let t = self.token();
        self.call("POST", path, Some(&t), Some(body)).await
    }

    /// Sends raw bytes as the seeded user.
    pub async fn send_bytes(&self, method: &str, path: &str, bytes: Vec<u8>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let req = self
            .http
            .request(m, self.url(path))
            .bearer_auth(self.token())
            .body(bytes);
        into_resp(req.send().await.unwrap()).await
    }
}

/// Reads a reqwest response fully.
pub async fn into_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap().to_vec();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        bytes,
    }
}

/// Polls `f` every 50 ms until it yields `Some` (waiting for an event, never for a time);
/// fails after 60 s naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
