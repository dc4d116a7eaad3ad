//! The reference: a PTY opened and driven in this process. The shell runs on the slave side
//! exactly as kiln starts it (`<shell> -l`, the same allow-listed environment, a new session with
//! the PTY as controlling terminal via `setsid -c`), and the master is read and written
//! non-blocking through tokio, with nothing in between.

use crate::term::{Chunk, Term};
use anyhow::Context;
use bytes::Bytes;
use rustix::fd::OwnedFd;
use rustix::fs::OFlags;
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;
use std::path::Path;
use std::process::Stdio;
use tokio::io::unix::AsyncFd;

/// Bytes read from the master at once (64 KiB, as kiln does).
pub const READ_BYTES: usize = 64 << 10;

/// A shell on a PTY whose master this process holds.
pub struct RawPty {
    master: AsyncFd<OwnedFd>,
    child: std::process::Child,
    buf: Vec<u8>,
}

/// Starts `shell -l` on a new PTY of `cols`x`rows`, in `home/projects`, with HOME = `home`, as
/// kiln does; returns the master (non-blocking) and the shell. The relay reference
/// (`relay.rs`) starts its shells the same way.
pub fn spawn_shell(
    shell: &Path,
    home: &Path,
    cols: u16,
    rows: u16,
) -> anyhow::Result<(OwnedFd, std::process::Child)> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave: OwnedFd = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    rustix::termios::tcsetwinsize(
        &master,
        Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )?;
    let parent: Vec<(String, String)> = std::env::vars().collect();
    let shell_s = shell.to_string_lossy();
    let env = kiln_term::env::build(&parent, home, &shell_s, &[]);
    let cwd = home.join("projects");
    std::fs::create_dir_all(&cwd)?;
    let mut cmd = std::process::Command::new("setsid");
    crate::orphan::shell(&mut cmd);
    let child = cmd
        .arg("-c")
        .arg(shell)
        .arg("-l")
        .env_clear()
        .envs(env)
        .current_dir(&cwd)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        .spawn()
        .context("cannot start the reference shell (setsid from util-linux is needed)")?;
    rustix::fs::fcntl_setfl(
        &master,
        rustix::fs::fcntl_getfl(&master)? | OFlags::NONBLOCK,
    )?;
    Ok((master, child))
}

/// Registers a non-blocking master with the current tokio runtime's reactor.
pub fn into_async(master: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // `AsyncFd::new` is deprecated because a borrowed descriptor could be closed behind the
    // reactor's back; here the `AsyncFd` owns the `OwnedFd`, which is exactly the safe case
    // (the replacement, `register`, is `unsafe`, which this crate does not allow).
    #[allow(deprecated)]
    AsyncFd::new(master)
}

/// Writes all of `data` to the master.
pub async fn write_all(master: &AsyncFd<OwnedFd>, data: &[u8]) -> std::io::Result<()> {
    let mut off = 0;
    while off < data.len() {
        let mut guard = master.writable().await?;
        match guard.try_io(|fd| rustix::io::write(fd.get_ref(), &data[off..]).map_err(Into::into)) {
            Ok(Ok(n)) => off += n,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
    Ok(())
}

/// Reads once from the master into `buf`; `Ok(0)` when the program is gone (EOF or EIO: every
/// slave descriptor is closed).
pub async fn read_some(master: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = master.readable().await?;
        match guard.try_io(|fd| rustix::io::read(fd.get_ref(), &mut *buf).map_err(Into::into)) {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                return Ok(0);
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => {}
        }
    }
}

/// Ends a shell started by [`spawn_shell`] and its whole process group.
pub fn kill_shell(child: &mut std::process::Child) {
    // The shell leads its own session and process group (setsid), so its group id is its pid.
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl RawPty {
    /// Starts `shell -l` on a new PTY of `cols`x`rows`, in `home/projects`, with HOME = `home`.
    /// Must run inside a tokio runtime (the master registers with its reactor).
    pub fn spawn(shell: &Path, home: &Path, cols: u16, rows: u16) -> anyhow::Result<Self> {
        let (master, child) = spawn_shell(shell, home, cols, rows)?;
        Ok(RawPty {
            master: into_async(master)?,
            child,
            buf: vec![0u8; READ_BYTES],
        })
    }
}

impl Term for RawPty {
    async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        Ok(write_all(&self.master, data).await?)
    }

    async fn recv(&mut self) -> anyhow::Result<Chunk> {
        match read_some(&self.master, &mut self.buf).await? {
            0 => Ok(Chunk::End),
            n => Ok(Chunk::Data(Bytes::copy_from_slice(&self.buf[..n]))),
        }
    }
}

impl Drop for RawPty {
    fn drop(&mut self) {
        kill_shell(&mut self.child);
    }
}
