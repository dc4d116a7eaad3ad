//! Shared fixture of the gateway tests: an emulated workspace plus a gateway in front of it on
//! 127.0.0.1:0 with a temporary state directory, a switchable token source, and helpers to
//! send model calls and read streamed answers chunk by chunk.
#![allow(dead_code, clippy::unwrap_used)]

use futures_util::StreamExt;
use kiln::gateway::{self, GatewayHandle, GatewayOptions};
use kiln_databricks::{Secret, TokenFuture, TokenSource};
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Generous bound for any one exchange.
pub const WAIT: Duration = Duration::from_secs(30);
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
