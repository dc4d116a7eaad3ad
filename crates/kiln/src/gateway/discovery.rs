//! The discovery file `<state dir>/gateway.json` (`{"url","pid","started_at"}`): written
//! atomically (0600) by a running gateway, removed on clean exit when it is still the one that
//! wrote it. [`find_running`] / [`find_live`] read it back and check the process is alive; this
//! is the one reader of the file (`kiln agents` finds the gateway through it too).

use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// File name inside the state directory.
pub const DISCOVERY_FILE: &str = "gateway.json";

/// What the discovery file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Process id of the gateway.
    pub pid: u32,
    /// RFC 3339 start time (empty when the file has none).
    #[serde(default)]
    pub started_at: String,
}

/// Writes `dir/gateway.json` atomically (mode 0600).
pub fn write(dir: &Path, d: &Discovery) -> io::Result<PathBuf> {
    let path = dir.join(DISCOVERY_FILE);
    let mut text = serde_json::to_vec_pretty(d).map_err(io::Error::other)?;
    text.push(b'\n');
    crate::state::write_private(&path, &text)?;
    Ok(path)
}

/// Reads `dir/gateway.json` (`None` when missing or unreadable).
pub fn read(dir: &Path) -> Option<Discovery> {
    read_checked(dir).ok()
}

/// The gateway announced in `dir/gateway.json` whose process is alive, or why there is none
/// (missing file, unreadable file, stale pid), naming the file.
pub fn find_live(dir: &Path) -> Result<Discovery, String> {
    let path = dir.join(DISCOVERY_FILE);
    let d = read_checked(dir)?;
    if pid_alive(d.pid) {
        Ok(d)
    } else {
        Err(format!(
            "{} is stale (pid {} is gone)",
            path.display(),
            d.pid
        ))
    }
}

fn read_checked(dir: &Path) -> Result<Discovery, String> {
    let path = dir.join(DISCOVERY_FILE);
    let text = std::fs::read(&path).map_err(|_| format!("no {}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Removes `dir/gateway.json` if it still names process `pid` at `url`.
pub fn remove_if_ours(dir: &Path, pid: u32, url: &str) {
    if read(dir).is_some_and(|d| d.pid == pid && d.url == url) {
        let _ = std::fs::remove_file(dir.join(DISCOVERY_FILE));
    }
}

/// Whether a process with this id exists.
pub fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    match rustix::process::Pid::from_raw(raw) {
        Some(p) => match rustix::process::test_kill_process(p) {
            Ok(()) => true,
            // It exists but belongs to someone else.
            Err(e) => e == rustix::io::Errno::PERM,
        },
        None => false,
    }
}

/// The running gateway described in `dir`, if its process is alive.
pub fn find_running(dir: &Path) -> Option<Discovery> {
    find_live(dir).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let d = Discovery {
            url: "http://127.0.0.1:1".into(),
            pid: std::process::id(),
            started_at: "2026-01-01T00:00:00Z".into(),
        };
        let path = write(dir.path(), &d).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(find_running(dir.path()), Some(d.clone()));
        remove_if_ours(dir.path(), d.pid + 1, &d.url);
        remove_if_ours(dir.path(), d.pid, "http://127.0.0.1:2");
        assert!(read(dir.path()).is_some());
        remove_if_ours(dir.path(), d.pid, &d.url);
        assert!(read(dir.path()).is_none());

        let dead = Discovery {
            pid: u32::MAX - 1,
            ..d
        };
        write(dir.path(), &dead).unwrap();
        assert_eq!(read(dir.path()), Some(dead));
        assert_eq!(find_running(dir.path()), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
