//! The listener the emulator serves on: plain TCP, but each connection can be reset on
//! demand (SO_LINGER 0, then closed) by the fault layer, so clients see a real
//! "connection reset by peer" rather than an HTTP answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

type Slot = Arc<Mutex<Option<TcpStream>>>;

/// Handle that can reset one connection.
#[derive(Clone, Debug, Default)]
pub struct ConnHandle(Slot);

impl ConnHandle {
    /// Resets the connection now: the peer sees RST, further I/O fails.
    pub fn reset(&self) {
        let stream = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = stream {
            let _ = s.set_zero_linger();
            drop(s);
        }
    }
}

/// Per-connection info available to handlers as `ConnectInfo<ConnInfo>`.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// Peer address.
    pub peer: SocketAddr,
    /// Reset handle.
    pub handle: ConnHandle,
}

/// A TCP stream that a [`ConnHandle`] can take away.
pub struct KillableStream(Slot);

fn with_stream<T>(
    slot: &Slot,
    f: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
    match g.as_mut() {
        Some(s) => f(Pin::new(s)),
        None => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        with_stream(&self.0, |s| s.poll_read(cx, buf))
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        with_stream(&self.0, |s| s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_stream(&self.0, |s| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_stream(&self.0, |s| s.poll_shutdown(cx))
    }
}

/// A TCP listener whose connections are [`KillableStream`]s.
pub struct KillableListener(pub TcpListener);

impl Listener for KillableListener {
    type Io = KillableStream;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let slot: Slot = Arc::new(Mutex::new(Some(stream)));
                    return (
                        KillableStream(slot.clone()),
                        ConnInfo {
                            peer,
                            handle: ConnHandle(slot),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo {
            peer: self.0.local_addr()?,
            handle: ConnHandle::default(),
        })
    }
}

impl Connected<IncomingStream<'_, KillableListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}
