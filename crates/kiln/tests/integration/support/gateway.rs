//! Shared fixture of the gateway tests: an emulated workspace plus a gateway in front of it on
//! 127.0.0.1:0 with a temporary state directory, a switchable token source, and helpers to
//! send model calls and read streamed answers chunk by chunk.

use futures_util::StreamExt;
use kiln::gateway::{self, GatewayHandle, GatewayOptions};
use kiln_databricks::{Secret, TokenFuture, TokenSource};
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub use super::WAIT;
pub const CLAUDE: &str = "databricks-claude-sonnet-4-5";
pub const GPT: &str = "databricks-gpt-5";
pub const GEMINI: &str = "databricks-gemini-2-5-pro";

/// A token source whose token the test changes (like kiln's rotating broker).
#[derive(Debug)]
pub struct SwapSource(Mutex<String>);

impl SwapSource {
    pub fn new(token: &str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(token.to_owned())))
    }
    pub fn set(&self, token: &str) {
        *self.0.lock().unwrap() = token.to_owned();
    }
}

impl TokenSource for SwapSource {
    fn token(&self) -> TokenFuture<'_> {
        let t = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(Secret::new(t)) })
    }
}

/// Default options for tests: port 0, a temp state dir, no background warm-up.
pub fn options(state_dir: &std::path::Path) -> GatewayOptions {
    GatewayOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        fallback_to_free_port: false,
        state_dir: Some(state_dir.to_path_buf()),
        warm_up: false,
        ..GatewayOptions::default()
    }
}

pub struct Rig {
    pub emu: RunningEmulator,
    pub gw: GatewayHandle,
    pub source: Arc<SwapSource>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    pub key: String,
}

impl Rig {
    pub async fn start() -> Rig {
        Self::with(EmulatorOptions::default(), |_| {}).await
    }

    pub async fn with(emu_opts: EmulatorOptions, tune: impl FnOnce(&mut GatewayOptions)) -> Rig {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let emu = Emulator::start(emu_opts).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut opts = options(dir.path());
        tune(&mut opts);
        let source = SwapSource::new(emu.user_token());
        let gw = gateway::start(opts, emu.url().to_owned(), source.clone())
            .await
            .unwrap();
        let key = gw.key().expose().to_owned();
        // Probes happen now, so the request logs hold only what a test sends.
        gw.resolve_upstreams().await;
        emu.clear_requests();
        emu.serving().clear_requests();
        let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
        Rig {
            emu,
            gw,
            source,
            dir,
            http,
            key,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gw.url())
    }

    /// A POST with the local key as a bearer token.
    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.key)
            .json(body)
    }

    pub async fn usage(&self) -> Value {
        self.http
            .get(self.url("/api/usage"))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Paths the data plane was called on, in order.
    pub fn upstream_paths(&self) -> Vec<String> {
        self.emu
            .serving()
            .requests()
            .into_iter()
            .map(|r| r.path)
            .collect()
    }
}

/// Request bodies per flavour.
pub fn anthropic_body(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 64, "stream": stream,
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]})
}

pub fn chat_body(model: &str, text: &str, stream: bool) -> Value {
    let mut v =
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]});
    if stream {
        v["stream_options"] = json!({"include_usage": true});
    }
    v
}

pub fn responses_body(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "store": false,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": text}]}]})
}

pub fn gemini_body(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

/// A streamed answer read chunk by chunk.
pub struct Streamed {
    pub status: u16,
    pub content_type: String,
    pub chunks: Vec<String>,
}

impl Streamed {
    pub fn text(&self) -> String {
        self.chunks.concat()
    }

    /// `(event name, data)` pairs.
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        let text = self.text();
        let mut out = Vec::new();
        for block in text.split("\n\n") {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_owned());
                }
            }
            if name.is_some() || !data.is_empty() {
                out.push((name, data.join("\n")));
            }
        }
        out
    }

    /// The JSON data of every event but `[DONE]`.
    pub fn json(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(_, d)| d != "[DONE]")
            .map(|(_, d)| serde_json::from_str(&d).unwrap())
            .collect()
    }
}

/// Reads a whole streamed response.
pub async fn read_stream(response: reqwest::Response) -> Streamed {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let mut chunks = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(WAIT, body.next()).await.unwrap() {
        chunks.push(String::from_utf8(chunk.unwrap().to_vec()).unwrap());
    }
    Streamed {
        status,
        content_type,
        chunks,
    }
}

/// The text an Anthropic stream carried.
pub fn anthropic_text(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "content_block_delta")
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect()
}

/// The text a Chat Completions stream carried.
pub fn chat_text(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"].get(0))
        .filter_map(|c| c["delta"]["content"].as_str())
        .collect()
}

/// Finds the usage entry of an agent.
pub fn usage_of<'a>(usage: &'a Value, agent: &str, model: &str) -> &'a Value {
    usage["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == agent && a["model"] == model)
        .unwrap_or_else(|| panic!("no usage for {agent}/{model} in {usage}"))
}

/// Sends `POST <raw_path>` byte for byte over a plain TCP connection (an HTTP client would
/// normalize backslashes and dot-segments first) with the local key as a bearer token, and
/// returns the status code and the body.
pub async fn raw_post(base_url: &str, raw_path: &str, key: &str, body: &Value) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base_url.strip_prefix("http://").unwrap();
    let body = body.to_string();
    let request = format!(
        "POST {raw_path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"));
    (status, answer)
}

/// Paths that try to leave the model API through the gateway (issue 8, finding 1): the exact
/// attack of the security review (backslashes the URL parser would turn into `/` and resolve),
/// plus `..`, and percent-encoded `%2e%2e` / `%2f` / `%5c`, on every prefix. `target` is a
/// workspace file path (without the leading `/`).
pub fn escape_paths(target: &str) -> Vec<String> {
    let back = target.replace('/', "\\");
    let enc_slash = target.replace('/', "%2f");
    let enc_back = target.replace('/', "%5c");
    let mut out = vec![
        format!(
            "/gemini/v1beta/models/a\\..\\..\\..\\..\\..\\api\\2.0\\workspace-files\\import-file\\{back}:generateContent"
        ),
        format!(
            "/gemini/v1beta/models/..\\..\\..\\..\\api\\2.0\\workspace-files\\import-file\\{back}:streamGenerateContent?alt=sse"
        ),
        format!(
            "/google/v1beta/models/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fapi%2f2.0%2fworkspace-files%2fimport-file%2f{enc_slash}:generateContent"
        ),
        format!(
            "/gemini/v1beta/models/a%5c%2e%2e%5c%2e%2e%5c%2e%2e%5c%2e%2e%5c%2e%2e%5capi%5c2.0%5cworkspace-files%5cimport-file%5c{enc_back}:generateContent"
        ),
        format!(
            "/gemini/v1beta/models/../../../../api/2.0/workspace-files/import-file/{target}:generateContent"
        ),
        "/gemini/v1beta/models/..:generateContent".to_owned(),
        "/gemini/v1beta/models/%2e%2e:generateContent".to_owned(),
    ];
    for prefix in [
        "claude",
        "codex",
        "opencode",
        "hermes",
        "anthropic",
        "openai",
    ] {
        out.push(format!(
            "/{prefix}/v1/messages/..\\..\\..\\api\\2.0\\workspace-files\\import-file\\{back}"
        ));
        out.push(format!(
            "/{prefix}/chat/completions/%2e%2e/%2e%2e/api/2.0/workspace-files/import-file/{target}"
        ));
        out.push(format!(
            "/{prefix}\\..\\api\\2.0\\workspace-files\\import-file\\{back}"
        ));
        out.push(format!(
            "/{prefix}/responses%2f..%2f..%2fapi%2f2.0%2fworkspace-files%2fimport-file%2f{enc_slash}"
        ));
    }
    out
}

/// Sends every [`escape_paths`] attack to the gateway at `base_url` and checks each was
/// refused (400 or 404) and that the emulated workspace saw no request outside the model APIs
/// and has no file at `target`.
pub async fn assert_no_escape(emu: &RunningEmulator, base_url: &str, key: &str, target: &str) {
    emu.clear_requests();
    emu.serving().clear_requests();
    for path in escape_paths(target) {
        let (status, answer) = raw_post(base_url, &path, key, &gemini_body("pwned")).await;
        assert!(
            status == 400 || status == 404,
            "{path}: answered {status}\n{answer}"
        );
    }
    let outside: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| {
            !r.path.starts_with("/serving-endpoints/") && !r.path.starts_with("/ai-gateway/")
        })
        .collect();
    assert!(
        outside.is_empty(),
        "requests outside the model APIs: {outside:?}"
    );
    let reached: Vec<_> = emu
        .serving()
        .requests()
        .into_iter()
        .filter(|r| r.body.to_string().contains("pwned"))
        .map(|r| r.path)
        .collect();
    assert!(
        reached.is_empty(),
        "refused paths reached the model API: {reached:?}"
    );
    assert!(
        !emu.workspace_exists(&format!("/{target}")),
        "{target} was written"
    );
}
