//! Fuzzing of what a viewer sends on a terminal WebSocket (`docs/protocol.md`), against a real
//! server and a real shell in this process:
//!
//! - **control messages**: any mix of garbage text, truncated and out-of-range `resize`
//!   messages, unknown types, arbitrary JSON, long text, valid resizes, pings and input, sent
//!   before the hello is even read: every bad control message is answered by exactly one `error`
//!   frame, in order; the connection stays open; the session lives; input sent among the garbage
//!   arrives; and the output this viewer got is byte for byte what a fresh viewer reads from the
//!   same offset.
//! - **frames on the wire**: hand-built frames with any opcode, reserved bits, fragmentation,
//!   missing or present masks, honest or lying lengths (up to 2^63), cut off anywhere, then the
//!   client's end of the connection: the server closes the connection (with `1002` when it saw
//!   a protocol error), no task panics, the session lives and still reads input and answers.
//! - **huge messages**: over the 16 MiB message limit the server closes with `1009` and the
//!   session and other viewers go on.
//!
//! The shell reads with the line discipline (no readline), ignores EOF, and has flow control
//! and signal characters off; `^U` before each marker command clears whatever garbage is on the
//! line. Each case of the wire-level property has a session of its own whose shell has become
//! `cat` on a raw terminal: bytes a lying frame length turns into input are arbitrary (a `^V`, an
//! open quote and a carriage return, the start of a here-document), and a shell's parser could be
//! left waiting for more of them forever; `cat` echoes any bytes, so what the case checks is the
//! session's whole input and output path, never the shell's grammar.

use futures_util::{SinkExt, StreamExt};
use kiln::server::{self, AccessKey};
use proptest::prelude::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::KEY;
const WAIT: Duration = Duration::from_secs(30);
/// Largest message the server takes (kiln's `MAX_MESSAGE_BYTES`).
const LIMIT: usize = 16 << 20;
/// A well-formed control message, cut anywhere for truncated ones.
const RESIZE: &str = r#"{"type":"resize","cols":100,"rows":30}"#;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Name of the runtime threads the server runs on.
const SERVER_THREADS: &str = "kiln-fuzz-server";
/// Panics on the server's threads since the fixture started.
static PANICS: AtomicUsize = AtomicUsize::new(0);
/// Numbers for marker commands.
static MARK: AtomicU64 = AtomicU64::new(1);

struct Fixture {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    session: String,
    http: reqwest::Client,
    _home: tempfile::TempDir,
}

/// One server and one session for every case of a test (nextest runs each test in its own
/// process).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let previous = std::panic::take_hook();
        // Only the server's threads count: the test's own assertions panic on the test thread.
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some(SERVER_THREADS) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let home = tempfile::tempdir().unwrap();
        let addr = rt.block_on(async {
            let mut opts = server::Options::new(AccessKey::fixed(KEY).unwrap());
            opts.term.home = Some(home.path().to_path_buf());
            opts.term.extra_env = vec![
                ("PS1".into(), "fz$ ".into()),
                ("IGNOREEOF".into(), "1000000".into()),
            ];
            opts.command = Some(
                ["bash", "--noprofile", "--norc", "--noediting", "-i"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(server::listen(
                listener,
                opts,
                tokio_util::sync::CancellationToken::new(),
            ));
            addr
        });
        let mut f = Fixture {
            rt,
            addr,
            session: String::new(),
            http: reqwest::Client::new(),
            _home: home,
        };
        f.session = f.rt.block_on(f.new_session());
        f
    })
}

impl Fixture {
    async fn connect(&self, offset: Option<u64>) -> Ws {
        self.connect_to(&self.session, offset).await
    }

    async fn connect_to(&self, id: &str, offset: Option<u64>) -> Ws {
        let req = crate::support::ws_request(self.addr, id, offset);
        tokio_tungstenite::connect_async(req).await.unwrap().0
    }

    /// A new session whose shell has printed its first marker (flow control off).
    async fn new_session(&self) -> String {
        let created: Value = self
            .http
            .post(format!("http://{}/api/sessions", self.addr))
            .bearer_auth(KEY)
            .json(&serde_json::json!({"cols": 80, "rows": 24}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        let mut ws = self.connect_to(&id, Some(0)).await;
        hello(&mut ws).await;
        let setup = b"stty -ixon -isig; printf 'FZ''%s.' 0\r";
        ws.send(Message::Binary(setup.to_vec().into()))
            .await
            .unwrap();
        read_until(&mut ws, b"FZ0.").await;
        let _ = ws.close(None).await;
        id
    }

    async fn delete(&self, id: &str) {
        self.http
            .delete(format!("http://{}/api/sessions/{id}", self.addr))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
    }

    async fn session(&self, id: &str) -> Value {
        self.http
            .get(format!("http://{}/api/sessions/{id}", self.addr))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The end offset, after checking that the shell still runs.
    async fn alive_at(&self) -> Result<u64, TestCaseError> {
        self.alive_at_in(&self.session).await
    }

    async fn alive_at_in(&self, id: &str) -> Result<u64, TestCaseError> {
        let s = self.session(id).await;
        prop_assert!(s["exit"].is_null(), "the shell ended: {s}");
        Ok(s["offset"].as_u64().unwrap())
    }

    /// Runs a marker command on a fresh viewer at the live end: the session still works.
    async fn still_works(&self) -> Result<(), TestCaseError> {
        self.still_works_in(&self.session).await
    }

    /// A new session whose program is `cat` on a raw terminal without echo: whatever comes in
    /// goes back out unchanged.
    async fn new_echo_session(&self) -> String {
        let id = self.new_session().await;
        let n = MARK.fetch_add(1, Ordering::SeqCst);
        // The marker is printed after `stty` took effect; bytes sent after it wait in the
        // terminal's queue until `cat` reads them.
        let cmd = format!("\x15stty raw -echo; printf 'FZ''%s.' {n}; exec cat\r");
        self.round_trip(&id, cmd, &format!("FZ{n}.")).await.unwrap();
        id
    }

    /// Sends a marker to an echo session and reads it back: the session still works.
    async fn still_echoes_in(&self, id: &str) -> Result<(), TestCaseError> {
        let marker = format!("FZ{}.", MARK.fetch_add(1, Ordering::SeqCst));
        self.round_trip(id, marker.clone(), &marker).await?;
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
        Ok(())
    }

    async fn still_works_in(&self, id: &str) -> Result<(), TestCaseError> {
        let n = MARK.fetch_add(1, Ordering::SeqCst);
        let cmd = format!("\x15printf 'FZ''%s.' {n}\r");
        self.round_trip(id, cmd, &format!("FZ{n}.")).await?;
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
        Ok(())
    }

    /// Sends `input` on a fresh viewer at the live end of session `id` (after checking that it
    /// runs) and reads until `marker` has come back.
    async fn round_trip(&self, id: &str, input: String, marker: &str) -> Result<(), TestCaseError> {
        let end = self.alive_at_in(id).await?;
        let mut ws = self.connect_to(id, Some(end)).await;
        hello(&mut ws).await;
        ws.send(Message::Binary(input.into_bytes().into()))
            .await
            .unwrap();
        read_until(&mut ws, marker.as_bytes()).await;
        let _ = ws.close(None).await;
        Ok(())
    }
}

async fn hello(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["type"], "hello", "{v}");
                return v;
            }
            // The answer to a ping sent before the hello was read may come first.
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("expected the hello, got {other:?}"),
        }
    }
}

/// Reads binary frames until `marker` has arrived; returns them.
async fn read_until(ws: &mut Ws, marker: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let read = async {
        while !out.windows(marker.len()).any(|w| w == marker) {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => out.extend_from_slice(&b),
                Some(Ok(_)) => {}
                other => panic!("the viewer ended while waiting for the marker: {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("{:?} did not arrive", String::from_utf8_lossy(marker)));
    out
}

/// A client message and whether the protocol accepts it.
#[derive(Debug, Clone)]
enum Frame {
    Control { text: String, valid: bool },
    Input(String),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Numbers a `resize` must refuse: out of range, not integers, not numbers.
fn bad_dimension(max: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        (max + 1..=70_000u64).prop_map(|n| n.to_string()),
        Just("-1".to_owned()),
        Just("80.5".to_owned()),
        Just("\"80\"".to_owned()),
        Just("null".to_owned()),
        Just("1e400".to_owned()),
        Just("18446744073709551616".to_owned()),
    ]
}

fn client_frame() -> impl Strategy<Value = Frame> {
    let bad = |text: String| Frame::Control { text, valid: false };
    prop_oneof![
        3 => (2u16..=1000, 1u16..=500, prop::option::of(("[a-z]{1,6}", any::<i32>()))).prop_map(
            |(c, r, extra)| {
                let more = extra.map(|(k, v)| format!(r#","x{k}":{v}"#)).unwrap_or_default();
                Frame::Control { text: format!(r#"{{"type":"resize","cols":{c},"rows":{r}{more}}}"#), valid: true }
            }),
        3 => "\\PC{0,200}".prop_filter("not a resize", |s| !s.contains("resize")).prop_map(bad),
        3 => (0..RESIZE.len()).prop_map(move |i| bad(RESIZE[..i].to_owned())),
        2 => (bad_dimension(1000), 1u16..=500).prop_map(move |(c, r)| bad(format!(r#"{{"type":"resize","cols":{c},"rows":{r}}}"#))),
        2 => (2u16..=1000, bad_dimension(500)).prop_map(move |(c, r)| bad(format!(r#"{{"type":"resize","cols":{c},"rows":{r}}}"#))),
        1 => Just(bad(r#"{"type":"resize"}"#.to_owned())),
        1 => Just(bad(r#"{"type":"resize","cols":80,"rows":24,"cols":81}"#.to_owned())),
        2 => "[a-z_]{0,12}".prop_filter("not resize", |t| t != "resize").prop_map(move |t| bad(format!(r#"{{"type":"{t}"}}"#))),
        2 => json_value().prop_filter("not a resize", |v| !v.to_string().contains("resize")).prop_map(move |v| bad(v.to_string())),
        1 => (1usize..(1 << 20)).prop_map(move |n| bad("x".repeat(n))),
        3 => "[a-z0-9 ]{0,40}".prop_map(|s| Frame::Input(format!(": {s}\r"))),
        1 => prop::collection::vec(any::<u8>(), 0..125).prop_map(Frame::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..125).prop_map(Frame::Pong),
    ]
}

/// One hand-built frame.
#[derive(Debug, Clone)]
struct RawFrame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// 0: the shortest length encoding, 1: 16-bit, 2: 64-bit, 3: a lying length.
    length_form: u8,
    lie: u64,
    payload: Vec<u8>,
}

impl RawFrame {
    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![(u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode];
        let m = if self.mask.is_some() { 0x80 } else { 0 };
        let n = self.payload.len() as u64;
        match (self.length_form, n) {
            (0, n) if n < 126 => b.push(m | n as u8),
            (0 | 1, n) if n < 65536 => {
                b.push(m | 126);
                b.extend_from_slice(&(n as u16).to_be_bytes());
            }
            (3, _) => {
                b.push(m | 127);
                b.extend_from_slice(&self.lie.to_be_bytes());
            }
            (_, n) => {
                b.push(m | 127);
                b.extend_from_slice(&n.to_be_bytes());
            }
        }
        match self.mask {
            Some(k) => {
                b.extend_from_slice(&k);
                b.extend(self.payload.iter().enumerate().map(|(i, c)| c ^ k[i % 4]));
            }
            None => b.extend_from_slice(&self.payload),
        }
        b
    }
}

fn raw_frame() -> impl Strategy<Value = RawFrame> {
    (
        any::<bool>(),
        prop_oneof![4 => Just(0u8), 1 => 1u8..8],
        prop_oneof![
            Just(0u8),
            Just(1),
            Just(2),
            Just(8),
            Just(9),
            Just(10),
            0u8..16
        ],
        prop_oneof![9 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)],
        0u8..4,
        prop_oneof![Just(u64::MAX >> 1), Just(u64::MAX), any::<u64>(), 0u64..300],
        // Printable payloads: an honest binary frame is input to the shell.
        prop_oneof![
            "[ -~]{0,200}".prop_map(String::into_bytes),
            Just(br#"{"type":"resize","cols":90,"rows":20}"#.to_vec()),
        ],
    )
        .prop_map(
            |(fin, rsv, opcode, mask, length_form, lie, payload)| RawFrame {
                fin,
                rsv,
                opcode,
                mask,
                length_form,
                lie,
                payload,
            },
        )
}

/// Opens the WebSocket by hand (so any bytes can follow) and returns the stream after the 101.
async fn raw_upgrade(f: &Fixture, offset: u64) -> TcpStream {
    raw_upgrade_to(f, &f.session, offset).await
}

async fn raw_upgrade_to(f: &Fixture, id: &str, offset: u64) -> TcpStream {
    let mut s = TcpStream::connect(f.addr).await.unwrap();
    let req = format!(
        "GET /api/sessions/{id}/ws?offset={offset} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {KEY}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        f.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut byte))
            .await
            .expect("the upgrade answer")
            .unwrap();
        assert_eq!(n, 1, "the server closed during the upgrade");
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// The close code in the server's frames, if a close frame is among them (frames from the
/// server are unmasked; the parse stops at anything it does not understand).
fn close_code(mut b: &[u8]) -> Option<u16> {
    while b.len() >= 2 {
        let opcode = b[0] & 0x0f;
        let (len, at): (usize, usize) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
            n if n < 126 => (n as usize, 2),
            _ => return None,
        };
        let payload = b.get(at..at.checked_add(len)?)?;
        if opcode == 8 {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
        b = &b[at + len..];
    }
    None
}

/// Whether `frames` hold a complete frame any WebSocket server must refuse as a protocol error.
fn breaks_protocol(frames: &[RawFrame]) -> bool {
    let mut in_message = false;
    for fr in frames {
        if fr.length_form == 3 {
            // A lying length: the frame may never be complete, so nothing is promised.
            return false;
        }
        let control = fr.opcode >= 8;
        let bad = fr.rsv != 0
            || fr.mask.is_none()
            || !matches!(fr.opcode, 0 | 1 | 2 | 8 | 9 | 10)
            || (control && (!fr.fin || fr.payload.len() > 125))
            || (fr.opcode == 0 && !in_message)
            || (matches!(fr.opcode, 1 | 2) && in_message);
        if bad {
            return true;
        }
        if fr.opcode == 8 {
            // A close: what follows is not read.
            return false;
        }
        if !control {
            in_message = !fr.fin;
        }
    }
    false
}

proptest! {
    #[test]
    fn bad_control_messages_get_one_error_each_and_lose_nothing(
        frames in prop::collection::vec(client_frame(), 1..12),
    ) {
        let f = fixture();
        f.rt.block_on(async {
            let start = f.alive_at().await?;
            let mut ws = f.connect(Some(start)).await;
            // Everything goes out before the hello is read.
            let n = MARK.fetch_add(1, Ordering::SeqCst);
            for fr in &frames {
                let msg = match fr {
                    Frame::Control { text, .. } => Message::Text(text.clone().into()),
                    Frame::Input(s) => Message::Binary(s.clone().into_bytes().into()),
                    Frame::Ping(p) => Message::Ping(p.clone().into()),
                    Frame::Pong(p) => Message::Pong(p.clone().into()),
                };
                ws.send(msg).await.unwrap();
            }
            let marker = format!("FZ{n}.");
            let cmd = format!("\x15printf 'FZ''%s.' {n}\r");
            ws.send(Message::Binary(cmd.into_bytes().into())).await.unwrap();
            let sentinel = format!(r#"{{"type":"fz-end-{n}"}}"#);
            ws.send(Message::Text(sentinel.into())).await.unwrap();

            let h = hello(&mut ws).await;
            prop_assert_eq!(h["offset"].as_u64(), Some(start));
            prop_assert_eq!(&h["snapshot"], false);
            let mut output = Vec::new();
            let mut errors = Vec::new();
            let done = format!("fz-end-{n}");
            let read = async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) => output.extend_from_slice(&b),
                        Some(Ok(Message::Text(t))) => {
                            let v: Value = serde_json::from_str(t.as_str()).unwrap();
                            if v["type"] == "error" {
                                let m = v["message"].as_str().unwrap_or_default().to_owned();
                                if m.contains(&done) { break; }
                                errors.push(m);
                            } else {
                                assert_eq!(v["type"], "resized", "unexpected control {v}");
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        other => panic!("the connection ended: {other:?}"),
                    }
                }
            };
            tokio::time::timeout(WAIT, read).await.expect("the sentinel's error");
            let expected = frames.iter().filter(|f| matches!(f, Frame::Control { valid: false, .. })).count();
            prop_assert_eq!(errors.len(), expected, "errors: {:?}", errors);
            prop_assert!(errors.iter().all(|m| !m.is_empty()));
            // The input among the garbage ran; the output may still be on its way.
            let mut rest = if output.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                Vec::new()
            } else {
                read_until(&mut ws, marker.as_bytes()).await
            };
            output.append(&mut rest);
            let _ = ws.close(None).await;
            // A fresh viewer at the same offset reads the same bytes.
            let mut again = f.connect(Some(start)).await;
            hello(&mut again).await;
            let mut fresh = Vec::new();
            while fresh.len() < output.len() {
                match tokio::time::timeout(WAIT, again.next()).await.expect("the fresh viewer's bytes") {
                    Some(Ok(Message::Binary(b))) => fresh.extend_from_slice(&b),
                    Some(Ok(_)) => {}
                    other => panic!("the fresh viewer ended: {other:?}"),
                }
            }
            prop_assert!(fresh.starts_with(&output), "the stream differs between viewers");
            let _ = again.close(None).await;
            f.still_works().await
        })?;
    }

    #[test]
    fn garbage_frames_close_the_connection_and_keep_the_session(
        frames in prop::collection::vec(raw_frame(), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let f = fixture();
        f.rt.block_on(async {
            // A session of its own, running `cat` (see the module's header).
            let id = f.new_echo_session().await;
            let start = f.alive_at_in(&id).await?;
            let mut s = raw_upgrade_to(f, &id, start).await;
            let mut bytes: Vec<u8> = frames.iter().flat_map(RawFrame::bytes).collect();
            if let Some(i) = cut {
                bytes.truncate(i.index(bytes.len() + 1));
            }
            // The server may close before reading everything; a failed write is fine.
            let _ = s.write_all(&bytes).await;
            let _ = s.shutdown().await;
            let mut got = Vec::new();
            let closed = tokio::time::timeout(WAIT, async {
                let mut buf = [0u8; 65536];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
            })
            .await;
            prop_assert!(closed.is_ok(), "the server kept the connection open");
            let complete = cut.is_none();
            if complete && breaks_protocol(&frames) {
                // The size check may come first when a frame also announces too much.
                let too_big = frames.iter().any(|fr| fr.length_form == 3 && fr.lie > LIMIT as u64);
                let code = close_code(&got);
                prop_assert!(
                    code == Some(1002) || (too_big && code == Some(1009)),
                    "a protocol error closes with 1002, got {:?}", code
                );
            }
            let works = f.still_echoes_in(&id).await;
            f.delete(&id).await;
            works
        })?;
    }
}

#[test]
fn huge_messages_close_with_1009_and_the_session_goes_on() {
    let f = fixture();
    f.rt.block_on(async {
        let start = f.alive_at().await.unwrap();
        let mut watcher = f.connect(Some(start)).await;
        hello(&mut watcher).await;
        for msg in [
            Message::Text("x".repeat(LIMIT + 1).into()),
            Message::Binary(vec![b'a'; LIMIT + 4096].into()),
        ] {
            let mut ws = f.connect(Some(start)).await;
            hello(&mut ws).await;
            let _ = ws.send(msg).await;
            let code = tokio::time::timeout(WAIT, async {
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Close(c))) => break c.map(|c| u16::from(c.code)),
                        Some(Ok(_)) => {}
                        _ => break None,
                    }
                }
            })
            .await
            .expect("the server closes");
            assert_eq!(code, Some(1009), "message too big");
        }
        // A frame header announcing 2^63 bytes: refused before anything is allocated.
        let mut s = raw_upgrade(f, start).await;
        let mut head = vec![0x82, 0xff];
        head.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        head.extend_from_slice(&[1, 2, 3, 4]);
        s.write_all(&head).await.unwrap();
        let mut got = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut got))
            .await
            .expect("the server closes")
            .ok();
        assert_eq!(close_code(&got), Some(1009));
        // The other viewer saw nothing but its stream; the session still works.
        let n = MARK.fetch_add(1, Ordering::SeqCst);
        let cmd = format!("\x15printf 'FZ''%s.' {n}\r");
        watcher
            .send(Message::Binary(cmd.into_bytes().into()))
            .await
            .unwrap();
        read_until(&mut watcher, format!("FZ{n}.").as_bytes()).await;
        f.still_works().await.unwrap();
        assert_eq!(PANICS.load(Ordering::SeqCst), 0);
    });
}
