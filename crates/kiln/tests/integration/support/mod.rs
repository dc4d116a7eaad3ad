//! The one fixture of kiln's integration tests. Here: the constants every part shares, [`TestServer`] (a real server on port 0 with a
//! fixed key and a temporary HOME, shut down on drop) and [`TermClient`] (a typed client of the
//! WebSocket protocol that tracks offsets and snapshots).

pub mod agents;
pub mod credentials;
pub mod gateway;
pub mod mlflow;
pub mod sync;

use futures_util::{SinkExt, StreamExt};
use kiln::server::{self, AccessKey};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

/// Generous wait for any single expected event.
pub const WAIT: Duration = Duration::from_secs(30);
pub const KEY: &str = "test-key-0123456789abcdef";
pub const PROMPT: &str = "kiln$ ";

pub struct TestServer {
    pub addr: SocketAddr,
    pub home: tempfile::TempDir,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// A server whose options `tune` may change; the shell is a plain interactive bash with the
    /// prompt [`PROMPT`].
    pub async fn with(tune: impl FnOnce(&mut server::Options)) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let home = tempfile::tempdir().unwrap();
        let mut opts = server::Options::new(AccessKey::fixed(KEY).unwrap());
        opts.term.home = Some(home.path().to_path_buf());
        opts.term.extra_env = vec![("PS1".into(), PROMPT.into())];
        opts.command = Some(
            ["bash", "--noprofile", "--norc", "-i"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        tune(&mut opts);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::listen(listener, opts, shutdown.clone()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            addr,
            home,
            http,
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A request with the key as a bearer token.
    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(KEY)
    }

    pub async fn create(&self) -> Value {
        let r = self
            .req(reqwest::Method::POST, "/api/sessions")
            .json(&serde_json::json!({"cols": 80, "rows": 24}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create session");
        r.json().await.unwrap()
    }

    /// How many sessions `GET /api/sessions` lists.
    pub async fn session_count(&self) -> usize {
        let listed: Value = self
            .req(reqwest::Method::GET, "/api/sessions")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed["sessions"].as_array().unwrap().len()
    }

    pub async fn create_id(&self) -> String {
        self.create().await["id"].as_str().unwrap().to_owned()
    }

    pub async fn session(&self, id: &str) -> Value {
        self.req(reqwest::Method::GET, &format!("/api/sessions/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn ws(&self, id: &str, offset: Option<u64>) -> TermClient {
        TermClient::connect(self.addr, id, offset).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t)
                .await
                .expect("server stops")
                .unwrap()
                .unwrap();
        }
    }

    /// One long-poll request; returns (status, headers, body).
    pub async fn poll(
        &self,
        id: &str,
        offset: Option<u64>,
        wait: u64,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let q = match offset {
            Some(o) => format!("offset={o}&wait={wait}"),
            None => format!("wait={wait}"),
        };
        let r = self
            .req(
                reqwest::Method::GET,
                &format!("/api/sessions/{id}/output?{q}"),
            )
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.bytes().await.unwrap().to_vec())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// What the server sent, decoded.
#[derive(Debug)]
pub enum Event {
    Output(Vec<u8>),
    Snapshot { offset: u64, bytes: Vec<u8> },
    Control(Value),
    Closed,
}

pub struct TermClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub hello: Value,
    /// Offset of the next live byte.
    pub offset: u64,
    /// Live bytes received since connecting (snapshots excluded).
    pub stream: Vec<u8>,
    /// The last snapshot received, if any.
    pub snapshot: Option<Vec<u8>>,
    pub controls: Vec<Value>,
}

/// A loopback port nothing listens on (bound, then released): for a server started later, or
/// an address that refuses connections.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A WebSocket upgrade request for session `id` at `addr` (with `?offset=` when given) carrying
/// `headers`, appended in order (a name may repeat).
pub fn ws_request_with(
    addr: impl std::fmt::Display,
    id: &str,
    offset: Option<u64>,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let q = offset.map(|o| format!("?offset={o}")).unwrap_or_default();
    let mut req = format!("ws://{addr}/api/sessions/{id}/ws{q}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        req.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    req
}

/// [`ws_request_with`] the access key.
pub fn ws_request(
    addr: SocketAddr,
    id: &str,
    offset: Option<u64>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    ws_request_with(
        addr,
        id,
        offset,
        &[("authorization", &format!("Bearer {KEY}"))],
    )
}

impl TermClient {
    pub async fn connect(addr: SocketAddr, id: &str, offset: Option<u64>) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(ws_request(addr, id, offset))
            .await
            .expect("websocket connects");
        let mut c = TermClient {
            ws,
            hello: Value::Null,
            offset: 0,
            stream: Vec::new(),
            snapshot: None,
            controls: Vec::new(),
        };
        let hello = c.next_text().await;
        assert_eq!(hello["type"], "hello", "first frame is hello: {hello}");
        c.offset = hello["offset"].as_u64().unwrap();
        if hello["snapshot"] == true {
            let len = hello["snapshot_len"].as_u64().unwrap() as usize;
            c.snapshot = Some(c.read_binary(len).await);
        }
        c.hello = hello;
        c
    }

    /// The next frame other than ping/pong (those would otherwise keep a stuck test alive).
    async fn raw_next(&mut self) -> Option<Message> {
        let next = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(m)) => return Some(m),
                    _ => return None,
                }
            }
        };
        tokio::time::timeout(WAIT, next)
            .await
            .expect("timed out waiting for a frame")
    }

    async fn next_text(&mut self) -> Value {
        loop {
            match self.raw_next().await.expect("connection open") {
                Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    async fn read_binary(&mut self, len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            match self.raw_next().await.expect("connection open") {
                Message::Binary(b) => out.extend_from_slice(&b),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected snapshot bytes, got {other:?}"),
            }
        }
        assert_eq!(out.len(), len, "snapshot length as announced");
        out
    }

    /// The next event; output and snapshots update `offset` and `stream`.
    pub async fn next(&mut self) -> Event {
        loop {
            let Some(msg) = self.raw_next().await else {
                return Event::Closed;
            };
            match msg {
                Message::Binary(b) => {
                    self.offset += b.len() as u64;
                    self.stream.extend_from_slice(&b);
                    return Event::Output(b.to_vec());
                }
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "snapshot" {
                        let len = v["snapshot_len"].as_u64().unwrap() as usize;
                        let bytes = self.read_binary(len).await;
                        self.offset = v["offset"].as_u64().unwrap();
                        self.snapshot = Some(bytes.clone());
                        return Event::Snapshot {
                            offset: self.offset,
                            bytes,
                        };
                    }
                    self.controls.push(v.clone());
                    return Event::Control(v);
                }
                Message::Close(_) => return Event::Closed,
                _ => continue,
            }
        }
    }

    /// Reads until the live stream contains `needle`; returns the stream so far.
    pub async fn read_until(&mut self, needle: &str) -> Vec<u8> {
        // Only the new tail is searched each time, so long streams stay linear.
        let mut from = 0;
        while !contains(&self.stream[from..], needle) {
            from = self.stream.len().saturating_sub(needle.len());
            if let Event::Closed = self.next().await {
                let tail = &self.stream[self.stream.len().saturating_sub(2000)..];
                panic!(
                    "closed before {needle:?}; got {:?}",
                    String::from_utf8_lossy(tail)
                );
            }
        }
        self.stream.clone()
    }

    /// Reads until a control message of `kind` arrives.
    pub async fn control(&mut self, kind: &str) -> Value {
        if let Some(v) = self.controls.iter().find(|v| v["type"] == kind) {
            return v.clone();
        }
        loop {
            match self.next().await {
                Event::Control(v) if v["type"] == kind => return v,
                Event::Closed => panic!(
                    "closed before a {kind} message; controls: {:?}",
                    self.controls
                ),
                _ => {}
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::Binary(bytes.to_vec().into()))
            .await
            .unwrap();
    }

    pub async fn send_text(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v).unwrap()
}
