//! One app process: started without a shell in a process group of its own, with exactly the
//! environment it is given, stdout and stderr copied into the app's log; signalled as a group
//! together with every descendant found under `/proc` (so processes that started their own
//! session are not left behind either).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};

use super::logs::AppLog;

/// Starts `argv` in `dir` with `env` only (no inherited variables), in a new process group,
/// copying its output into `log`.
pub fn spawn(
    argv: &[String],
    dir: &Path,
    env: &[(String, String)],
    log: &Arc<AppLog>,
) -> io::Result<Child> {
    let program = argv
        .first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    // A relative path with a slash names a file in the app's directory, not the emulator's.
    let program = if program.contains('/') && !program.starts_with('/') {
        dir.join(program).into_os_string()
    } else {
        program.into()
    };
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(copy_to_log(out, log.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(copy_to_log(err, log.clone()));
    }
    Ok(child)
}

async fn copy_to_log(mut r: impl AsyncRead + Unpin, log: Arc<AppLog>) {
    let mut buf = vec![0u8; 8 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => log.append(&buf[..n]),
        }
    }
}

/// Sends `sig` to the process group `pgid` and to each of `extra` (descendants that left
/// the group). Errors for processes already gone are ignored.
pub fn signal_all(pgid: u32, extra: &BTreeSet<u32>, sig: Signal) {
    if let Some(p) = pid(pgid) {
        let _ = kill_process_group(p, sig);
    }
    for d in extra {
        if let Some(p) = pid(*d) {
            let _ = kill_process(p, sig);
        }
    }
}

fn pid(raw: u32) -> Option<Pid> {
    i32::try_from(raw).ok().and_then(Pid::from_raw)
}

/// Every live descendant of `root` (children, grandchildren, ...), read from `/proc`.
pub fn descendants(root: u32) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = parent_of(p) {
                children.entry(ppid).or_default().push(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if out.insert(*c) {
                todo.push(*c);
            }
        }
    }
    out
}

/// Field `n` (1-based, as in proc(5)) of `/proc/<pid>/stat`, for fields after the command name.
fn stat_field(pid: u32, n: usize) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// Parent pid (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    stat_field(pid, 4).and_then(|p| u32::try_from(p).ok())
}

/// Start time in clock ticks since boot (field 22): with the pid, it names one process even
/// after the pid is reused.
pub fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)
}

/// Descendants seen so far, by pid with their start times.
pub type Tracked = BTreeMap<u32, u64>;

/// Adds `root`'s current descendants to `tracked` and forgets the ones that are gone.
pub fn track(root: u32, tracked: &mut Tracked) {
    tracked.retain(|pid, st| start_time(*pid) == Some(*st));
    for d in descendants(root) {
        if let Some(st) = start_time(d) {
            tracked.insert(d, st);
        }
    }
}

/// Sends `sig` to each tracked process that is still the same process.
pub fn signal_tracked(tracked: &Tracked, sig: Signal) {
    for (p, st) in tracked {
        if start_time(*p) == Some(*st)
            && let Some(pid) = pid(*p)
        {
            let _ = kill_process(pid, sig);
        }
    }
}

/// A free loopback port for the app to listen on.
pub fn free_port() -> io::Result<u16> {
    let l = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(l.local_addr()?.port())
}

/// Whether something accepts connections on `127.0.0.1:port`.
pub async fn answers(port: u16) -> bool {
    tokio::net::TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .is_ok()
}

/// SIGTERM to the group; after `grace` (or once the main process is gone) SIGKILL to the group
/// and every descendant seen.
pub async fn terminate(
    child: &mut Child,
    pid: u32,
    grace: Duration,
    log: &AppLog,
    tracked: &mut Tracked,
) {
    track(pid, tracked);
    log.system("Stopping the app: SIGTERM");
    signal_all(pid, &Default::default(), Signal::TERM);
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        log.system(&format!(
            "The app did not exit within {} s: SIGKILL",
            grace.as_secs()
        ));
    }
    track(pid, tracked);
    cleanup(pid, tracked);
    let _ = child.wait().await;
    log.system("The app's process is gone");
}

/// Whatever is left of the app's process group and its tracked descendants goes.
pub fn cleanup(pid: u32, tracked: &Tracked) {
    signal_all(pid, &Default::default(), Signal::KILL);
    signal_tracked(tracked, Signal::KILL);
}

pub fn describe(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            _ => "exited".into(),
        },
        Err(e) => format!("could not be waited for ({e})"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_own_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let me = std::process::id();
        assert!(descendants(me).contains(&child.id()));
        assert_eq!(parent_of(child.id()), Some(me));
        let mut tracked = Tracked::new();
        track(me, &mut tracked);
        assert!(tracked.contains_key(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
