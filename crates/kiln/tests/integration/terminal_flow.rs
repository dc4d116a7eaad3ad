//! Output flow control on the WebSocket (`docs/protocol.md`): the hello says `flow`, a paused
//! viewer is sent control frames but no output, and after `resume` it gets every byte it missed,
//! in order.

use crate::support::{Event, PROMPT, TestServer, WAIT};
use serde_json::json;

/// Sends a resize the server refuses and waits for its error: the input task handles messages in
/// order, so everything sent before has been applied once the error arrives.
async fn barrier(c: &mut crate::support::TermClient) -> Vec<Vec<u8>> {
    c.send_text(json!({"type": "resize", "cols": 0, "rows": 0}))
        .await;
    let mut outputs = Vec::new();
    loop {
        match c.next().await {
            Event::Control(v) if v["type"] == "error" => return outputs,
            Event::Output(b) => outputs.push(b),
            Event::Closed => panic!("closed while waiting for the barrier"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_viewer_gets_no_output_until_it_resumes_and_then_everything() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut c = srv.ws(&id, Some(0)).await;
    assert_eq!(c.hello["flow"], true, "the hello announces flow control");
    c.read_until(PROMPT).await;
    c.send_text(json!({"type": "pause"})).await;
    barrier(&mut c).await;
    let paused_at = c.offset;
    c.send(b"for i in $(seq 1 2000); do echo line$i; done; echo DO''NE\r")
        .await;
    // The session produces the whole output while this viewer is paused.
    tokio::time::timeout(WAIT, async {
        loop {
            let end = srv.session(&id).await["offset"].as_u64().unwrap();
            if end > paused_at + 2000 * 9 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the shell printed its lines");
    let during = barrier(&mut c).await;
    assert!(
        during.is_empty(),
        "no output reaches a paused viewer; got {} frames",
        during.len()
    );
    assert_eq!(c.offset, paused_at);
    c.send_text(json!({"type": "resume"})).await;
    let stream = c.read_until("DONE").await;
    let text = String::from_utf8_lossy(&stream);
    for i in [1, 999, 2000] {
        assert!(text.contains(&format!("line{i}\r\n")), "line{i} arrived");
    }
    let reference = {
        let mut r = srv.ws(&id, Some(0)).await;
        r.read_until("DONE").await
    };
    assert_eq!(
        &stream[..],
        &reference[..stream.len()],
        "the resumed viewer saw exactly the stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume_are_per_viewer() {
    let srv = TestServer::start().await;
    let id = srv.create_id().await;
    let mut paused = srv.ws(&id, Some(0)).await;
    let mut live = srv.ws(&id, Some(0)).await;
    paused.read_until(PROMPT).await;
    live.read_until(PROMPT).await;
    paused.send_text(json!({"type": "pause"})).await;
    barrier(&mut paused).await;
    live.send(b"echo other-vie''wer\r").await;
    live.read_until("other-viewer").await;
    paused.send_text(json!({"type": "resume"})).await;
    paused.read_until("other-viewer").await;
}
