//! Signalling every process of a terminal session (its session id is the shell's pid), found
//! through `/proc` without forking anything. Interactive shells put background jobs in process
//! groups of their own, so ending "the process group" means ending every group of the session.

use rustix::process::{Pid, Signal};

/// Parses the session id (field 6) from `/proc/<pid>/stat` text.
pub(crate) fn parse_stat_session(stat: &str) -> Option<i32> {
    // The command name (field 2) is in parentheses and may contain spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // state, ppid, pgrp, session
    fields.nth(3)?.parse().ok()
}

/// Pids of every process whose session id is `sid`.
pub(crate) fn session_members(sid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parse_stat_session(&s))
                == Some(sid)
        })
        .collect()
}

/// Sends `sig` to the session's process group and to every other member of the session.
/// Returns how many processes were found besides the group.
pub(crate) fn signal_session(sid: i32, sig: Signal) -> usize {
    if let Some(pgid) = Pid::from_raw(sid) {
        let _ = rustix::process::kill_process_group(pgid, sig);
    }
    let members = session_members(sid);
    for pid in &members {
        if let Some(p) = Pid::from_raw(*pid) {
            let _ = rustix::process::kill_process(p, sig);
        }
    }
    members.len()
}

/// The command name of a process (`/proc/<pid>/comm`).
pub(crate) fn comm(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(s.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_session_field() {
        assert_eq!(
            parse_stat_session("123 (bash) S 1 123 123 34816 123 4194560"),
            Some(123)
        );
        assert_eq!(parse_stat_session("9 (weird) name) R 1 2 77 0"), Some(77));
        assert_eq!(parse_stat_session("garbage"), None);
    }

    #[test]
    fn own_session_contains_self() {
        let me = std::process::id() as i32;
        let stat = std::fs::read_to_string(format!("/proc/{me}/stat")).expect("stat");
        let sid = parse_stat_session(&stat).expect("sid");
        assert!(session_members(sid).contains(&me));
    }
}
