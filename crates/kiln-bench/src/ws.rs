//! A kiln session seen through the WebSocket protocol of `docs/protocol.md`: connect with the
//! access key as a bearer token, read the `hello`, skip snapshot bytes, and turn binary frames
//! into output and control frames into [`Chunk::Gap`] / [`Chunk::End`].

use crate::client::{Conn, Reader};
use crate::kiln::Api;
use crate::term::{Chunk, Term};
use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Ws = WebSocketStream<Conn>;

/// One viewer of a kiln session.
pub struct KilnTerm {
    ws: Ws,
    /// Snapshot bytes still to come before live output.
    snapshot_left: usize,
    /// Size of the snapshot announced by `hello` (0 when none).
    pub snapshot_len: usize,
    /// Stream offset of the first live byte, from `hello`.
    pub offset: u64,
    /// Live bytes that arrived in the same frame as the end of a snapshot.
    pending: Option<Bytes>,
}

impl KilnTerm {
    /// Connects to session `id` from `offset` (`None`: ask for a snapshot) and reads the hello.
    pub async fn connect(api: &Api, id: &str, offset: Option<u64>) -> anyhow::Result<Self> {
        Self::connect_with(api, id, offset, Reader::Efficient).await
    }

    /// [`KilnTerm::connect`] with a chosen kind of reader (see `client.rs`).
    pub async fn connect_with(
        api: &Api,
        id: &str,
        offset: Option<u64>,
        reader: Reader,
    ) -> anyhow::Result<Self> {
        let query = offset.map(|o| format!("?offset={o}")).unwrap_or_default();
        let mut req =
            format!("ws://{}/api/sessions/{id}/ws{query}", api.addr).into_client_request()?;
        req.headers_mut()
            .insert("authorization", HeaderValue::from_str(&api.bearer())?);
        let conn = Conn::connect(api.addr, reader).await?;
        let (mut ws, _) = tokio_tungstenite::client_async_with_config(req, conn, None)
            .await
            .with_context(|| format!("WebSocket to session {id}"))?;
        let hello = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(t.as_str())?,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => bail!("expected hello, got {other:?}"),
                Some(Err(e)) => return Err(e.into()),
                None => bail!("the connection closed before hello"),
            }
        };
        if hello["type"] != "hello" {
            bail!("expected hello, got {hello}");
        }
        let snapshot_len = if hello["snapshot"] == true {
            hello["snapshot_len"]
                .as_u64()
                .ok_or_else(|| anyhow!("hello without snapshot_len: {hello}"))? as usize
        } else {
            0
        };
        let offset = hello["offset"]
            .as_u64()
            .ok_or_else(|| anyhow!("hello without offset: {hello}"))?;
        Ok(KilnTerm {
            ws,
            snapshot_left: snapshot_len,
            snapshot_len,
            offset,
            pending: None,
        })
    }

    /// Reads until the announced snapshot has arrived; live bytes that follow it in the same
    /// frame are returned.
    pub async fn read_snapshot(&mut self) -> anyhow::Result<Bytes> {
        while self.snapshot_left > 0 {
            match self.recv().await? {
                Chunk::Snapshot(_) | Chunk::Gap => {}
                Chunk::Data(d) => bail!("{} live bytes before the snapshot ended", d.len()),
                Chunk::End => bail!("the session ended during its snapshot"),
            }
        }
        Ok(self.pending.take().unwrap_or_default())
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

impl Term for KilnTerm {
    async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.ws
            .send(Message::Binary(Bytes::copy_from_slice(data)))
            .await?;
        Ok(())
    }

    async fn recv(&mut self) -> anyhow::Result<Chunk> {
        if let Some(d) = self.pending.take() {
            return Ok(Chunk::Data(d));
        }
        loop {
            let msg = match self.ws.next().await {
                None => return Ok(Chunk::End),
                Some(m) => m?,
            };
            match msg {
                Message::Binary(b) if self.snapshot_left > 0 => {
                    let n = self.snapshot_left.min(b.len());
                    self.snapshot_left -= n;
                    if n < b.len() {
                        self.pending = Some(b.slice(n..));
                    }
                    return Ok(Chunk::Snapshot(b.slice(..n)));
                }
                Message::Binary(b) => return Ok(Chunk::Data(b)),
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str())?;
                    match v["type"].as_str() {
                        Some("snapshot") => {
                            self.snapshot_left = v["snapshot_len"].as_u64().unwrap_or(0) as usize;
                            return Ok(Chunk::Gap);
                        }
                        Some("exit" | "closed" | "shutdown") => return Ok(Chunk::End),
                        Some("error") => bail!("kiln reported an error: {}", v["message"]),
                        _ => {}
                    }
                }
                Message::Close(_) => return Ok(Chunk::End),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }
}
