//! A bench killed half-way leaves no server behind: `kiln-bench --only memory` is SIGKILLed (no
//! destructor runs) while the `kiln serve` it started has shells open; the kernel's parent-death
//! signal (`src/orphan.rs`) must end that server, and the server its shells.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// Direct children of `parent` whose command line contains `needle`.
fn children(parent: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let after = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == parent && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    // A zombie has been killed (it only waits for its parent to reap it).
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s[s.rfind(')').map_or(0, |i| i + 1)..]
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
fn a_killed_bench_leaves_no_kiln_serve_running() {
    let bench = support::bench();
    let mut child = Command::new(bench)
        .args(["--only", "memory", "--idle-sessions", "50"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    // A server with shells: it is in the middle of its work, not starting or stopping.
    let (servers, shells) = loop {
        let servers = children(child.id(), "serve");
        let shells: Vec<u32> = servers.iter().flat_map(|&s| children(s, "")).collect();
        if shells.len() >= 2 {
            break (servers, shells);
        }
        assert!(
            start.elapsed() < WAIT,
            "the bench started no kiln serve with shells"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap(); // SIGKILL: nothing of the bench's own clean-up runs
    child.wait().unwrap();
    let start = Instant::now();
    while servers.iter().chain(&shells).any(|&pid| alive(pid)) {
        assert!(
            start.elapsed() < WAIT,
            "kiln serve {servers:?} or its shells {shells:?} outlived the killed bench"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
