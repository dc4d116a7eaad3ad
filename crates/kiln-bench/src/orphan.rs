//! Children that do not outlive the bench: every server and shell the bench starts gets a
//! signal from the kernel when the bench dies, however it dies (SIGTERM, SIGKILL, a panic), so a
//! stopped bench leaves no `kiln serve`, relay or shell behind. `kill_on_drop` only covers the
//! bench's own orderly exits.
//!
//! The only module of the crate with `unsafe` code: the `pre_exec` hook, which calls `prctl`
//! (async-signal-safe) between `fork` and `exec`.
#![allow(unsafe_code)]

use rustix::process::{Signal, set_parent_process_death_signal};
use std::os::unix::process::CommandExt as _;

fn on_parent_death(signal: Signal) -> impl FnMut() -> std::io::Result<()> + Send + Sync {
    move || set_parent_process_death_signal(Some(signal)).map_err(std::io::Error::from)
}

/// A server (`kiln serve`, the relay, `kiln gateway`): SIGTERM when the bench dies.
pub fn server(cmd: &mut tokio::process::Command) -> &mut tokio::process::Command {
    // SAFETY: the hook only calls prctl, which is async-signal-safe.
    unsafe { cmd.pre_exec(on_parent_death(Signal::TERM)) }
}

/// As [`server`], for a `std` command.
pub fn server_std(cmd: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: the hook only calls prctl, which is async-signal-safe.
    unsafe { cmd.pre_exec(on_parent_death(Signal::TERM)) }
}

/// A shell on its own PTY: SIGHUP (an interactive shell ignores SIGTERM; SIGHUP is what it gets
/// when its terminal goes away).
pub fn shell(cmd: &mut std::process::Command) -> &mut std::process::Command {
    // SAFETY: the hook only calls prctl, which is async-signal-safe.
    unsafe { cmd.pre_exec(on_parent_death(Signal::HUP)) }
}
