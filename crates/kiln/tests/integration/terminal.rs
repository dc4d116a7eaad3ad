//! The terminal protocol end to end: a real server, real shells, a real WebSocket client.

use crate::support::{Event, TermClient, TestServer, WAIT, contains, nz};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_the_first_prompt_printed_before_any_viewer() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    // Wait, without any viewer, until the shell printed its prompt.
    tokio::time::timeout(WAIT, async {
        while srv.session(&id).await["offset"].as_u64().unwrap()
            < crate::support::PROMPT.len() as u64
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let mut c = srv.ws(&id, Some(0)).await;
    assert_eq!(c.hello["snapshot"], false);
    c.read_until(crate::support::PROMPT).await;
    c.send(b"echo hel''lo-$((6*7))\r").await;
    c.read_until("hello-42").await;
    // A viewer with no offset gets a snapshot showing the prompt.
    let fresh = srv.ws(&id, None).await;
    assert_eq!(fresh.hello["snapshot"], true);
    assert!(contains(fresh.snapshot.as_ref().unwrap(), "hello-42"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_an_offset_repeats_and_loses_nothing() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut a = srv.ws(&id, Some(0)).await;
    a.read_until(crate::support::PROMPT).await;
    a.send(b"for i in $(seq 1 3000); do echo n$i; done; echo EN''D\r")
        .await;
    let seen = a.read_until("n1500\r\n").await;
    // Resume from an arbitrary byte inside what was received (a frame may hold everything).
    let at = seen.windows(7).position(|w| w == b"n1500\r\n").unwrap() + 7;
    let first = seen[..at].to_vec();
    let cut = at as u64;
    a.close().await;
    let mut b = srv.ws(&id, Some(cut)).await;
    assert_eq!(b.hello["offset"], cut);
    b.read_until("END").await;
    let mut whole = first;
    whole.extend_from_slice(&b.stream);
    let mut reference = srv.ws(&id, Some(0)).await;
    reference.read_until("END").await;
    assert_eq!(
        &whole[..],
        &reference.stream[..whole.len()],
        "resumed stream equals the original"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_websocket_http_websocket_mid_stream() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut ws = srv.ws(&id, Some(0)).await;
    ws.read_until(crate::support::PROMPT).await;
    ws.send(b"for i in $(seq 1 20000); do echo line-$i; done; echo EN''D\r")
        .await;
    while ws.stream.len() < 30_000 {
        ws.next().await;
    }
    let mut got = ws.stream.clone();
    let mut off = ws.offset;
    ws.close().await;
    for _ in 0..3 {
        let (status, h, body) = srv.poll(&id, Some(off), 2).await;
        // 204: nothing new within the wait (the loop may already have finished).
        assert!(
            status == 200 || (status == 204 && body.is_empty()),
            "{status}"
        );
        assert_eq!(h["x-kiln-offset"].to_str().unwrap(), off.to_string());
        got.extend_from_slice(&body);
        off += body.len() as u64;
        assert_eq!(h["x-kiln-next-offset"].to_str().unwrap(), off.to_string());
    }
    let mut ws = srv.ws(&id, Some(off)).await;
    // The polls may already have fetched the end of the loop's output.
    while !contains(&got[got.len().saturating_sub(64 << 10)..], "END\r\n") {
        let before = ws.stream.len();
        if let Event::Closed = ws.next().await {
            panic!("closed before END");
        }
        got.extend_from_slice(&ws.stream[before..]);
    }
    let mut reference = srv.ws(&id, Some(0)).await;
    reference.read_until("END\r\n").await;
    let n = got.len().min(reference.stream.len());
    assert!(n > 200_000);
    assert_eq!(
        &got[..n],
        &reference.stream[..n],
        "no byte lost or repeated across transports"
    );
    let text = String::from_utf8_lossy(&got);
    for i in [1, 5000, 19999, 20000] {
        assert_eq!(
            text.matches(&format!("line-{i}\r\n")).count(),
            1,
            "line {i} exactly once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_an_alternate_screen_program_matches_the_raw_stream() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut raw = srv.ws(&id, Some(0)).await;
    raw.read_until(crate::support::PROMPT).await;
    let script = "printf '\\033]2;editor\\007\\033[?1049h\\033[?2004h\\033[?1h\\033=\\033[?1002h\\033[?1006h\\033[H\\033[1;33mTOP\\033[0m'; \
                  for r in $(seq 2 20); do printf \"\\033[${r};3H\\033[4${r: -1}m row $r 😀𝄞 \\033[0m\"; done; printf '\\033[12;30HEN''D'; read x\r";
    raw.send(script.as_bytes()).await;
    raw.read_until("END").await;
    let snap_client = srv.ws(&id, None).await;
    assert_eq!(snap_client.hello["snapshot"], true);
    let mut a = vt100::Parser::new(nz(24), nz(80), 0);
    a.process(&raw.stream);
    let mut b = vt100::Parser::new(nz(24), nz(80), 0);
    b.process(snap_client.snapshot.as_ref().unwrap());
    // Bytes after the snapshot offset (normally none here) are live bytes.
    let start = snap_client.offset as usize;
    b.process(&raw.stream[start.min(raw.stream.len())..]);
    let (x, y) = (a.screen(), b.screen());
    for r in 0..24 {
        for col in 0..80 {
            let (p, q) = (x.cell(r, col).unwrap(), y.cell(r, col).unwrap());
            assert_eq!(p.contents(), q.contents(), "cell {r},{col}");
            assert_eq!(
                (p.fgcolor(), p.bgcolor(), p.bold()),
                (q.fgcolor(), q.bgcolor(), q.bold()),
                "attrs {r},{col}"
            );
        }
    }
    assert!(y.alternate_screen());
    assert_eq!(x.cursor_position(), y.cursor_position());
    assert_eq!(
        (
            x.bracketed_paste(),
            x.application_cursor(),
            x.application_keypad()
        ),
        (true, true, true)
    );
    assert_eq!(
        (
            y.bracketed_paste(),
            y.application_cursor(),
            y.application_keypad()
        ),
        (true, true, true)
    );
    assert_eq!(x.mouse_protocol_mode(), y.mouse_protocol_mode());
    assert_eq!(x.mouse_protocol_encoding(), y.mouse_protocol_encoding());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_byte_characters_split_across_reads_arrive_intact() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until(crate::support::PROMPT).await;
    c.send(b"python3 -c 'import os; d=(\"\\U0001F600\\U0001D11E\"*3000).encode(); [os.write(1, d[i:i+7]) for i in range(0, len(d), 7)]; os.write(1, b\"<E\"+b\"ND>\")'\r").await;
    let stream = c.read_until("<END>").await;
    let expected = "😀𝄞".repeat(3000);
    assert!(
        contains(&stream, &expected),
        "every character intact, in order"
    );
    let snap = srv.ws(&id, None).await;
    assert!(!String::from_utf8_lossy(snap.snapshot.as_ref().unwrap()).contains('\u{fffd}'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_with_a_checksum() {
    let srv = TestServer::with(|o| o.term.ring_bytes = 64 << 20).await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until(crate::support::PROMPT).await;
    c.send(b"printf 'BEGIN\\n'; head -c 37500000 /dev/urandom | base64 -w0 | tee ~/out.b64; printf '\\nEND\\n'\r").await;
    let stream = c.read_until("\r\nEND\r\n").await;
    let begin = stream.windows(7).position(|w| w == b"BEGIN\r\n").unwrap() + 7;
    let end = stream
        .windows(7)
        .rposition(|w| w == b"\r\nEND\r\n")
        .unwrap();
    let received = &stream[begin..end];
    let file = std::fs::read(srv.home.path().join("out.b64")).unwrap();
    assert_eq!(received.len(), 50_000_000);
    assert_eq!(
        Sha256::digest(received),
        Sha256::digest(&file),
        "checksum of what the client got equals the file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_viewers_while_health_answers() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut viewers = Vec::new();
    for chunk in 0..4 {
        let batch = futures_util::future::join_all(
            (0..50).map(|_| TermClient::connect(srv.addr, &id, None)),
        )
        .await;
        viewers.extend(batch);
        let h = srv.http.get(srv.url("/health")).send().await.unwrap();
        assert_eq!(
            h.status(),
            200,
            "health answers with {} viewers",
            (chunk + 1) * 50
        );
    }
    assert_eq!(viewers.len(), 200);
    assert_eq!(srv.session(&id).await["viewers"], 200);
    viewers[0].send(b"echo many-''viewers\r").await;
    let results =
        futures_util::future::join_all(viewers.iter_mut().map(|v| v.read_until("many-viewers")))
            .await;
    assert_eq!(results.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_status_reaches_websocket_and_http_viewers() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until(crate::support::PROMPT).await;
    c.send(b"exit 3\r").await;
    let exit = c.control("exit").await;
    assert_eq!(exit["code"], 3);
    assert_eq!(exit["signal"], serde_json::Value::Null);
    let end = c.offset;
    let (status, h, body) = srv.poll(&id, Some(end), 5).await;
    assert_eq!(status, 200);
    assert!(body.is_empty());
    let e: serde_json::Value = serde_json::from_str(h["x-kiln-exit"].to_str().unwrap()).unwrap();
    assert_eq!(e["code"], 3);
    assert_eq!(srv.session(&id).await["exit"]["code"], 3);
    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/input"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next()),
                Some("Z" | "X")
            )
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_ends_background_children_and_is_idempotent() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until(crate::support::PROMPT).await;
    c.send(b"sleep 1000 & echo B''G=$!=E''ND\r").await;
    let stream = c.read_until("=END").await;
    let text = String::from_utf8_lossy(&stream);
    let pid: i64 = text
        .split("BG=")
        .filter_map(|r| r.split('=').next()?.parse().ok())
        .next()
        .unwrap();
    assert!(alive(pid));
    for _ in 0..2 {
        let r = srv
            .req(Method::DELETE, &format!("/api/sessions/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    c.control("closed").await;
    let r = srv
        .req(Method::GET, &format!("/api/sessions/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    tokio::time::timeout(WAIT, async {
        while alive(pid) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("background child ended with its session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_bounds_and_resize_events() {
    let srv = TestServer::start().await;
    for body in [
        json!({"cols": 1, "rows": 24}),
        json!({"cols": 80, "rows": 0}),
        json!({"cols": 5000, "rows": 24}),
        json!({"cols": -1, "rows": 24}),
    ] {
        let r = srv
            .req(Method::POST, "/api/sessions")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert!(!e["message"].as_str().unwrap().is_empty());
    }
    let id = srv.create_id().await;
    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/resize"))
        .json(&json!({"cols": 1001, "rows": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let mut a = srv.ws(&id, Some(0)).await;
    a.read_until(crate::support::PROMPT).await;
    let mut b = srv.ws(&id, Some(0)).await;
    a.send_text(json!({"type": "resize", "cols": 100, "rows": 30}))
        .await;
    let ev = b.control("resized").await;
    assert_eq!(
        (ev["cols"].as_u64(), ev["rows"].as_u64()),
        (Some(100), Some(30))
    );
    a.send(b"stty size\r").await;
    a.read_until("30 100").await;
    a.send_text(json!({"type": "resize", "cols": 0, "rows": 30}))
        .await;
    assert!(
        a.control("error").await["message"]
            .as_str()
            .unwrap()
            .contains("out of bounds")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_answers_429_with_the_reason() {
    let srv = TestServer::with(|o| o.term.max_sessions = 2).await;
    srv.create_id().await;
    srv.create_id().await;
    let r = srv
        .req(Method::POST, "/api/sessions")
        .json(&json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"], "at_capacity");
    assert!(e["message"].as_str().unwrap().contains("session limit"));
    let status: serde_json::Value = srv
        .req(Method::GET, "/api/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["sessions"]["live"], 2);
    assert_eq!(status["sessions"]["limit"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_list() {
    let srv = TestServer::start().await;
    let a = srv.create_id().await;
    let b = srv.create_id().await;
    let r = srv
        .req(Method::PATCH, &format!("/api/sessions/{b}"))
        .json(&json!({"label": "build"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: serde_json::Value = srv
        .req(Method::GET, "/api/sessions")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()], "oldest first");
    assert_eq!(list["sessions"][1]["label"], "build");
    let r = srv
        .req(Method::PATCH, &format!("/api/sessions/{b}"))
        .json(&json!({"label": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_viewers() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until(crate::support::PROMPT).await;
    let stop = tokio::spawn(srv.stop());
    c.control("shutdown").await;
    assert!(matches!(c.next().await, Event::Closed));
    stop.await.unwrap();
}

fn stopped(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            == Some("T")
    })
}

/// A shell that stops reading while a 10 MiB paste arrives over the WebSocket: the paste waits
/// (backpressure) instead of piling up, an HTTP input meanwhile gets 503 with nothing written,
/// and once the shell reads again the paste arrives whole, then the next input, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_shell_pushes_back_and_loses_nothing() {
    const N: usize = 10 << 20;
    let srv = TestServer::with(|o| {
        o.input_wait = std::time::Duration::from_secs(1);
        o.command = Some(
            [
                "sh",
                "-c",
                &format!(
                    "stty raw -echo; echo READY; kill -STOP $$; head -c {N} | sha256sum; \
                     head -c 3; echo :TAIL; sleep 30"
                ),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        );
    })
    .await;
    let session = srv.create().await;
    let id = session["id"].as_str().unwrap().to_owned();
    let pid = session["pid"].as_u64().unwrap();
    let mut c = srv.ws(&id, Some(0)).await;
    c.read_until("READY").await;
    tokio::time::timeout(WAIT, async {
        while !stopped(pid) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the shell stops itself");
    let data: Vec<u8> = (0..N).map(|i| (i * 13 % 253) as u8).collect();
    let expected = format!("{:x}", Sha256::digest(&data));
    // Its own connection: the server stops reading it until the shell reads (the send waits).
    let mut paster = srv.ws(&id, None).await;
    let paste = tokio::spawn(async move {
        paster.send(&data).await;
        paster
    });
    tokio::time::timeout(WAIT, async {
        while srv.session(&id).await["input_queued"].as_u64().unwrap() < 512 << 10 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the paste fills the input queue");
    let queued = srv.session(&id).await["input_queued"].as_u64().unwrap();
    assert!(queued <= 1 << 20, "{queued} bytes queued: over the bound");

    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/input"))
        .body(vec![b'!'; 1 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("nothing of this request was written"),
        "{body}"
    );
    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/input"))
        .body(vec![0u8; (1 << 20) + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413, "larger than the input queue");

    let cont = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(cont.success());
    c.read_until(&expected).await;
    let _paster = tokio::time::timeout(WAIT, paste).await.unwrap().unwrap();
    let r = srv
        .req(Method::POST, &format!("/api/sessions/{id}/input"))
        .body("XYZ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let out = c.read_until(":TAIL").await;
    assert!(
        contains(&out, "XYZ:TAIL"),
        "{:?}",
        String::from_utf8_lossy(&out[out.len().saturating_sub(200)..])
    );
}
