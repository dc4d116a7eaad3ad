//! The WebSocket transport of `docs/protocol.md`: hello, snapshot when needed, output as binary
//! frames read from the ring at this viewer's own offset, control as JSON text frames; input and
//! resize from the client. Input runs in its own task so a large paste never stalls output.
//!
//! Output flow control: a client that said `"flow"` is understood (the hello carries
//! `"flow":true`) may send `{"type":"pause"}` when it has more written to its terminal than it has
//! drawn, and `{"type":"resume"}` once it caught up. A paused viewer is sent no output (its offset
//! stays where it is; the ring keeps the bytes, as for any slow viewer), only control frames.
//!
//! Liveness: the server pings every `ws_ping_every` (20 s). A viewer from which no frame at all
//! (pongs included) arrived for `WS_SILENT_PINGS` intervals, or that leaves one frame unsent for
//! as long, is let go: a peer that vanished without closing (a laptop that slept, a dropped
//! network) would otherwise hold its task, its socket and a connection slot until TCP gives up.
//! It reconnects at its offset and loses nothing.

use super::AppState;
use super::sessions::ExitView;
use crate::http::conn::WS_SILENT_PINGS;
use crate::http::error::AppError;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use kiln_term::{ReadResult, Session};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// Largest output frame (16 KiB). Smaller frames than the 64 KiB this was measured better on
/// every figure of `kiln-bench --only relay` in one sitting (one stream 0.99x / 0.86x of the
/// relay, efficient / slow client, against 0.78x / 0.63x; CPU per MB of 20 streams 1.18x against
/// 1.28x): a reader that drains its socket in small pieces gets bytes as its window opens, and
/// a browser draws in smaller steps (docs/performance.md).
pub const FRAME_BYTES: usize = 16 << 10;
/// Largest client message: a 10 MB paste arrives as one message (16 MiB).
const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Read buffer of a viewer's connection (16 KiB, not the library's 128 KiB: what a viewer sends
/// is mostly keystrokes, and every open viewer holds its buffer; a paste is read in more pieces).
const READ_BUFFER_BYTES: usize = 16 << 10;
/// Close codes.
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_GOING_AWAY: u16 = 1001;
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_INVALID_DATA: u16 = 1007;
const CLOSE_TOO_BIG: u16 = 1009;
const CLOSE_BAD_REQUEST: u16 = 4400;

#[derive(Deserialize)]
pub struct WsQuery {
    offset: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    Resize {
        cols: u16,
        rows: u16,
    },
    /// Stop sending output to this viewer until `resume` (its terminal is behind).
    Pause,
    Resume,
}

type Tx = SplitSink<WebSocket, Message>;

/// Parses an optional offset parameter.
pub fn parse_offset(raw: Option<&str>) -> Result<Option<u64>, AppError> {
    match raw {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            AppError::bad_request(format!("offset must be a whole number, got {s:?}"))
        }),
    }
}

pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WsQuery>,
) -> Result<Response, AppError> {
    let offset = parse_offset(q.offset.as_deref())?;
    let session = st
        .manager
        .get(&id)
        .ok_or_else(|| AppError::not_found("session"))?;
    let shutdown = st.shutdown.clone();
    let ping_every = st.ws_ping_every;
    // The browser offers `kiln` and `kiln.key.<key>`; kiln picks `kiln`, never echoing the key.
    Ok(ws
        .protocols([super::access::WS_PROTOCOL])
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| run(socket, session, offset, shutdown, ping_every)))
}

async fn run(
    socket: WebSocket,
    session: Arc<Session>,
    offset: Option<u64>,
    shutdown: CancellationToken,
    ping_every: Duration,
) {
    let _viewer = session.attach();
    let (tx, rx) = socket.split();
    let (ctl_tx, ctl_rx) = mpsc::channel::<Message>(8);
    let (paused_tx, paused_rx) = watch::channel(false);
    let heard = Arc::new(Heard::new());
    let input = tokio::spawn(input_loop(
        rx,
        session.clone(),
        ctl_tx,
        paused_tx,
        heard.clone(),
    ));
    let viewer = Viewer {
        ctl: ctl_rx,
        paused: paused_rx,
        heard,
        ping_every,
    };
    let mut out = Out {
        tx,
        limit: ping_every * WS_SILENT_PINGS,
    };
    if let Err(e) = output_loop(&mut out, &session, offset, &shutdown, viewer).await {
        tracing::debug!(session = %session.id(), error = %e, "viewer connection ended");
    }
    input.abort();
    // Bounded too: a close frame to a peer that stopped reading would wait forever.
    let _ = tokio::time::timeout(out.limit, out.tx.close()).await;
}

/// When the last frame from the viewer arrived (any frame: pongs prove it is there).
struct Heard {
    since: Instant,
    last_ms: AtomicU64,
}

impl Heard {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn now(&self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.since.elapsed().saturating_sub(last)
    }
}

/// The sending half, every frame bounded in time: a frame that cannot be handed to the socket
/// within `limit` (the peer stopped reading and the buffers are full) ends the connection.
struct Out {
    tx: Tx,
    limit: Duration,
}

impl Out {
    async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
        match tokio::time::timeout(self.limit, self.tx.send(msg)).await {
            Ok(sent) => sent,
            Err(_) => Err(axum::Error::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("the viewer took no frame for {:?}", self.limit),
            ))),
        }
    }
}

fn text(v: serde_json::Value) -> Message {
    Message::Text(v.to_string().into())
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Sends a snapshot (after `header`, which announces it) and returns the offset live bytes
/// continue from.
async fn send_snapshot(tx: &mut Out, session: &Session, hello: bool) -> Result<u64, axum::Error> {
    let snap = session.snapshot();
    let header = if hello {
        json!({"type": "hello", "protocol": 1, "session": session.id(), "offset": snap.offset,
               "snapshot": true, "snapshot_len": snap.bytes.len(), "cols": snap.cols, "rows": snap.rows,
               "flow": true})
    } else {
        json!({"type": "snapshot", "offset": snap.offset, "snapshot_len": snap.bytes.len()})
    };
    tx.send(text(header)).await?;
    for chunk in snap.bytes.chunks(FRAME_BYTES) {
        tx.send(Message::Binary(Bytes::copy_from_slice(chunk)))
            .await?;
    }
    Ok(snap.offset)
}

/// What the input task tells the output loop: control frames to send, pause/resume, and when
/// the viewer was last heard from.
struct Viewer {
    ctl: mpsc::Receiver<Message>,
    paused: watch::Receiver<bool>,
    heard: Arc<Heard>,
    ping_every: Duration,
}

async fn output_loop(
    tx: &mut Out,
    session: &Session,
    offset: Option<u64>,
    shutdown: &CancellationToken,
    viewer: Viewer,
) -> Result<(), axum::Error> {
    let Viewer {
        ctl: mut ctl_rx,
        mut paused,
        heard,
        ping_every,
    } = viewer;
    let (mut cols, mut rows) = session.size();
    let mut off = match offset.map(|o| (o, session.read(o, 1))) {
        Some((o, ReadResult::Data { .. } | ReadResult::Pending)) => {
            let hello = json!({"type": "hello", "protocol": 1, "session": session.id(), "offset": o,
                               "snapshot": false, "snapshot_len": 0, "cols": cols, "rows": rows,
                               "flow": true});
            tx.send(text(hello)).await?;
            o
        }
        Some((o, ReadResult::Invalid { end })) => {
            let msg = format!("offset {o} is beyond the end of the stream ({end})");
            tx.send(text(json!({"type": "error", "message": msg})))
                .await?;
            return tx.send(close(CLOSE_BAD_REQUEST, "bad offset")).await;
        }
        _ => send_snapshot(tx, session, true).await?,
    };
    // While this viewer keeps up, the session's reader never runs a ring ahead of it: nothing
    // it has not sent is overwritten (a stalled viewer is let go after kiln_term::HOLD_MAX).
    let hold = session.hold(off);
    let mut exit_sent = false;
    let mut ping = tokio::time::interval(ping_every);
    ping.tick().await;
    loop {
        // A pause that arrives during a burst stops it at the next frame.
        while !*paused.borrow_and_update() {
            match session.read(off, FRAME_BYTES) {
                ReadResult::Data { bytes, .. } => {
                    off += bytes.len() as u64;
                    tx.send(Message::Binary(bytes)).await?;
                    hold.moved(off);
                }
                ReadResult::Evicted { .. } => {
                    off = send_snapshot(tx, session, false).await?;
                    hold.moved(off);
                }
                ReadResult::Pending => break,
                ReadResult::Invalid { .. } => {
                    return tx.send(close(CLOSE_BAD_REQUEST, "offset lost")).await;
                }
            }
        }
        let is_paused = *paused.borrow();
        // A server shutdown also closes every session: say which it is.
        if shutdown.is_cancelled() {
            tx.send(text(json!({"type": "shutdown"}))).await?;
            return tx
                .send(close(CLOSE_GOING_AWAY, "server shutting down"))
                .await;
        }
        if session.is_closed() {
            tx.send(text(json!({"type": "closed"}))).await?;
            return tx.send(close(CLOSE_NORMAL, "session closed")).await;
        }
        if !exit_sent
            && let Some(e) = session.exit_status()
            && off >= session.end_offset()
        {
            let e = ExitView::from(e);
            tx.send(text(
                json!({"type": "exit", "code": e.code, "signal": e.signal}),
            ))
            .await?;
            exit_sent = true;
        }
        let size = session.size();
        if size != (cols, rows) {
            (cols, rows) = size;
            tx.send(text(json!({"type": "resized", "cols": cols, "rows": rows})))
                .await?;
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => continue,
            _ = session.changed(off), if !exit_sent && !is_paused => {}
            // Before `paused`: the input task queues the close frame for a frame it refused and
            // then ends, which also ends `paused`; the close frame goes out first.
            msg = ctl_rx.recv() => match msg {
                Some(m @ Message::Close(_)) => return tx.send(m).await,
                Some(m) => tx.send(m).await?,
                None => return Ok(()), // the client went away
            },
            r = paused.changed() => if r.is_err() { return Ok(()) }, // the client went away
            _ = session.closed(), if exit_sent => {}
            _ = ping.tick() => {
                let silent = heard.silent_for();
                if silent >= ping_every * WS_SILENT_PINGS {
                    tracing::debug!(session = %session.id(), silent_ms = silent.as_millis() as u64,
                                    "viewer sent nothing, not even a pong: letting it go");
                    return Ok(());
                }
                tx.send(Message::Ping(Bytes::new())).await?
            }
        }
    }
}

/// The close frame for a connection the WebSocket layer refused to read on (a protocol error,
/// a message over the size limit, text that is not UTF-8); `None` when the connection is
/// simply gone.
fn close_for(e: axum::Error) -> Option<Message> {
    use tokio_tungstenite::tungstenite::Error;
    let e = e.into_inner().downcast::<Error>().ok()?;
    let (code, reason) = match *e {
        Error::Capacity(_) => (CLOSE_TOO_BIG, "message too big (the limit is 16 MiB)"),
        Error::Protocol(_) => (CLOSE_PROTOCOL_ERROR, "WebSocket protocol error"),
        Error::Utf8(_) => (CLOSE_INVALID_DATA, "text frame is not UTF-8"),
        _ => return None,
    };
    Some(close(code, reason))
}

async fn input_loop(
    mut rx: SplitStream<WebSocket>,
    session: Arc<Session>,
    ctl: mpsc::Sender<Message>,
    paused: watch::Sender<bool>,
    heard: Arc<Heard>,
) {
    while let Some(next) = rx.next().await {
        let msg = match next {
            Ok(msg) => {
                heard.now();
                msg
            }
            Err(e) => {
                tracing::debug!(session = %session.id(), error = %e, "bad frame from a viewer");
                if let Some(close) = close_for(e) {
                    let _ = ctl.send(close).await;
                }
                break;
            }
        };
        let problem = match msg {
            Message::Binary(data) => session.write(data).await.err().map(|e| e.to_string()),
            Message::Text(t) => match serde_json::from_str::<ClientMessage>(t.as_str()) {
                Ok(ClientMessage::Resize { cols, rows }) => {
                    session.resize(cols, rows).err().map(|e| e.to_string())
                }
                Ok(ClientMessage::Pause) => {
                    paused.send_replace(true);
                    None
                }
                Ok(ClientMessage::Resume) => {
                    paused.send_replace(false);
                    None
                }
                Err(e) => Some(format!("unknown message: {e}")),
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => None,
        };
        if let Some(message) = problem {
            let _ = ctl
                .send(text(json!({"type": "error", "message": message})))
                .await;
        }
    }
}
