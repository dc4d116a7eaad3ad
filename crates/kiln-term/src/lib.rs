//! PTY sessions for kiln: spawning shells on a pseudo-terminal, the per-session output ring
//! addressed by byte offsets, terminal state for snapshots, and reaping. Nothing here speaks HTTP.
//!
//! This file holds the crate's public types; the work is in the modules: `pty` (the only
//! `unsafe`), `env` (allow-listed environment), `ring` (offsets), `screen` (terminal state and
//! snapshots), `session` (I/O tasks, viewers), `manager` (ids, capacity, reaping), `capacity`
//! (memory readings), `procs` (signalling a whole terminal session through `/proc`) and `spin`
//! (a lone flood's reader asking for its next piece instead of sleeping).

mod capacity;
pub mod env;
pub(crate) mod follow;
mod hold;
mod lines;
mod manager;
mod procs;
mod pty;
mod ring;
mod screen;
mod session;
mod skip;
mod spin;

pub use hold::{HOLD_MAX, Hold};
pub use manager::Manager;
pub use session::{INPUT_QUEUE_BYTES, READER_NICE, READER_THREAD_NAME, Session, ViewerGuard};

use bytes::Bytes;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Settings for a [`Manager`]. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of output kept per session for resume (4 MiB).
    pub ring_bytes: usize,
    /// Most sessions alive at once, launches in flight included (20).
    pub max_sessions: usize,
    /// A session with no user activity (input, resize, attach) for this long is ended (24 h).
    pub idle_timeout: Duration,
    /// An exited session stays listed (with its exit status and output) this long (10 min).
    pub exited_retention: Duration,
    /// Shell to start; `None` means `$SHELL`, else `/bin/bash`.
    pub shell: Option<PathBuf>,
    /// Working directory of new shells; `None` means `$HOME/projects` (created when missing).
    pub cwd: Option<PathBuf>,
    /// Home directory given to shells; `None` means `$HOME`.
    pub home: Option<PathBuf>,
    /// Extra environment for shells, applied after the allow-list; credential-looking names are
    /// still dropped.
    pub extra_env: Vec<(String, String)>,
    /// Refuse new sessions when available memory (cgroup v2 aware, page cache not counted as
    /// used) minus launches in flight would fall below this many bytes (256 MiB).
    pub min_available_memory: u64,
    /// After SIGHUP, how long a process group gets before SIGKILL (2 s).
    pub kill_grace: Duration,
    /// Lines of scrollback the terminal state keeps for snapshots (200; all but the newest 24
    /// as formatted text, about 20 KiB of plain text at 80 columns; the raw history is in the
    /// ring, and the browser keeps its own scrollback).
    pub scrollback_lines: usize,
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct SpawnRequest {
    pub cols: u16,
    pub rows: u16,
    pub label: Option<String>,
    /// Program and arguments instead of the login shell (tests and benchmarks use this).
    pub command: Option<Vec<String>>,
}

/// Why a spawn was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// At capacity: the message says which limit (session count, memory).
    #[error("{0}")]
    Capacity(String),
    /// Bad size or label; the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    #[error("could not start the shell: {0}")]
    Io(#[from] std::io::Error),
}

/// Errors of an operation on a live session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the session has exited")]
    Exited,
    #[error("{0}")]
    Invalid(String),
    #[error("terminal I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// How a session's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

/// A point-in-time description of a session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: String,
    pub label: String,
    pub created_at: SystemTime,
    pub cols: u16,
    pub rows: u16,
    pub pid: u32,
    /// Name of the foreground process group leader (from the PTY and `/proc`).
    pub foreground: Option<String>,
    pub idle: Duration,
    pub viewers: usize,
    /// End offset of the output stream.
    pub offset: u64,
    /// Bytes of input queued and not yet taken by the PTY (at most [`INPUT_QUEUE_BYTES`]).
    pub input_queued: usize,
    pub exit: Option<ExitStatus>,
}

/// Counts for status pages.
#[derive(Debug, Clone)]
pub struct CapacityInfo {
    pub live: usize,
    pub exited: usize,
    pub limit: usize,
    pub available_memory: Option<u64>,
    pub min_available_memory: u64,
}

/// Result of [`Session::read`].
#[derive(Debug, Clone)]
pub enum ReadResult {
    /// Bytes starting at `offset` (the offset asked for).
    Data { offset: u64, bytes: Bytes },
    /// The offset is the end of the stream; wait with [`Session::changed`].
    Pending,
    /// The offset is older than the ring; the oldest kept byte is at `oldest`. Take a snapshot.
    Evicted { oldest: u64 },
    /// The offset is beyond the end of the stream.
    Invalid { end: u64 },
}

/// A screen reproduction taken at an exact stream offset.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub bytes: Bytes,
    /// Live bytes continue from here.
    pub offset: u64,
    pub cols: u16,
    pub rows: u16,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ring_bytes: 4 << 20,
            max_sessions: 20,
            idle_timeout: Duration::from_secs(24 * 60 * 60),
            exited_retention: Duration::from_secs(10 * 60),
            shell: None,
            cwd: None,
            home: None,
            extra_env: Vec::new(),
            min_available_memory: 256 << 20,
            kill_grace: Duration::from_secs(2),
            scrollback_lines: 200,
        }
    }
}
