//! The real `kiln serve` binary: start-up output, SIGTERM handling (viewers told `shutdown`,
//! process groups ended, prompt exit) and a second signal exiting at once.

use crate::support::{KEY, TermClient, WAIT};
use rustix::process::{Pid, Signal, kill_process};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kiln {
    child: Child,
    addr: SocketAddr,
    _home: tempfile::TempDir,
}

impl Drop for Kiln {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary on port 0 and reads the address from its first line.
fn spawn_kiln() -> Kiln {
    spawn_kiln_logging("warn", Stdio::null())
}

/// [`spawn_kiln`] with `RUST_LOG` and where stderr goes.
fn spawn_kiln_logging(rust_log: &str, stderr: Stdio) -> Kiln {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", "--bind", "127.0.0.1:0", "--shell", "/bin/bash"])
        .env("KILN_ACCESS_KEY", KEY)
        .env("HOME", home.path())
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("kiln: open http://") {
            let (host, code) = rest.split_once("/#code=").unwrap();
            assert!(
                !code.contains(KEY),
                "the URL carries a one-time code, not the key"
            );
            addr = Some(host.parse().unwrap());
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    Kiln {
        child,
        addr: addr.expect("kiln printed its URL"),
        _home: home,
    }
}

fn pid_alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

async fn session_with_background_child(addr: SocketAddr) -> (TermClient, i32) {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{addr}/api/sessions"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut c = TermClient::connect(addr, &id, Some(0)).await;
    c.send(b"sleep 1000 & echo B''G=$!:E''ND\r").await;
    let out = c.read_until(":END").await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let pid: i32 = text
        .rsplit("BG=")
        .next()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (c, pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_tells_viewers_ends_sessions_and_exits() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kiln = spawn_kiln();
    let (mut viewer, bg) = session_with_background_child(kiln.addr).await;
    assert!(pid_alive(bg));
    let started = Instant::now();
    kill_process(Pid::from_raw(kiln.child.id() as i32).unwrap(), Signal::TERM).unwrap();
    let msg = viewer.control("shutdown").await;
    assert_eq!(msg["type"], "shutdown");
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = kiln.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "kiln did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "exit within 10 s"
    );
    // The session's background child ended with its process group.
    let deadline = Instant::now() + WAIT;
    while pid_alive(bg) {
        assert!(
            Instant::now() < deadline,
            "background child {bg} survived the server"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut kiln = spawn_kiln();
    // A shell that ignores SIGHUP keeps the graceful path busy for its grace period.
    let (mut viewer, _bg) = session_with_background_child(kiln.addr).await;
    viewer.send(b"trap '' HUP TERM; echo TR''APPED\r").await;
    viewer.read_until("TRAPPED").await;
    let pid = Pid::from_raw(kiln.child.id() as i32).unwrap();
    kill_process(pid, Signal::INT).unwrap();
    viewer.control("shutdown").await;
    kill_process(pid, Signal::INT).unwrap();
    let status = tokio::task::spawn_blocking(move || kiln.child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "second signal: immediate exit with 130"
    );
}

#[test]
fn a_non_loopback_bind_without_a_key_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("KILN_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KILN_ACCESS_KEY"), "says how to fix it: {err}");
}

/// Issue 8, finding 4: with `RUST_LOG=trace` the HTTP and WebSocket libraries would log every
/// frame; kiln pins them to INFO, so neither typed input nor terminal output (over the WebSocket
/// and over the long-poll transport) nor the key reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logging_never_shows_keystrokes_or_output() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let log_dir = tempfile::tempdir().unwrap();
    let log_path = log_dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut kiln = spawn_kiln_logging("trace", Stdio::from(log));
    let (mut viewer, _bg) = session_with_background_child(kiln.addr).await;
    // Typed (and echoed) text, and output that was never typed.
    viewer
        .send(b": typed-secret-4711; echo out-$((6*7))-marker\r")
        .await;
    viewer.read_until("out-42-marker").await;
    // The same through the HTTP transport: POST input, long-poll output.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("http://{}/api/sessions", kiln.addr))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("http://{}/api/sessions/{id}/input", kiln.addr))
        .bearer_auth(KEY)
        .body(": poll-typed-9876; echo poll-$((5*5))-out\r")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let mut offset = 0u64;
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&seen).contains("poll-25-out") {
        assert!(Instant::now() < deadline, "no poll output");
        let r = http
            .get(format!(
                "http://{}/api/sessions/{id}/output?offset={offset}&wait=5",
                kiln.addr
            ))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        offset = r.headers()["x-kiln-next-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        seen.extend_from_slice(&r.bytes().await.unwrap());
    }
    kill_process(Pid::from_raw(kiln.child.id() as i32).unwrap(), Signal::TERM).unwrap();
    viewer.control("shutdown").await;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = kiln.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "kiln did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    let stderr = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "trace logging was on:\n{stderr}"
    );
    for secret in [
        "typed-secret-4711",
        "out-42-marker",
        "poll-typed-9876",
        "poll-25-out",
        KEY,
    ] {
        assert!(!stderr.contains(secret), "{secret:?} in the log:\n{stderr}");
        // tungstenite prints frame payloads as hex at trace level.
        let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(
            !stderr.contains(&hex),
            "{secret:?} (hex) in the log:\n{stderr}"
        );
    }
}
