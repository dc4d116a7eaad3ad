//! The reference kiln is measured against (`kiln-bench relay`, a hidden subcommand run as a
//! process of its own): a minimal PTY -> WebSocket relay on kiln's stack (tokio, axum's
//! WebSocket, i.e. tungstenite, hyper, `TCP_NODELAY`) with no ring, no terminal state, no
//! snapshot. It answers the few routes of kiln's API the bench uses, so the same client code
//! drives both: `POST /api/sessions` starts a shell on a PTY (as kiln does, see `raw.rs`),
//! `/api/sessions/{id}/ws` sends a `hello` then relays each PTY read as one binary frame and
//! writes binary frames to the PTY, `DELETE /api/sessions/{id}` ends the shell. The access key is
//! not checked (loopback, a throwaway process).

use crate::raw::{self, READ_BYTES};
use anyhow::Context;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;

/// Flags of `kiln-bench relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// Shell to start per session (`<shell> -l`).
    #[arg(long, default_value = "/bin/bash")]
    pub shell: PathBuf,
    /// HOME of the shells (a directory the caller owns and removes).
    #[arg(long)]
    pub home: PathBuf,
}

/// A shell on a PTY, and whether a viewer holds it.
struct Pty {
    master: Arc<AsyncFd<OwnedFd>>,
    child: std::process::Child,
}

impl Drop for Pty {
    fn drop(&mut self) {
        raw::kill_shell(&mut self.child);
    }
}

struct Relay {
    shell: PathBuf,
    home: PathBuf,
    next: AtomicU64,
    ptys: Mutex<HashMap<String, Pty>>,
}

type Shared = Arc<Relay>;

impl Relay {
    fn master(&self, id: &str) -> Option<Arc<AsyncFd<OwnedFd>>> {
        let ptys = self.ptys.lock().unwrap_or_else(|p| p.into_inner());
        ptys.get(id).map(|p| p.master.clone())
    }
}

/// Runs the relay until killed; prints `relay: http://<addr>/` on stdout once listening.
pub fn main(args: RelayArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln-bench relay: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln-bench relay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: RelayArgs) -> anyhow::Result<()> {
    let relay = Arc::new(Relay {
        shell: args.shell,
        home: args.home,
        next: AtomicU64::new(1),
        ptys: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/api/sessions", post(create))
        .route("/api/sessions/{id}", get(info).delete(delete))
        .route("/api/sessions/{id}/ws", get(upgrade))
        .with_state(relay);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on loopback")?;
    let addr = listener.local_addr()?;
    println!("relay: http://{addr}/");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}

async fn create(State(relay): State<Shared>) -> Response {
    match raw::spawn_shell(&relay.shell, &relay.home, 80, 24)
        .and_then(|(m, child)| Ok((raw::into_async(m)?, child)))
    {
        Ok((master, child)) => {
            let id = format!("r{}", relay.next.fetch_add(1, Ordering::Relaxed));
            let pty = Pty {
                master: Arc::new(master),
                child,
            };
            relay
                .ptys
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), pty);
            (
                StatusCode::CREATED,
                axum::Json(serde_json::json!({ "id": id })),
            )
                .into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
    }
}

/// The relay keeps no offsets; it reports 0 so callers that ask get an answer.
async fn info(State(relay): State<Shared>, Path(id): Path<String>) -> Response {
    match relay.master(&id) {
        Some(_) => axum::Json(serde_json::json!({ "id": id, "offset": 0 })).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete(State(relay): State<Shared>, Path(id): Path<String>) -> StatusCode {
    let pty = relay
        .ptys
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    match pty {
        // Dropping kills the process group; the viewer's reads then end.
        Some(pty) => {
            tokio::task::spawn_blocking(move || drop(pty));
            StatusCode::NO_CONTENT
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(relay): State<Shared>,
    Path(id): Path<String>,
) -> Response {
    match relay.master(&id) {
        Some(master) => ws.on_upgrade(move |socket| run(socket, master)),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Relays one viewer: PTY reads out as binary frames, binary frames in as PTY writes.
async fn run(socket: WebSocket, master: Arc<AsyncFd<OwnedFd>>) {
    let (mut tx, mut rx) = socket.split();
    let hello = serde_json::json!({"type": "hello", "protocol": 1, "offset": 0,
                                   "snapshot": false, "snapshot_len": 0, "cols": 80, "rows": 24});
    if tx
        .send(Message::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let input_master = master.clone();
    // Dropped when the input task ends (the client went away), which ends the output loop too.
    let (gone_tx, mut gone_rx) = tokio::sync::oneshot::channel::<()>();
    let input = tokio::spawn(async move {
        let _gone = gone_tx;
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                Message::Binary(data) if raw::write_all(&input_master, &data).await.is_err() => {
                    return;
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        tokio::select! {
            r = raw::read_some(&master, &mut buf) => match r {
                Ok(n) if n > 0 => {
                    if tx.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        break;
                    }
                }
                _ => {
                    let exit = serde_json::json!({"type": "exit", "code": null, "signal": null});
                    let _ = tx.send(Message::Text(exit.to_string().into())).await;
                    break;
                }
            },
            _ = &mut gone_rx => break,
        }
    }
    input.abort();
    let _ = tx.close().await;
}
