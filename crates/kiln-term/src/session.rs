//! One PTY session: the reader thread (PTY -> ring), the writer task (input queue bounded in
//! bytes -> PTY), the lifecycle task (exit status, ending the whole session) and the read API
//! viewers use at their own offsets.
//!
//! The reader is a thread of its own, not a task: it sleeps in the kernel (`poll`, then `read`)
//! until the PTY has bytes, and runs at a lower priority than the runtime's workers
//! ([`READER_NICE`]). A reader task waking through the reactor for every 4 KiB the line
//! discipline hands over kept one stream at 0.6-0.85x of a bare relay; the thread reaches it, and
//! under many floods the lower priority lets sending and keystrokes go first. It tells viewers of
//! new bytes once per 16 KiB of a burst (a viewer's largest frame) or when the burst ends, not
//! per read, so senders wake less and send full frames while the reader reads on
//! (`docs/performance.md`). Its only waits besides the PTY are for the terminal state and for
//! live viewers (`follow.rs`, `hold.rs`): checked at once and, only when there is no room and
//! after telling viewers, awaited (the terminal state on the runtime through its handle, the
//! viewers on a condition variable, which outlives a runtime shut down meanwhile). While it is the process's only reader
//! in a flood it asks the PTY for its next piece for a few microseconds before reading, rather
//! than sleeping in `read` per 4 KiB (`spin.rs`). Its `poll` also watches an eventfd,
//! so the lifecycle task can stop it when a process outside the session keeps the PTY open after
//! the session ended.
//!
//! Locking: one short `std::sync::Mutex` per session guards the ring and metadata, another the
//! terminal state (fed lazily by `follow.rs`, off the reader's path; taken inside the first, never
//! the other way round); neither is held across an `.await`. Progress (end offset, exit, removal, resizes) is published on a
//! `watch` channel so any number of viewers wait without a queue of their own.

use crate::follow::{Follower, Stream};
use crate::hold::{Hold, Holds};
use crate::procs;
use crate::pty;
use crate::ring::{Ring, Slice};
use crate::screen::Screen;
use crate::{ExitStatus, ReadResult, SessionError, SessionInfo, Snapshot};
use bytes::Bytes;
use rustix::fd::OwnedFd;
use rustix::process::Signal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::unix::AsyncFd;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Most bytes read from the PTY at once (8 KiB: Linux's line discipline hands over at most 4 KiB
/// per read). The buffer is on the reader thread's stack, so a reader thread never allocates
/// and never gets an allocator arena of its own.
const READ_CHUNK_BYTES: usize = 8 << 10;
/// Bytes a reader reads in a burst before it tells viewers (16 KiB, the largest frame a viewer
/// is sent, `FRAME_BYTES` in kiln's `server/ws.rs`: each wake-up is one full frame, sent while
/// the next is read; 32 KiB kept one stream at 0.9x of a bare relay, 8 KiB cost CPU); a burst's
/// end is told at once.
const PUBLISH_EVERY_BYTES: u64 = 16 << 10;
/// How much nicer reader threads are than the process (its workers and the shells it starts
/// inherit its nice value; at most 19): under load, sending what was read and answering
/// keystrokes come before reading still more of a flood, whatever nice value kiln runs at.
pub const READER_NICE: i32 = 5;
/// Name of reader threads (as `/proc/<pid>/task/<tid>/comm` shows it).
pub const READER_THREAD_NAME: &str = "kiln-pty-reader";
/// Bytes of input queued per session, not yet written to the PTY, before writers wait (1 MiB).
/// A shell that stops reading its input holds at most this much in kiln's memory, whatever the
/// clients send; a larger message goes in in pieces as the shell reads.
pub const INPUT_QUEUE_BYTES: usize = 1 << 20;
/// Pieces a message larger than [`INPUT_QUEUE_BYTES`] is queued in (256 KiB).
const INPUT_PIECE_BYTES: usize = INPUT_QUEUE_BYTES / 4;
/// Queue slots (each holds at least one byte of the budget; the byte bound is what counts).
const INPUT_QUEUE_SLOTS: usize = 1024;

/// Queued input and the part of the byte budget it holds (released as it reaches the PTY).
type Queued = (Bytes, OwnedSemaphorePermit);
/// Allowed PTY sizes.
pub(crate) const COLS: std::ops::RangeInclusive<u16> = 2..=1000;
pub(crate) const ROWS: std::ops::RangeInclusive<u16> = 1..=500;

/// What viewers wait on.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    end: u64,
    exit: Option<ExitStatus>,
    closed: bool,
    /// Bumped on every resize, so viewers learn about it.
    resizes: u64,
}

struct State {
    ring: Ring,
    /// Every byte from this offset to the ring's end is plain text, as `skip.rs` means it (the
    /// reader's mark, so the terminal state can skip a plain flood without scanning it again).
    plain_from: u64,
    label: String,
    cols: u16,
    rows: u16,
    last_activity: Instant,
    exited_at: Option<Instant>,
}

/// One PTY and its process group.
pub struct Session {
    id: String,
    seq: u64,
    pid: u32,
    created_at: SystemTime,
    state: Mutex<State>,
    follower: Follower,
    ring_bytes: usize,
    reader_done: AtomicBool,
    /// Set (and `reader_wake` signalled) when the reader must stop although the PTY has not
    /// ended: a process outside the session still holds the terminal open (see `lifecycle`).
    reader_stop: AtomicBool,
    /// An eventfd the reader polls beside the master, so a stop reaches it while it sleeps.
    reader_wake: OwnedFd,
    progress: watch::Sender<Progress>,
    input: mpsc::Sender<Queued>,
    /// The input byte budget ([`INPUT_QUEUE_BYTES`]); closed when the writer stops.
    input_budget: Arc<Semaphore>,
    /// One message at a time: the pieces of a large paste stay together.
    input_turn: tokio::sync::Mutex<()>,
    master: Arc<AsyncFd<OwnedFd>>,
    viewers: AtomicUsize,
    /// Live viewers that hold the reader back so they lose nothing (see `hold.rs`).
    holds: Arc<Holds>,
    ending: AtomicBool,
    kill_grace: Duration,
}

/// Everything needed to start a session's tasks.
pub(crate) struct Start {
    pub id: String,
    pub seq: u64,
    pub label: String,
    pub cols: u16,
    pub rows: u16,
    /// The output ring, mapped before the shell starts (a failure then starts nothing).
    pub ring: Ring,
    pub scrollback_lines: usize,
    pub kill_grace: Duration,
}

impl Session {
    pub(crate) fn start(spawned: pty::Spawned, s: Start) -> std::io::Result<Arc<Self>> {
        let master = Arc::new(pty::into_async(spawned.master)?);
        let ring_bytes = s.ring.capacity();
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE_SLOTS);
        let input_budget = Arc::new(Semaphore::new(INPUT_QUEUE_BYTES));
        let (progress, _) = watch::channel(Progress::default());
        let reader_wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        let max_held = (ring_bytes / 2).min(4096);
        let session = Arc::new(Session {
            id: s.id,
            seq: s.seq,
            pid: spawned.pid,
            created_at: SystemTime::now(),
            state: Mutex::new(State {
                ring: s.ring,
                plain_from: 0,
                label: s.label,
                cols: s.cols,
                rows: s.rows,
                last_activity: Instant::now(),
                exited_at: None,
            }),
            follower: Follower::new(
                Screen::new(s.cols, s.rows, s.scrollback_lines, max_held),
                ring_bytes,
            ),
            ring_bytes,
            reader_done: AtomicBool::new(false),
            reader_stop: AtomicBool::new(false),
            reader_wake,
            progress,
            input: input_tx,
            input_budget: input_budget.clone(),
            input_turn: tokio::sync::Mutex::new(()),
            master,
            viewers: AtomicUsize::new(0),
            holds: Arc::new(Holds::default()),
            ending: AtomicBool::new(false),
            kill_grace: s.kill_grace,
        });
        let (reader_done_tx, reader_done_rx) = tokio::sync::oneshot::channel();
        {
            let session = session.clone();
            let runtime = tokio::runtime::Handle::current();
            std::thread::Builder::new()
                .name(READER_THREAD_NAME.into())
                .spawn(move || read_thread(session, runtime, reader_done_tx))?;
        }
        tokio::spawn(crate::follow::run(session.clone()));
        tokio::spawn(write_loop(
            session.master.clone(),
            input_rx,
            input_budget,
            session.id.clone(),
        ));
        tokio::spawn(lifecycle(session.clone(), spawned.child, reader_done_rx));
        tracing::info!(session = %session.id, pid = session.pid, fd = pty::raw(session.master.get_ref()), "session started");
        Ok(session)
    }

    /// Makes the reader stop once the PTY has nothing to read (it drains what is there first):
    /// the flag is checked when a read finds the PTY empty, the eventfd wakes its `poll`.
    fn stop_reader(&self) {
        self.reader_stop.store(true, Ordering::Release);
        if let Err(e) = rustix::io::write(&self.reader_wake, &1u64.to_ne_bytes()) {
            tracing::warn!(session = %self.id, error = %e, "cannot wake the reader to stop it");
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn info(&self) -> SessionInfo {
        let progress = *self.progress.borrow();
        let (label, cols, rows, idle) = {
            let st = self.lock();
            (
                st.label.clone(),
                st.cols,
                st.rows,
                st.last_activity.elapsed(),
            )
        };
        let foreground = if progress.exit.is_none() {
            pty::foreground_pgrp(self.master.get_ref()).and_then(procs::comm)
        } else {
            None
        };
        SessionInfo {
            id: self.id.clone(),
            label,
            created_at: self.created_at,
            cols,
            rows,
            pid: self.pid,
            foreground,
            idle,
            viewers: self.viewers.load(Ordering::Relaxed),
            offset: progress.end,
            input_queued: self.input_queued(),
            exit: progress.exit,
        }
    }

    pub fn set_label(&self, label: &str) -> Result<(), SessionError> {
        let label = validate_label(label).map_err(SessionError::Invalid)?;
        self.lock().label = label;
        Ok(())
    }

    pub fn end_offset(&self) -> u64 {
        self.progress.borrow().end
    }

    pub fn size(&self) -> (u16, u16) {
        let st = self.lock();
        (st.cols, st.rows)
    }

    pub fn read(&self, offset: u64, max: usize) -> ReadResult {
        match self.lock().ring.read(offset, max) {
            Slice::Data(bytes) => ReadResult::Data { offset, bytes },
            Slice::AtEnd => ReadResult::Pending,
            Slice::Evicted { oldest } => ReadResult::Evicted { oldest },
            Slice::Beyond { end } => ReadResult::Invalid { end },
        }
    }

    pub async fn changed(&self, offset: u64) {
        let mut rx = self.progress.subscribe();
        {
            let p = rx.borrow_and_update();
            if p.end > offset || p.exit.is_some() || p.closed {
                return;
            }
        }
        let _ = rx.changed().await;
    }

    pub fn snapshot(&self) -> Snapshot {
        let (bytes, offset, cols, rows) = self.follower.snapshot(self);
        Snapshot {
            bytes: Bytes::from(bytes),
            offset,
            cols,
            rows,
        }
    }

    /// Queues input for the PTY, in order, waiting while the session's input queue holds
    /// [`INPUT_QUEUE_BYTES`] (backpressure: a shell that does not read makes writers wait, and
    /// nothing is dropped). Data of at most [`INPUT_QUEUE_BYTES`] is queued whole or not at all,
    /// so dropping this future (a timeout) loses or half-writes nothing; larger data is queued
    /// in pieces as room appears, and other writers wait until the last piece is in.
    pub async fn write(&self, data: Bytes) -> Result<(), SessionError> {
        if self.progress.borrow().exit.is_some() {
            return Err(SessionError::Exited);
        }
        self.touch();
        if data.is_empty() {
            return Ok(());
        }
        let _turn = self.input_turn.lock().await;
        let piece = if data.len() <= INPUT_QUEUE_BYTES {
            data.len()
        } else {
            INPUT_PIECE_BYTES
        };
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = rest.split_to(piece.min(rest.len()));
            // `chunk.len()` is at most INPUT_QUEUE_BYTES (1 MiB): it fits a u32.
            let permit = self
                .input_budget
                .clone()
                .acquire_many_owned(chunk.len() as u32)
                .await
                .map_err(|_| SessionError::Exited)?;
            self.input
                .send((chunk, permit))
                .await
                .map_err(|_| SessionError::Exited)?;
        }
        Ok(())
    }

    /// Bytes of input queued and not yet written to the PTY.
    pub fn input_queued(&self) -> usize {
        INPUT_QUEUE_BYTES.saturating_sub(self.input_budget.available_permits())
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), SessionError> {
        check_size(cols, rows).map_err(SessionError::Invalid)?;
        if self.progress.borrow().exit.is_some() {
            return Err(SessionError::Exited);
        }
        {
            let mut st = self.lock();
            st.last_activity = Instant::now();
            if st.cols == cols && st.rows == rows {
                return Ok(());
            }
            st.cols = cols;
            st.rows = rows;
            // The state changes size where the stream is now: later bytes are drawn for it.
            self.follower.resize_at(st.ring.end(), cols, rows);
            pty::set_size(self.master.get_ref(), cols, rows)?;
        }
        self.progress.send_modify(|p| p.resizes += 1);
        Ok(())
    }

    pub fn touch(&self) {
        self.lock().last_activity = Instant::now();
    }

    pub fn attach(self: &Arc<Self>) -> ViewerGuard {
        self.viewers.fetch_add(1, Ordering::Relaxed);
        self.touch();
        ViewerGuard {
            session: self.clone(),
        }
    }

    /// Registers a live viewer that has sent everything before `offset`: until it is dropped,
    /// the reader stays at most a window ahead of it (for a bounded time, see `hold.rs`).
    pub fn hold(&self, offset: u64) -> Hold {
        self.holds.register(offset)
    }

    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.progress.borrow().exit
    }

    pub async fn exited(&self) -> ExitStatus {
        let mut rx = self.progress.subscribe();
        loop {
            if let Some(e) = rx.borrow_and_update().exit {
                return e;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`; this cannot happen while we hold `&self`.
                return ExitStatus {
                    code: None,
                    signal: None,
                };
            }
        }
    }

    /// Resolves once the session is removed from its manager.
    pub async fn closed(&self) {
        let mut rx = self.progress.subscribe();
        while !rx.borrow_and_update().closed {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.progress.borrow().closed
    }

    pub(crate) fn idle(&self) -> Duration {
        self.lock().last_activity.elapsed()
    }

    pub(crate) fn exited_for(&self) -> Option<Duration> {
        self.lock().exited_at.map(|t| t.elapsed())
    }

    /// Marks the session removed (waking every viewer) and ends its processes.
    pub(crate) fn close(self: &Arc<Self>) {
        self.progress.send_modify(|p| p.closed = true);
        self.terminate();
    }

    /// Ends every process of the session: hang-up, grace period, kill. Never blocks; idempotent.
    pub(crate) fn terminate(self: &Arc<Self>) {
        if self.ending.swap(true, Ordering::AcqRel) || self.exit_status().is_some() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let sid = me.pid as i32;
            procs::signal_session(sid, Signal::HUP);
            procs::signal_session(sid, Signal::CONT);
            if tokio::time::timeout(me.kill_grace, me.exited())
                .await
                .is_err()
            {
                tracing::info!(session = %me.id, "processes ignored hang-up; killing");
                procs::signal_session(sid, Signal::KILL);
            }
        });
    }
}

impl Stream for Session {
    fn follower(&self) -> &Follower {
        &self.follower
    }

    fn end_offset(&self) -> u64 {
        Session::end_offset(self)
    }

    fn read(&self, offset: u64, max: usize) -> ReadResult {
        Session::read(self, offset, max)
    }

    fn reader_finished(&self) -> bool {
        self.reader_done.load(Ordering::Acquire)
    }

    fn plain_from(&self) -> u64 {
        self.lock().plain_from
    }

    fn id(&self) -> &str {
        Session::id(self)
    }
}

/// Decrements the viewer count on drop.
pub struct ViewerGuard {
    session: Arc<Session>,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.session.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn check_size(cols: u16, rows: u16) -> Result<(), String> {
    if !COLS.contains(&cols) || !ROWS.contains(&rows) {
        return Err(format!(
            "terminal size {cols}x{rows} is out of bounds: cols must be {}..={} and rows {}..={}",
            COLS.start(),
            COLS.end(),
            ROWS.start(),
            ROWS.end()
        ));
    }
    Ok(())
}

pub(crate) fn validate_label(label: &str) -> Result<String, String> {
    let label = label.trim();
    let n = label.chars().count();
    if n == 0 || n > 64 {
        return Err("a label must be 1 to 64 characters".into());
    }
    if label.chars().any(char::is_control) {
        return Err("a label cannot contain control characters".into());
    }
    Ok(label.to_owned())
}

/// Most the reader runs ahead of a live viewer (256 KiB): what a flood interrupted with Ctrl-C
/// may still have to draw before the prompt, beyond what is already on its way to the browser.
const HOLD_WINDOW_MAX: usize = 256 << 10;

/// How far the reader may run ahead of a live viewer: a quarter of the ring, at most
/// [`HOLD_WINDOW_MAX`], never less than two reads.
fn hold_window(ring_bytes: usize, chunk: usize) -> usize {
    (ring_bytes / 4)
        .min(HOLD_WINDOW_MAX)
        .max(2 * chunk)
        .min(ring_bytes)
}

/// The reader: PTY -> ring until the PTY reports the end (EIO once every slave descriptor is
/// closed) or fails. Never overwrites what the terminal state has not consumed, and never runs
/// more than the hold window ahead of a live viewer (bounded in time, see `hold.rs`).
fn read_thread(
    session: Arc<Session>,
    runtime: tokio::runtime::Handle,
    done: tokio::sync::oneshot::Sender<()>,
) {
    use rustix::event::{PollFd, PollFlags, poll};
    use rustix::io::Errno;
    // This thread started with its spawner's nice value, the process's.
    let nice = rustix::process::getpriority_process(None)
        .map_or(READER_NICE, |own| own.saturating_add(READER_NICE).min(19));
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice) {
        tracing::debug!(session = %session.id, nice, error = %e, "reader priority unchanged");
    }
    // Reads stay well under the ring's size so the follower always has room to catch up.
    let chunk = READ_CHUNK_BYTES.min((session.ring_bytes / 4).max(1));
    let window = hold_window(session.ring_bytes, chunk);
    let mut stack_buf = [0u8; READ_CHUNK_BYTES];
    let buf = &mut stack_buf[..chunk];
    // The reader is the only writer of the ring: `end` is its end; viewers see `published`.
    let mut end = session.end_offset();
    let mut published = end;
    let mut flood = crate::spin::FloodMark::default();
    let publish = |end: u64, published: &mut u64| {
        if end > *published {
            *published = end;
            session.progress.send_modify(|p| p.end = end);
            session.follower.grew(end);
        }
    };
    loop {
        if !session.follower.has_room(end, chunk, session.ring_bytes)
            || !session.holds.has_room(end, chunk, window)
        {
            // Whoever we wait for must see everything read so far.
            publish(end, &mut published);
            if !session.follower.has_room(end, chunk, session.ring_bytes) {
                runtime.block_on(session.follower.wait_room(end, chunk, session.ring_bytes));
            }
            session.holds.wait_room(end, chunk, window);
        }
        let fd = session.master.get_ref();
        if flood.should_spin() {
            crate::spin::wait_for_input(fd, crate::spin::SPIN_BUDGET);
        }
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => break,
            Ok(n) => {
                flood.read(n);
                // Looked at here, while the bytes are in the cache, and marked with them.
                let plain = crate::skip::chunk_is_plain(&buf[..n]);
                end = {
                    let mut st = session.lock();
                    st.ring.push(&buf[..n]);
                    if !plain {
                        st.plain_from = st.ring.end();
                    }
                    st.ring.end()
                };
                // Viewers learn of a burst once per PUBLISH_EVERY_BYTES or when it ends, not
                // per 4 KiB read: fewer wake-ups, larger frames.
                if end - published >= PUBLISH_EVERY_BYTES {
                    publish(end, &mut published);
                }
            }
            // The master is non-blocking (the writer task shares it): sleep until it has bytes.
            Err(Errno::AGAIN) => {
                flood.clear();
                publish(end, &mut published);
                // Told to stop, and the PTY is empty yet not ended: whoever holds it open is not
                // of the session (a reader held back by a slow viewer drains it first).
                if session.reader_stop.load(Ordering::Acquire) {
                    tracing::info!(session = %session.id, "terminal still held open by a process outside the session; its output is no longer read");
                    break;
                }
                let mut fds = [
                    PollFd::new(fd, PollFlags::IN),
                    PollFd::new(&session.reader_wake, PollFlags::IN),
                ];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => {
                        tracing::warn!(session = %session.id, error = %e, "pty poll failed");
                        break;
                    }
                }
            }
            // EIO: every slave descriptor is closed, the normal end of a session's output.
            Err(Errno::IO) => break,
            Err(Errno::INTR) => {}
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "pty read failed");
                break;
            }
        }
    }
    publish(end, &mut published);
    session.reader_done.store(true, Ordering::Release);
    session.follower.reader_done();
    session.progress.send_modify(|_| {});
    let _ = done.send(());
}

async fn write_loop(
    master: Arc<AsyncFd<OwnedFd>>,
    mut input: mpsc::Receiver<Queued>,
    budget: Arc<Semaphore>,
    id: String,
) {
    // Writers waiting for room learn that the session is gone when the writer stops.
    let _close = CloseOnDrop(budget);
    while let Some((data, mut permit)) = input.recv().await {
        let mut off = 0;
        while off < data.len() {
            let mut guard = match master.writable().await {
                Ok(g) => g,
                Err(_) => return,
            };
            match guard.try_io(|fd| {
                rustix::io::write(fd.get_ref(), &data[off..]).map_err(std::io::Error::from)
            }) {
                Ok(Ok(n)) => {
                    off += n;
                    // Room for more input as soon as these bytes are in the PTY.
                    drop(permit.split(n));
                }
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => {
                    tracing::debug!(session = %id, error = %e, "pty write failed; input dropped");
                    return;
                }
                Err(_would_block) => {}
            }
        }
    }
}

/// Closes the input budget when the writer task ends, however it ends.
struct CloseOnDrop(Arc<Semaphore>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

async fn lifecycle(
    session: Arc<Session>,
    mut child: tokio::process::Child,
    reader_done: tokio::sync::oneshot::Receiver<()>,
) {
    use std::os::unix::process::ExitStatusExt;
    let status = match child.wait().await {
        Ok(s) => ExitStatus {
            code: s.code(),
            signal: s.signal(),
        },
        Err(e) => {
            tracing::warn!(session = %session.id, error = %e, "waiting for the shell failed");
            ExitStatus {
                code: None,
                signal: None,
            }
        }
    };
    // The shell is gone: end what it left behind (background jobs), then let the reader drain
    // the PTY so the last bytes are in the ring before the exit is announced.
    let sid = session.pid as i32;
    let mut reader_done = reader_done;
    if procs::signal_session(sid, Signal::HUP) > 0 {
        procs::signal_session(sid, Signal::CONT);
    }
    if tokio::time::timeout(session.kill_grace, &mut reader_done)
        .await
        .is_err()
    {
        procs::signal_session(sid, Signal::KILL);
        if tokio::time::timeout(Duration::from_secs(2), &mut reader_done)
            .await
            .is_err()
        {
            // Every process of the session is gone, yet the PTY has not ended: one that left the
            // session (`setsid`) keeps the terminal open. Stop reading, or the reader thread and
            // the ring would live as long as that process.
            session.stop_reader();
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut reader_done).await;
        }
    }
    session.lock().exited_at = Some(Instant::now());
    // Writers waiting for room in the input queue get `Exited` rather than waiting on.
    session.input_budget.close();
    session.progress.send_modify(|p| p.exit = Some(status));
    tracing::info!(session = %session.id, code = ?status.code, signal = ?status.signal, "session exited");
}
