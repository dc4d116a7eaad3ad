//! kiln-term against real PTYs and shells: I/O, offsets, snapshots, exit, process cleanup,
//! bounds and capacity.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use bytes::Bytes;
use kiln_term::{Manager, Options, ReadResult, Session, SpawnError, SpawnRequest};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn opts(home: &std::path::Path) -> Options {
    Options {
        home: Some(home.to_path_buf()),
        shell: Some("/bin/bash".into()),
        extra_env: vec![("PS1".into(), "kiln$ ".into())],
        ..Options::default()
    }
}

fn cmd(args: &[&str]) -> Option<Vec<String>> {
    Some(args.iter().map(|s| s.to_string()).collect())
}

fn bash() -> Option<Vec<String>> {
    cmd(&["bash", "--noprofile", "--norc", "-i"])
}

fn spawn(m: &Manager, command: Option<Vec<String>>) -> Arc<Session> {
    m.spawn(SpawnRequest {
        cols: 80,
        rows: 24,
        label: None,
        command,
    })
    .expect("spawn")
}

/// Reads from `offset` until `done(all bytes so far)` holds; returns the bytes and the new offset.
async fn read_until(s: &Session, mut offset: u64, done: impl Fn(&[u8]) -> bool) -> (Vec<u8>, u64) {
    let mut out = Vec::new();
    let fut = async {
        loop {
            match s.read(offset, 1 << 20) {
                ReadResult::Data { bytes, .. } => {
                    offset += bytes.len() as u64;
                    out.extend_from_slice(&bytes);
                    if done(&out) {
                        return;
                    }
                }
                ReadResult::Pending => {
                    if s.exit_status().is_some() && s.end_offset() == offset {
                        return;
                    }
                    s.changed(offset).await
                }
                other => panic!("unexpected read result {other:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, fut).await.unwrap_or_else(|_| {
        panic!(
            "timed out; output so far: {:?}",
            String::from_utf8_lossy(&out)
        )
    });
    (out, offset)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_first_prompt_without_viewers() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    let s = spawn(&m, bash());
    // Nobody is attached yet; the first prompt is still in the ring.
    let (prompt, off) = read_until(&s, 0, |b| contains(b, "$ ")).await;
    assert!(contains(&prompt, "$ "));
    s.write(Bytes::from_static(b"echo hel''lo-$((40+2))\r"))
        .await
        .unwrap();
    let (out, _) = read_until(&s, off, |b| contains(b, "hello-42")).await;
    assert!(contains(&out, "hello-42"));
    // The shell starts in ~/projects.
    assert!(home.path().join("projects").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_an_offset() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    let s = spawn(
        &m,
        cmd(&[
            "bash",
            "-c",
            "for i in $(seq 1 3000); do echo line-$i; done; echo DONE; exec sleep 60",
        ]),
    );
    let (all, end) = read_until(&s, 0, |b| contains(b, "DONE")).await;
    assert_eq!(end, all.len() as u64);
    for from in [1u64, 777, 20_000, end - 3] {
        let (tail, _) = read_until(&s, from, |b| b.len() as u64 == end - from).await;
        assert_eq!(tail, &all[from as usize..], "resume from {from}");
    }
    assert!(matches!(s.read(end + 10, 10), ReadResult::Invalid { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_offsets_are_evicted_and_a_slow_viewer_blocks_nobody() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(Options {
        ring_bytes: 64 << 10,
        ..opts(home.path())
    });
    // 8 MB of output while a viewer sits at offset 0 and never reads: the PTY is not held back.
    let s = spawn(
        &m,
        cmd(&[
            "bash",
            "-c",
            "head -c 8000000 /dev/zero | tr '\\0' x; echo; echo DONE; exec sleep 60",
        ]),
    );
    let slow_viewer = s.attach();
    let done = async {
        loop {
            let end = s.end_offset();
            if end > 8_000_000
                && let ReadResult::Data { bytes, .. } = s.read(end - 6, 6)
                && contains(&bytes, "DONE")
            {
                return end;
            }
            s.changed(end).await;
        }
    };
    let end = tokio::time::timeout(WAIT, done)
        .await
        .expect("the whole stream was produced");
    match s.read(0, 10) {
        ReadResult::Evicted { oldest } => assert_eq!(oldest, end - (64 << 10)),
        other => panic!("offset 0 should be evicted, got {other:?}"),
    }
    assert_eq!(s.info().viewers, 1);
    drop(slow_viewer);
    assert_eq!(s.info().viewers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_viewer_that_reads_slowly_loses_nothing_and_a_stalled_one_is_let_go() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(Options {
        ring_bytes: 64 << 10,
        ..opts(home.path())
    });
    // About 2 MB, thirty times the ring, while one live viewer never moves and another reads in
    // small pieces: the slow one gets every byte (the reader waits for it), the stalled one is let
    // go after HOLD_MAX, so the stream still ends.
    let s = spawn(
        &m,
        cmd(&["bash", "-c", "seq 1 300000; echo DONE; exec sleep 60"]),
    );
    let stalled = s.hold(0);
    let slow = s.hold(0);
    let read_all = async {
        let (mut out, mut off) = (Vec::new(), 0u64);
        loop {
            match s.read(off, 4096) {
                ReadResult::Data { bytes, .. } => {
                    off += bytes.len() as u64;
                    out.extend_from_slice(&bytes);
                    slow.moved(off);
                    if contains(&out[out.len().saturating_sub(8)..], "DONE") {
                        return out;
                    }
                    // A slow client: a pause every 64 KiB.
                    if off % (64 << 10) < 4096 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                ReadResult::Pending => s.changed(off).await,
                other => panic!("the slow viewer lost bytes at {off}: {other:?}"),
            }
        }
    };
    let out = tokio::time::timeout(WAIT, read_all)
        .await
        .expect("the whole stream arrived");
    let text: Vec<u8> = out.into_iter().filter(|&b| b != b'\r').collect();
    let mut want: String = (1..=300000).map(|n| format!("{n}\n")).collect();
    want.push_str("DONE");
    assert!(
        text.starts_with(want.as_bytes()),
        "the stream differs from seq's output"
    );
    drop((stalled, slow));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_held_back_by_its_viewer_does_not_hold_back_the_others() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(Options {
        ring_bytes: 64 << 10,
        ..opts(home.path())
    });
    // A flood whose live viewer never moves: the reader stops reading it when one more read
    // (8 KiB here) could take it beyond the window (16 KiB of this ring) ahead of the viewer,
    // until the viewer is let go after HOLD_MAX (5 s).
    let flood = spawn(&m, cmd(&["bash", "-c", "exec yes 'held back'"]));
    let stalled = flood.hold(0);
    eventually("the flood reached its window", || {
        flood.end_offset() > 8 << 10
    })
    .await;
    // Every other session is read meanwhile, by the same thread.
    let other = spawn(&m, bash());
    for n in 0..5 {
        other
            .write(Bytes::from(format!("echo other-$(({n}*1000+7))\r")))
            .await
            .unwrap();
        let want = format!("other-{}", n * 1000 + 7);
        read_until(&other, 0, |x| contains(x, &want)).await;
    }
    // ...while the flood stayed held within its window (let go, it runs on at once).
    let now = flood.end_offset();
    assert!(now <= 16 << 10, "the held flood went on to {now}");
    drop(stalled);
    assert!(m.remove(flood.id()));
}

/// Feeds a fresh parser the snapshot plus the stream after it, and a second parser the whole
/// stream, and compares them cell by cell.
fn nz(v: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(v).unwrap()
}

fn assert_snapshot_exact(s: &Session, whole: &[u8], rows: u16, cols: u16) {
    let snap = s.snapshot();
    let mut raw = vt100::Parser::new(nz(rows), nz(cols), 1000);
    raw.process(whole);
    let mut fresh = vt100::Parser::new(nz(rows), nz(cols), 1000);
    fresh.process(&snap.bytes);
    fresh.process(&whole[snap.offset as usize..]);
    let (a, b) = (raw.screen(), fresh.screen());
    for r in 0..rows {
        for c in 0..cols {
            let (x, y) = (a.cell(r, c).unwrap(), b.cell(r, c).unwrap());
            assert_eq!(x.contents(), y.contents(), "cell {r},{c}");
            assert_eq!(
                (
                    x.fgcolor(),
                    x.bgcolor(),
                    x.bold(),
                    x.inverse(),
                    x.underline()
                ),
                (
                    y.fgcolor(),
                    y.bgcolor(),
                    y.bold(),
                    y.inverse(),
                    y.underline()
                ),
                "attrs {r},{c}"
            );
        }
    }
    assert_eq!(a.cursor_position(), b.cursor_position(), "cursor");
    assert_eq!(a.hide_cursor(), b.hide_cursor(), "cursor visibility");
    assert_eq!(
        a.alternate_screen(),
        b.alternate_screen(),
        "alternate screen"
    );
    assert_eq!(a.bracketed_paste(), b.bracketed_paste(), "bracketed paste");
    assert_eq!(
        a.application_cursor(),
        b.application_cursor(),
        "application cursor"
    );
    assert_eq!(
        a.application_keypad(),
        b.application_keypad(),
        "application keypad"
    );
    assert_eq!(
        a.mouse_protocol_mode(),
        b.mouse_protocol_mode(),
        "mouse mode"
    );
    assert_eq!(
        a.mouse_protocol_encoding(),
        b.mouse_protocol_encoding(),
        "mouse encoding"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_an_alternate_screen_program_is_exact() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    // A full-screen program: primary output, then the alternate screen with colours, cursor
    // moves, modes and a title, 4-byte characters included; then it waits.
    let script = r#"for i in $(seq 1 60); do echo "primary $i 😀"; done
printf '\033]2;my editor\007\033[?1049h\033[?2004h\033[?1h\033=\033[?1000h\033[?1006h\033[?25l'
printf '\033[H\033[1;31mTITLE\033[0m \033[44m blue \033[0m'
for r in $(seq 3 20); do printf "\033[${r};5H row %d 𝄞 😀 \033[7mrev\033[0m" $r; done
printf '\033[10;40HEND'; read -r _"#;
    let s = spawn(&m, cmd(&["bash", "-c", script]));
    let (whole, _) = read_until(&s, 0, |b| contains(b, "END")).await;
    assert!(s.snapshot().bytes.len() > 100);
    assert_snapshot_exact(&s, &whole, 24, 80);
    // Back on the primary screen, both agree too.
    s.write(Bytes::from_static(b"\r")).await.unwrap();
    let status = tokio::time::timeout(WAIT, s.exited()).await.unwrap();
    assert_eq!(status.code, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_byte_characters_split_across_reads_snapshot_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    // Many 4-byte characters written in odd-sized pieces so PTY reads cut them anywhere.
    let script = r#"python3 -c '
import os, sys
data = ("😀𝄞" * 4000).encode()
i = 0
while i < len(data):
    os.write(1, data[i:i+7]); i += 7
os.write(1, b"\r\nEND")
sys.stdin.read(1)'"#;
    let s = spawn(&m, cmd(&["bash", "-c", script]));
    let (whole, _) = read_until(&s, 0, |b| contains(b, "END")).await;
    assert_snapshot_exact(&s, &whole, 24, 80);
    assert!(
        !String::from_utf8_lossy(&s.snapshot().bytes).contains('\u{fffd}'),
        "no broken characters in the snapshot"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_and_signal_are_reported_after_the_last_byte() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    let s = spawn(&m, cmd(&["sh", "-c", "echo last-words; exit 7"]));
    let status = tokio::time::timeout(WAIT, s.exited()).await.unwrap();
    assert_eq!((status.code, status.signal), (Some(7), None));
    let (out, _) = read_until(&s, 0, |b| contains(b, "last-words")).await;
    assert!(contains(&out, "last-words"));
    assert!(matches!(
        s.write(Bytes::from_static(b"x")).await,
        Err(kiln_term::SessionError::Exited)
    ));

    let s = spawn(&m, cmd(&["sh", "-c", "kill -TERM $$"]));
    let status = tokio::time::timeout(WAIT, s.exited()).await.unwrap();
    assert_eq!((status.code, status.signal), (None, Some(15)));
    assert_eq!(
        m.list().iter().filter(|i| i.exit.is_some()).count(),
        2,
        "exited sessions stay listed"
    );
}

fn alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; count it as dead only once reaped or in state Z/X.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_children_die_with_their_session_and_remove_is_idempotent() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    let s = spawn(&m, bash());
    let (_, off) = read_until(&s, 0, |b| contains(b, "$ ")).await;
    s.write(Bytes::from_static(b"sleep 1000 & echo BG=$!:\r"))
        .await
        .unwrap();
    let bg_pid = |b: &[u8]| -> Option<i32> {
        let t = String::from_utf8_lossy(b);
        t.split("BG=")
            .skip(1)
            .find_map(|r| r.split(':').next()?.parse().ok())
    };
    let (out, _) = read_until(&s, off, |b| bg_pid(b).is_some()).await;
    let pid = bg_pid(&out).unwrap();
    let shell_pid = s.info().pid as i32;
    assert!(alive(pid));
    s.write(Bytes::from_static(b"sleep 30\r")).await.unwrap();
    eventually("foreground is sleep", || {
        s.info().foreground.as_deref() == Some("sleep")
    })
    .await;

    let id = s.id().to_owned();
    assert!(m.remove(&id));
    assert!(!m.remove(&id), "second remove is a no-op");
    assert!(m.get(&id).is_none());
    assert!(s.is_closed());
    tokio::time::timeout(WAIT, s.exited()).await.unwrap();
    eventually("background child gone", || !alive(pid)).await;
    eventually("shell gone", || !alive(shell_pid)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_bounds_and_stty_sees_the_size() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    for (cols, rows) in [(1, 24), (80, 0), (1001, 24), (80, 501)] {
        let err = m
            .spawn(SpawnRequest {
                cols,
                rows,
                label: None,
                command: bash(),
            })
            .err();
        assert!(
            matches!(err, Some(SpawnError::Invalid(_))),
            "{cols}x{rows} must be refused"
        );
    }
    let s = spawn(&m, bash());
    assert!(s.resize(0, 10).is_err());
    assert!(s.resize(100, 600).is_err());
    s.resize(123, 45).unwrap();
    assert_eq!(s.size(), (123, 45));
    let (_, off) = read_until(&s, 0, |b| contains(b, "$ ")).await;
    s.write(Bytes::from_static(b"stty size\r")).await.unwrap();
    let (out, _) = read_until(&s, off, |b| contains(b, "45 123")).await;
    assert!(contains(&out, "45 123"));
    assert!(s.set_label("").is_err());
    assert!(s.set_label("bad\x07label").is_err());
    s.set_label("build").unwrap();
    assert_eq!(s.info().label, "build");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_refuses_with_a_reason() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(Options {
        max_sessions: 2,
        ..opts(home.path())
    });
    let _a = spawn(&m, bash());
    let _b = spawn(&m, bash());
    match m.spawn(SpawnRequest {
        cols: 80,
        rows: 24,
        label: None,
        command: bash(),
    }) {
        Err(SpawnError::Capacity(msg)) => assert!(msg.contains("session limit"), "{msg}"),
        other => panic!(
            "expected a capacity refusal, got {:?}",
            other.map(|s| s.id().to_owned())
        ),
    }
    assert_eq!(m.capacity().live, 2);

    let m = Manager::new(Options {
        min_available_memory: u64::MAX / 4,
        ..opts(home.path())
    });
    match m.spawn(SpawnRequest {
        cols: 80,
        rows: 24,
        label: None,
        command: bash(),
    }) {
        Err(SpawnError::Capacity(msg)) => assert!(msg.contains("not enough memory"), "{msg}"),
        other => panic!(
            "expected a memory refusal, got {:?}",
            other.map(|s| s.id().to_owned())
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_paste_arrives_whole_and_in_order() {
    use sha2::{Digest, Sha256};
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    const N: usize = 10 << 20;
    let s = spawn(
        &m,
        cmd(&[
            "sh",
            "-c",
            &format!("stty raw -echo; echo READY; head -c {N} | sha256sum; sleep 30"),
        ]),
    );
    let (_, off) = read_until(&s, 0, |b| contains(b, "READY")).await;
    let mut data = Vec::with_capacity(N);
    let mut x: u32 = 0x1234_5678;
    while data.len() < N {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.push((x >> 24) as u8);
    }
    let expected = format!("{:x}", Sha256::digest(&data));
    // Another session stays responsive while the paste is in flight.
    let other = spawn(&m, bash());
    let writer = {
        let s = s.clone();
        tokio::spawn(async move { s.write(Bytes::from(data)).await })
    };
    let (_, o2) = read_until(&other, 0, |b| contains(b, "$ ")).await;
    other
        .write(Bytes::from_static(b"echo still-here\r"))
        .await
        .unwrap();
    read_until(&other, o2, |b| contains(b, "still-here")).await;
    writer.await.unwrap().unwrap();
    let (out, _) = read_until(&s, off, |b| contains(b, &expected)).await;
    assert!(contains(&out, &expected));
}

fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            == Some("T")
    })
}

/// A shell that stops reading while a 10 MiB paste comes in: the session holds at most
/// `INPUT_QUEUE_BYTES` of it (the writer waits for room instead), a second writer that gives up
/// while waiting leaves nothing behind, and once the shell reads again every byte arrives, in
/// order, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_shell_holds_a_bounded_input_queue_and_loses_nothing() {
    use sha2::{Digest, Sha256};
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    const N: usize = 10 << 20;
    let s = spawn(
        &m,
        cmd(&[
            "sh",
            "-c",
            &format!(
                "stty raw -echo; echo READY; kill -STOP $$; head -c {N} | sha256sum; \
                 head -c 3; echo :TAIL; sleep 30"
            ),
        ]),
    );
    let (_, off) = read_until(&s, 0, |b| contains(b, "READY")).await;
    let pid = s.info().pid;
    eventually("the shell is stopped", || stopped(pid)).await;
    let data: Vec<u8> = (0..N).map(|i| (i * 7 % 251) as u8).collect();
    let expected = format!("{:x}", Sha256::digest(&data));
    let writer = {
        let s = s.clone();
        tokio::spawn(async move { s.write(Bytes::from(data)).await })
    };
    // The queue fills up to its bound and the writer waits: the rest of the paste is not copied
    // into the session.
    eventually("the input queue is full", || {
        s.input_queued() > kiln_term::INPUT_QUEUE_BYTES / 2
    })
    .await;
    for _ in 0..20 {
        let queued = s.input_queued();
        assert!(
            queued <= kiln_term::INPUT_QUEUE_BYTES,
            "{queued} bytes queued, over the bound"
        );
        assert!(!writer.is_finished(), "the writer waits for room");
        tokio::task::yield_now().await;
    }
    // A writer that gives up while the queue is full (a timeout) leaves nothing behind.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(200),
        s.write(Bytes::from_static(b"NOT-IN-THE-STREAM")),
    )
    .await;
    assert!(gave_up.is_err(), "no room: the second write cannot finish");
    assert!(s.input_queued() <= kiln_term::INPUT_QUEUE_BYTES);

    let cont = std::process::Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(cont.success());
    tokio::time::timeout(WAIT, writer)
        .await
        .expect("the paste drains once the shell reads")
        .unwrap()
        .unwrap();
    let (out, off) = read_until(&s, off, |b| contains(b, &expected)).await;
    assert!(
        contains(&out, &expected),
        "every byte arrived once, in order"
    );
    // The next bytes the shell reads are the next ones written: nothing of the abandoned write.
    s.write(Bytes::from_static(b"XYZ")).await.unwrap();
    let (out, _) = read_until(&s, off, |b| contains(b, ":TAIL")).await;
    assert!(
        contains(&out, "XYZ:TAIL"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    eventually("the queue is empty", || s.input_queued() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shells_get_no_credentials() {
    let home = tempfile::tempdir().unwrap();
    let extra = vec![
        ("GITHUB_TOKEN".to_string(), "ghp-secret".to_string()),
        (
            "DATABRICKS_CLIENT_SECRET".to_string(),
            "sp-secret".to_string(),
        ),
        ("KILN_HELLO".to_string(), "visible".to_string()),
    ];
    let m = Manager::new(Options {
        extra_env: extra,
        ..opts(home.path())
    });
    let s = spawn(&m, cmd(&["sh", "-c", "env; echo ENV-END"]));
    let (out, _) = read_until(&s, 0, |b| contains(b, "ENV-END")).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("KILN_HELLO=visible"));
    assert!(text.contains("TERM=xterm-256color"));
    assert!(
        !text.contains("secret"),
        "no credential reaches the shell:\n{text}"
    );
    for line in text.lines() {
        let name = line.split('=').next().unwrap_or("");
        assert!(!kiln_term::env::is_credential_name(name), "{name} leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_reaped_and_shutdown_ends_everything() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(Options {
        idle_timeout: Duration::from_millis(300),
        ..opts(home.path())
    });
    let s = spawn(&m, bash());
    tokio::time::timeout(WAIT, s.exited())
        .await
        .expect("idle session reaped");
    assert!(m.get(s.id()).is_none());

    let m = Manager::new(opts(home.path()));
    let a = spawn(&m, bash());
    let b = spawn(&m, cmd(&["sh", "-c", "trap '' HUP; sleep 1000"]));
    m.shutdown(Duration::from_secs(10)).await;
    assert!(a.exit_status().is_some() && b.exit_status().is_some());
    assert!(m.list().is_empty());
}

/// Runs `script` (which ends by printing `DONE-MARK` and waiting for a line) in a session with
/// a ring that holds its whole flood, checks that the snapshot afterwards is exact, then runs
/// `check` on the session and every byte it printed.
async fn flood(script: &str, at_least: usize, check: impl FnOnce(&Session, &[u8])) {
    let home = tempfile::tempdir().unwrap();
    let mut o = opts(home.path());
    o.ring_bytes = 32 << 20;
    let m = Manager::new(o);
    let s = spawn(&m, cmd(&["bash", "-c", script]));
    let (whole, _) = read_until(&s, 0, |b| {
        contains(&b[b.len().saturating_sub(64)..], "DONE-MARK")
    })
    .await;
    assert!(whole.len() > at_least, "{} bytes", whole.len());
    assert_snapshot_exact(&s, &whole, 24, 80);
    check(&s, &whole);
    s.write(Bytes::from_static(b"\r")).await.unwrap();
    tokio::time::timeout(WAIT, s.exited()).await.unwrap();
}

/// A flood of plain text far faster than the VT parser: the terminal state may skip parts of it
/// (never the escapes around it), and the snapshot afterwards is still exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_after_a_flood_of_plain_text_is_exact() {
    let script = r#"printf '\033]2;flood\007\033[1;33mbefore\033[0m\n'
yes 'plain text line, long enough to make the flood a few megabytes' | head -n 150000
printf '\033[35mafter\033[0m \033[?2004hDONE-MARK'; read -r _"#;
    flood(script, 9_000_000, |_, _| {}).await;
}

/// Escapes in the middle of a flood (a colour that stays set, a title) reach the terminal
/// state, although the plain text around them is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_inside_a_flood_reach_the_snapshot() {
    let script = r#"yes 'first part of the flood, plain text' | head -n 60000
printf '\033[1;35m'
yes 'second part, drawn in bold magenta' | head -n 60000
printf '\033]2;mid-flood title\007'
yes 'third part, still magenta' | head -n 5000
printf 'DONE-MARK'; read -r _"#;
    // Colours are compared cell by cell with a full parse; the title only lives in the snapshot.
    flood(script, 4_000_000, |s, whole| {
        assert!(contains(whole, "mid-flood title"), "title in the stream");
        assert!(
            contains(&s.snapshot().bytes, "\x1b]2;mid-flood title\x07"),
            "the title set in the middle of the flood"
        );
    })
    .await;
}

/// This process's reader threads: (tid, nice) of every thread named as kiln-term names them.
fn reader_threads() -> Vec<(u32, i64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // The kernel keeps 15 bytes of a thread's name.
        let name: String = kiln_term::READER_THREAD_NAME.chars().take(15).collect();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: state is field 3, nice field 19.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let nice = rest.split_whitespace().nth(16).and_then(|v| v.parse().ok());
        let tid = entry.file_name().to_string_lossy().parse().ok();
        if let (Some(tid), Some(nice)) = (tid, nice) {
            out.push((tid, nice));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_session_reads_on_a_lower_priority_thread_that_ends_with_it() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    assert!(reader_threads().is_empty());
    let a = spawn(&m, bash());
    let b = spawn(&m, bash());
    read_until(&a, 0, |x| contains(x, "$ ")).await;
    read_until(&b, 0, |x| contains(x, "$ ")).await;
    let threads = reader_threads();
    assert_eq!(
        threads.len(),
        2,
        "one reader thread per session: {threads:?}"
    );
    // Relative to the process's own nice value (the test may itself run niced).
    let own = i64::from(rustix::process::getpriority_process(None).unwrap());
    for (tid, nice) in &threads {
        assert_eq!(
            *nice,
            (own + i64::from(kiln_term::READER_NICE)).min(19),
            "reader thread {tid} runs below the workers"
        );
    }
    // A session whose shell exits ends its reader; so does one that is removed.
    a.write(Bytes::from_static(b"exit 3\r")).await.unwrap();
    let status = tokio::time::timeout(WAIT, a.exited()).await.unwrap();
    assert_eq!(status.code, Some(3));
    eventually("the exited session's reader ended", || {
        reader_threads().len() == 1
    })
    .await;
    assert!(m.remove(b.id()));
    tokio::time::timeout(WAIT, b.exited()).await.unwrap();
    eventually("every reader ended", || reader_threads().is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_left_the_session_holding_the_terminal_does_not_keep_its_reader() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    // `setsid` takes the sleep out of the shell's session, so ending the session's processes
    // does not reach it, and it keeps the terminal open (its stdout). It tells its pid once it
    // has left; the shell exits only after that.
    let s = spawn(
        &m,
        cmd(&[
            "bash",
            "-c",
            "setsid sh -c 'echo ESCAPED=$$.; exec sleep 60' & read -r _; exit 4",
        ]),
    );
    let (out, _) = read_until(&s, 0, |x| contains(x, ".")).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let pid: i32 = text
        .split_once("ESCAPED=")
        .and_then(|(_, p)| p.split_once('.'))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text:?}"));
    s.write(Bytes::from_static(b"\r")).await.unwrap();
    let status = tokio::time::timeout(WAIT, s.exited()).await.unwrap();
    assert_eq!(status.code, Some(4));
    // The reader stopped though the terminal is still open, and nothing holds the session once
    // the manager forgets it.
    eventually("the reader stopped", || reader_threads().is_empty()).await;
    let weak = Arc::downgrade(&s);
    assert!(m.remove(s.id()));
    drop(s);
    eventually("the session was let go", || weak.upgrade().is_none()).await;
    let alive = std::path::Path::new(&format!("/proc/{pid}")).exists();
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    assert!(
        alive,
        "the escaped process was still running (the case under test)"
    );
}

/// A terminal grown by more rows than the terminal state keeps as cells: the snapshot shows the
/// history pulled back onto the screen, as a terminal that saw everything and grew shows it, at
/// the new size although nothing was written after the resize.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_grown_by_many_rows_snapshots_its_history_on_screen() {
    let home = tempfile::tempdir().unwrap();
    let m = Manager::new(opts(home.path()));
    let script = r#"for i in $(seq 1 150); do printf '\033[3%dmline %d\033[m\n' $((i % 8)) $i; done
printf 'READY'; read -r _"#;
    let s = spawn(&m, cmd(&["bash", "-c", script]));
    let (whole, _) = read_until(&s, 0, |b| contains(b, "READY")).await;
    s.resize(80, 70).unwrap();
    let snap = s.snapshot();
    assert_eq!(snap.offset as usize, whole.len(), "nothing after READY");
    assert_eq!((snap.cols, snap.rows), (80, 70), "taken at the new size");
    let mut raw = vt100::Parser::new(nz(24), nz(80), 1000);
    raw.process(&whole);
    raw.set_size(nz(70), nz(80));
    let mut fresh = vt100::Parser::new(nz(70), nz(80), 1000);
    fresh.process(&snap.bytes);
    let rows = |p: &vt100::Parser| p.screen().rows(0, 80).collect::<Vec<_>>();
    assert_eq!(rows(&fresh), rows(&raw));
    let shown = rows(&fresh);
    assert!(
        shown[0].starts_with("line "),
        "history on the first row: {shown:?}"
    );
    assert_eq!(shown[69], "READY", "no blank rows below the history");
    assert_eq!(
        fresh.screen().contents_formatted(),
        raw.screen().contents_formatted()
    );
    assert_eq!(
        fresh.screen().cursor_position(),
        raw.screen().cursor_position()
    );
}
