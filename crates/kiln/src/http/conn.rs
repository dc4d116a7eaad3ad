//! Serving connections with bounds (`axum::serve` has none): kiln's own accept loop over
//! hyper's HTTP/1.1 server.
//!
//! - **Request head**: a connection must deliver a complete request head within
//!   [`Limits::header_timeout`] of being ready for one, which is both a new connection and a
//!   kept-alive one after its last answer (hyper's header-read timer): half-sent heads and idle
//!   keep-alive connections are closed.
//! - **Request body**: every body must keep arriving (no gap longer than
//!   [`Limits::body_idle_timeout`]) and be complete within [`Limits::body_timeout`]; otherwise
//!   the handler sees an error (a `4xx`) and the connection is closed.
//! - **Connections**: at most [`Limits::max_connections`] at once, upgraded WebSockets included
//!   (the slot is held by the socket itself); one more is answered `503` at once and closed.
//! - WebSockets and long-polls are not affected: after an upgrade hyper's timers are gone and
//!   the WebSocket keeps its own (a ping every [`Limits::ws_ping_every`]; a viewer that sends
//!   nothing, pongs included, for three intervals, or does not take a frame for as long, is let
//!   go), and a long-poll is a request being answered, not an idle one.
//! - **Shutdown**: idle connections close, requests in flight get [`CLOSE_GRACE`] to finish.

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long requests in flight may take to finish once the server stops (3 s).
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The bounds of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to deliver a request head, on a new or a kept-alive connection (20 s).
    pub header_timeout: Duration,
    /// Longest gap between two parts of a request body (30 s).
    pub body_idle_timeout: Duration,
    /// Longest time to send a whole request body (10 min: a 32 MiB upload at 0.5 Mbit/s).
    pub body_timeout: Duration,
    /// Most connections at once (256).
    pub max_connections: usize,
    /// Interval of a terminal WebSocket's keep-alive pings (20 s). A viewer is let go after
    /// [`WS_SILENT_PINGS`] intervals without a frame from it, or when one frame to it cannot be
    /// sent for as long (a peer that vanished without closing).
    pub ws_ping_every: Duration,
}

/// How many ping intervals a WebSocket viewer may stay silent, or leave a frame unsent (3).
pub const WS_SILENT_PINGS: u32 = 3;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(20),
            body_idle_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(600),
            max_connections: 256,
            ws_ping_every: Duration::from_secs(20),
        }
    }
}

/// A TCP stream that holds a connection slot for as long as it lives (an upgraded WebSocket
/// keeps the stream, so it keeps the slot).
struct Slotted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Slotted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// The answer to a connection over the cap.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
Retry-After: 5\r\nConnection: close\r\nContent-Length: 83\r\n\r\n\
{\"error\":\"unavailable\",\"message\":\"kiln has too many open connections; try again.\"}\n";

/// Serves `app` on `listener` until `shutdown`, within `limits` (the body bounds are added to
/// `app` here); returns once every connection
/// has closed (at most [`CLOSE_GRACE`] after `shutdown`, upgraded WebSockets aside: they end
/// with the sessions' own shutdown).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let tracker = TaskTracker::new();
    let app = app.layer(axum::middleware::from_fn_with_state(limits, bound_body));
    let service = TowerToHyperService::new(app);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Terminal frames are small and latency-bound: no Nagle delay on any connection.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: at the connection cap");
            tracker.spawn(refuse(tcp));
            continue;
        };
        let io = TokioIo::new(Slotted { tcp, _slot: slot });
        let service = service.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(io, service).with_upgrades();
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    if tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await.is_err() {
                        tracing::debug!(%peer, "connection closed at shutdown with a request in flight");
                    }
                }
            }
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Answers `503` and closes, without reading the request (bounded: 2 s at most).
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        tcp.write_all(OVER_CAPACITY).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Middleware: bounds the request body in time ([`Limits::body_idle_timeout`] between parts,
/// [`Limits::body_timeout`] in all). Requests without a body pass untouched.
pub async fn bound_body(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    if HttpBody::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let req = req.map(|body| timed(body, limits));
    next.run(req).await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn timed(body: Body, limits: Limits) -> Body {
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let idle = limits.body_idle_timeout;
    let stream = futures_util::stream::unfold(
        (body.into_data_stream(), false),
        move |(mut inner, done)| async move {
            if done {
                return None;
            }
            let until = std::cmp::min(tokio::time::Instant::now() + idle, deadline);
            match tokio::time::timeout_at(until, inner.next()).await {
                Ok(Some(Ok(bytes))) => Some((Ok(bytes), (inner, false))),
                Ok(Some(Err(e))) => Some((Err(BoxError::from(e)), (inner, true))),
                Ok(None) => None,
                Err(_) => {
                    tracing::info!("request body not sent in time; cut");
                    let e = io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request body was not sent in time",
                    );
                    Some((Err(BoxError::from(e)), (inner, true)))
                }
            }
        },
    );
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_capacity_answer_is_well_formed() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "unavailable");
    }
}
