//! The pseudo-terminal itself: opening a PTY pair, starting a program on its slave side in a new
//! session with a controlling terminal, resizing, and reading the foreground process group.
//!
//! This is the only module of the crate with `unsafe` code: the `pre_exec` hook that makes the
//! child a session leader with the PTY as its controlling terminal.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use std::io;
use std::path::Path;
use std::process::Stdio;

/// The master side of a PTY, non-blocking, with the child started on the slave side.
pub(crate) struct Spawned {
    pub master: OwnedFd,
    pub child: tokio::process::Child,
    pub pid: u32,
}

/// What to run on the PTY.
pub(crate) struct Launch<'a> {
    pub program: &'a str,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub cols: u16,
    pub rows: u16,
}

/// Opens a PTY pair and starts `launch.program` on it in a new session.
pub(crate) fn spawn(launch: &Launch<'_>) -> io::Result<Spawned> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let slave_name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave: OwnedFd = rustix::fs::open(
        slave_name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    set_size(&master, launch.cols, launch.rows)?;

    let mut cmd = tokio::process::Command::new(launch.program);
    cmd.args(launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .current_dir(launch.cwd)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave.try_clone()?))
        .kill_on_drop(false);
    // Safety: the closure runs in the forked child before exec and only makes two system calls
    // (setsid, ioctl TIOCSCTTY) through rustix, which are async-signal-safe; it allocates nothing
    // and touches no locks. fd 0 is the PTY slave at that point (std sets up stdio first).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            // Safety: fd 0 is open in the child (the slave, installed by std before this hook).
            let stdin = BorrowedFd::borrow_raw(0);
            rustix::process::ioctl_tiocsctty(stdin)?;
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(slave);
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("child exited before its pid was read"))?;

    rustix::fs::fcntl_setfl(
        &master,
        rustix::fs::fcntl_getfl(&master)? | OFlags::NONBLOCK,
    )?;
    Ok(Spawned { master, child, pid })
}

/// Sets the PTY's window size; the kernel sends SIGWINCH to the foreground process group.
pub(crate) fn set_size(master: impl AsFd, cols: u16, rows: u16) -> io::Result<()> {
    let size = Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, size)?;
    Ok(())
}

/// The foreground process group of the terminal whose master is `master`.
pub(crate) fn foreground_pgrp(master: impl AsFd) -> Option<i32> {
    rustix::termios::tcgetpgrp(master)
        .ok()
        .map(|p| p.as_raw_nonzero().get())
}

/// Raw descriptor number, for logging only.
pub(crate) fn raw(fd: &OwnedFd) -> i32 {
    fd.as_raw_fd()
}

/// Registers the non-blocking master with tokio's reactor for writes only: the session's reader
/// thread waits for output itself, and read readiness would wake the reactor for nothing.
pub(crate) fn into_async(master: OwnedFd) -> io::Result<tokio::io::unix::AsyncFd<OwnedFd>> {
    // Safety: `OwnedFd` owns an open descriptor that stays open, and keeps referring to the same
    // open file description, until the `AsyncFd` (which takes ownership of it) is dropped;
    // `as_raw_fd` always returns that same number.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(master, tokio::io::Interest::WRITABLE)
    }
    .map_err(|e| io::Error::other(e.to_string()))
}
