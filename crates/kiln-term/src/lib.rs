//! PTY sessions for kiln: spawning shells on a pseudo-terminal, the per-session output ring
//! addressed by byte offsets, terminal state for snapshots, and reaping. Nothing here speaks HTTP.
//!
//! This file is the crate's public contract (the server and kiln-bench code against it). The
//! bodies marked `unimplemented!` are filled in by the kiln-term work; signatures may grow but
//! should not break without updating the server.

use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
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
    /// Lines of scrollback the terminal state keeps for snapshots (1000).
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

/// Owns every session; cheap to clone.
#[derive(Clone)]
pub struct Manager {
    _inner: Arc<()>,
}

impl Manager {
    /// Creates a manager and starts its reaper. Must be called inside a tokio runtime.
    pub fn new(_opts: Options) -> Self {
        unimplemented!()
    }
    pub fn options(&self) -> &Options {
        unimplemented!()
    }
    pub fn spawn(&self, _req: SpawnRequest) -> Result<Arc<Session>, SpawnError> {
        unimplemented!()
    }
    pub fn get(&self, _id: &str) -> Option<Arc<Session>> {
        unimplemented!()
    }
    /// All sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        unimplemented!()
    }
    /// Ends the session's whole process group (hang-up, grace, kill) without blocking, and forgets
    /// it. Idempotent: returns whether it existed.
    pub fn remove(&self, _id: &str) -> bool {
        unimplemented!()
    }
    pub fn capacity(&self) -> CapacityInfo {
        unimplemented!()
    }
    /// Ends every session and waits up to `grace` for them to be reaped.
    pub async fn shutdown(&self, _grace: Duration) {
        unimplemented!()
    }
}

/// One PTY and its process group.
pub struct Session {
    _private: (),
}

impl Session {
    pub fn id(&self) -> &str {
        unimplemented!()
    }
    pub fn info(&self) -> SessionInfo {
        unimplemented!()
    }
    pub fn set_label(&self, _label: &str) -> Result<(), SessionError> {
        unimplemented!()
    }
    pub fn end_offset(&self) -> u64 {
        unimplemented!()
    }
    /// Reads up to `max` bytes from `offset` without waiting.
    pub fn read(&self, _offset: u64, _max: usize) -> ReadResult {
        unimplemented!()
    }
    /// Resolves once the stream extends beyond `offset`, the session exits, or it is removed.
    /// Cancel-safe.
    pub async fn changed(&self, _offset: u64) {
        unimplemented!()
    }
    /// A snapshot consistent with the stream at its `offset`.
    pub fn snapshot(&self) -> Snapshot {
        unimplemented!()
    }
    /// Queues input for the PTY (bounded; waits for room, never reorders or drops).
    pub async fn write(&self, _data: Bytes) -> Result<(), SessionError> {
        unimplemented!()
    }
    /// Resizes the PTY and the terminal state; bounds: cols 2..=1000, rows 1..=500.
    pub fn resize(&self, _cols: u16, _rows: u16) -> Result<(), SessionError> {
        unimplemented!()
    }
    /// Records user activity for idle reaping.
    pub fn touch(&self) {
        unimplemented!()
    }
    /// Counts a viewer while the guard lives.
    pub fn attach(self: &Arc<Self>) -> ViewerGuard {
        unimplemented!()
    }
    pub fn exit_status(&self) -> Option<ExitStatus> {
        unimplemented!()
    }
    /// Resolves when the process has exited (after its last output byte is in the ring).
    pub async fn exited(&self) -> ExitStatus {
        unimplemented!()
    }
    /// Whether the session was removed from its manager (deleted, reaped or shut down).
    pub fn is_closed(&self) -> bool {
        unimplemented!()
    }
}

/// Decrements the viewer count on drop.
pub struct ViewerGuard {
    _session: Arc<Session>,
}
