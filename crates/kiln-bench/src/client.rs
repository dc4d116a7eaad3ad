//! The TCP connection under the bench's WebSocket client, in two kinds: an efficient reader
//! (large reads, the kernel's default receive buffer) and a deliberately slow one, which reads
//! at most [`SLOW_READ_BYTES`] per system call from a small receive buffer, as a browser on a
//! slow laptop drains its socket in small pieces.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

/// Bytes a slow client reads per system call (4 KiB).
pub const SLOW_READ_BYTES: usize = 4 << 10;
/// Receive buffer a slow client asks the kernel for (32 KiB).
const SLOW_RECV_BUFFER: u32 = 32 << 10;

/// How a client reads its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Reader {
    Efficient,
    Slow,
}

/// A TCP stream whose reads may be capped.
pub struct Conn {
    tcp: TcpStream,
    read_limit: usize,
}

impl Conn {
    /// Connects to `addr` with `TCP_NODELAY`, reading as `reader` says.
    pub async fn connect(addr: SocketAddr, reader: Reader) -> io::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        let read_limit = match reader {
            Reader::Efficient => usize::MAX,
            Reader::Slow => {
                socket.set_recv_buffer_size(SLOW_RECV_BUFFER)?;
                SLOW_READ_BYTES
            }
        };
        let tcp = socket.connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Conn { tcp, read_limit })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let limit = self.read_limit;
        if buf.remaining() <= limit {
            return Pin::new(&mut self.tcp).poll_read(cx, buf);
        }
        // Zeroes at most `limit` bytes once per read: the cost of being a slow reader.
        let mut small = ReadBuf::new(buf.initialize_unfilled_to(limit));
        let r = Pin::new(&mut self.tcp).poll_read(cx, &mut small);
        let n = small.filled().len();
        buf.advance(n);
        r
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
