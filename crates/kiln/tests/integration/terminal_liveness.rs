//! WebSocket liveness (`server/ws.rs`): a viewer that vanished without closing is let go after
//! three ping intervals, whether it stopped answering (no pong) or stopped taking frames (its
//! buffers full); a quiet viewer that answers pings stays, and the session lives on either way.
//! The server here pings every second so the tests take seconds, not minutes.

use crate::support::{PROMPT, TestServer, WAIT, contains, ws_request};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PING: Duration = Duration::from_secs(1);

async fn server() -> TestServer {
    TestServer::with(|o| o.limits.ws_ping_every = PING).await
}

async fn connect(srv: &TestServer, id: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_request(srv.addr, id, Some(0)))
        .await
        .expect("websocket connects");
    ws
}

/// How many viewers the server counts for the session, once it equals `want` (or panics).
async fn wait_viewers(srv: &TestServer, id: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = srv.session(id).await["viewers"].as_u64().unwrap();
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session still has {now} viewers, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads frames (which answers the server's pings) for `how_long`; returns the output seen.
async fn read_for(ws: &mut Ws, how_long: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(how_long, async {
        while let Some(msg) = ws.next().await {
            match msg.expect("the lively viewer stays connected") {
                Message::Binary(b) => out.extend_from_slice(&b),
                Message::Close(c) => panic!("the lively viewer was closed: {c:?}"),
                _ => {}
            }
        }
        panic!("the lively viewer's connection ended");
    })
    .await;
    out
}

/// Runs `cmd` in the session through `ws` and waits for `needle` in the output.
async fn run(ws: &mut Ws, cmd: &str, needle: &str) {
    ws.send(Message::Binary(format!("{cmd}\r").into_bytes().into()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while !contains(&seen, needle) {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => seen.extend_from_slice(&b),
                Some(Ok(_)) => {}
                other => panic!("connection ended before {needle:?}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no {needle:?} in {:?}",
            String::from_utf8_lossy(&seen[seen.len().saturating_sub(500)..])
        )
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_answers_nothing_is_let_go_and_one_that_answers_pings_stays() {
    let srv = server().await;
    let id = srv.create_id().await;
    let mut lively = connect(&srv, &id).await;
    read_for(&mut lively, Duration::from_millis(300)).await;
    // The silent viewer completes the handshake and then reads the socket below the WebSocket
    // layer, so the server's pings get no pong (as from a peer that is gone).
    let silent = connect(&srv, &id).await;
    wait_viewers(&srv, &id, 2).await;
    let mut tcp = match silent.into_inner() {
        MaybeTlsStream::Plain(tcp) => tcp,
        _ => unreachable!("plain ws://"),
    };
    let reader = tokio::spawn(async move {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return raw,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
    });
    // The lively viewer keeps reading (and so answering pings) well past three intervals.
    read_for(&mut lively, PING * 6).await;
    let raw = tokio::time::timeout(WAIT, reader)
        .await
        .expect("the server closed the silent viewer's connection")
        .unwrap();
    // (The hello may have been read with the handshake; the pings come after it.)
    assert!(
        raw.windows(2).any(|w| w == [0x89, 0x00]),
        "the silent viewer was pinged before it was let go"
    );
    wait_viewers(&srv, &id, 1).await;
    run(&mut lively, "echo still''here", "stillhere").await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_stops_taking_frames_is_let_go_even_while_it_keeps_sending() {
    let srv = server().await;
    let id = srv.create_id().await;
    let mut ws = connect(&srv, &id).await;
    run(&mut ws, "", PROMPT).await;
    // A flood the viewer never reads: the socket buffers fill and a frame cannot be sent. The
    // viewer keeps sending (harmless `resume` messages), so only the send bound can notice.
    ws.send(Message::Binary(b"yes kiln-flood-line\r".to_vec().into()))
        .await
        .unwrap();
    // It keeps sending until the server drops the connection (its writes then fail).
    let keep_sending = async {
        loop {
            let resume = Message::Text(json!({"type": "resume"}).to_string().into());
            if ws.send(resume).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(WAIT, keep_sending)
        .await
        .expect("the server dropped the viewer that took no frames");
    wait_viewers(&srv, &id, 0).await;
    // The session lives: a new viewer stops the flood and runs a command.
    let mut fresh = connect(&srv, &id).await;
    fresh.send(Message::Binary(vec![3].into())).await.unwrap();
    run(&mut fresh, "echo after''flood", "afterflood").await;
    assert_eq!(srv.session(&id).await["id"], id.as_str(), "still listed");
    srv.stop().await;
}
