//! The PTY reader: one thread for every session of the process, waiting on all their masters
//! at once (`epoll`), reading each into its ring.
//!
//! Why a thread and not a task: a reader task woken through the reactor for every 4 KiB the line
//! discipline hands over kept one stream at 0.6-0.85x of a bare relay; a thread that sleeps in
//! the kernel until a master has bytes reaches it. Why one thread and not one per session: with
//! 20 floods, 20 threads each slept and woke once per 4 KiB, and those task switches cost more
//! CPU per MB than the relay's two runtime threads, which collect many ready PTYs per wait. One
//! thread that is still busy when more masters become ready finds them all in its next wait
//! without sleeping (`docs/performance.md`). It runs at a lower priority than the runtime's
//! workers ([`READER_NICE`]), so under many floods sending and keystrokes go first.
//!
//! Per ready master the thread reads until the PTY has nothing more (at most
//! [`READS_PER_TURN`] reads, so one flood cannot keep the others waiting), and tells viewers of
//! new bytes once per [`PUBLISH_EVERY_BYTES`] of a burst or when the burst ends, not per read:
//! senders wake less and send larger frames. It never blocks on anything but `epoll`: a session
//! whose ring has no room for the terminal state, or whose live viewer is a window behind
//! (`follow.rs`, `hold.rs`), leaves the set and a task on its runtime waits for room and puts it
//! back. The shell writing then blocks on the full PTY, as in any terminal.

use crate::session::Session;
use rustix::event::epoll::{self, Event, EventData, EventFlags};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Most bytes read from a PTY at once (8 KiB: Linux's line discipline hands over at most 4 KiB
/// per read). The buffer is on the reader thread's stack: the reader never allocates to read.
const READ_CHUNK_BYTES: usize = 8 << 10;
/// Most reads from one master before the thread turns to the next ready one.
const READS_PER_TURN: usize = 8;
/// Bytes read in a burst before viewers are told (32 KiB); a burst's end is told at once.
const PUBLISH_EVERY_BYTES: u64 = 32 << 10;
/// Ready masters taken from the kernel per wait.
const EVENTS_PER_WAIT: usize = 64;
/// Most the reader runs ahead of a live viewer (256 KiB): what a flood interrupted with Ctrl-C
/// may still have to draw before the prompt, beyond what is already on its way to the browser.
const HOLD_WINDOW_MAX: usize = 256 << 10;
/// Nice value of the reader thread, above the workers' (0): under load, sending what was read
/// and answering keystrokes come before reading still more of a flood.
pub const READER_NICE: i32 = 5;
/// Name of the reader thread (as `/proc/<pid>/task/<tid>/comm` shows it).
pub const READER_THREAD_NAME: &str = "kiln-pty-reader";

/// The process's reader, started with the first session.
static READER: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

/// What the reader thread and the tasks that wait for room share.
struct Shared {
    epoll: OwnedFd,
    /// Sessions added, or back from waiting for room, that the thread has not picked up yet.
    incoming: Mutex<HashMap<u64, Reading>>,
    next_key: AtomicU64,
}

/// One session's reading: owned by the reader thread, or by the task waiting for room.
struct Reading {
    key: u64,
    session: Arc<Session>,
    /// The session's runtime, where waiting for room happens.
    runtime: Handle,
    /// The ring's end: the reader is the ring's only writer.
    end: u64,
    /// What viewers were last told the end is.
    published: u64,
    /// Bytes per read (less than a quarter of a small ring, so the state can always catch up).
    chunk: usize,
    /// How far the reader may run ahead of a live viewer.
    window: usize,
    /// Told when the reader has finished (the lifecycle task waits for it).
    done: Option<oneshot::Sender<()>>,
}

/// What a turn on one ready master ended with.
enum Turn {
    /// Read what there was (or the turn's share); the master stays in the set.
    Again,
    /// No room in the ring or ahead of a viewer: wait for it outside the set.
    Wait,
    /// The PTY ended (every slave closed) or failed.
    End,
}

/// Starts reading `session`'s master: the reader thread picks it up at once. `done` is told when
/// the reader has finished with it.
pub(crate) fn start(session: Arc<Session>, done: oneshot::Sender<()>) -> std::io::Result<()> {
    let shared = shared()?;
    let ring_bytes = session.ring_bytes();
    let chunk = READ_CHUNK_BYTES.min((ring_bytes / 4).max(1));
    let end = session.end_offset();
    let reading = Reading {
        key: shared.next_key.fetch_add(1, Ordering::Relaxed),
        session,
        runtime: Handle::current(),
        end,
        published: end,
        chunk,
        window: hold_window(ring_bytes, chunk),
        done: Some(done),
    };
    shared.add(reading).map_err(|(_, e)| e.into())
}

/// The reader, started on first use.
fn shared() -> std::io::Result<Arc<Shared>> {
    let mut slot = READER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(shared) = slot.as_ref() {
        return Ok(shared.clone());
    }
    let shared = Arc::new(Shared {
        epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        incoming: Mutex::new(HashMap::new()),
        next_key: AtomicU64::new(0),
    });
    {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(READER_THREAD_NAME.into())
            .spawn(move || run(&shared))?;
    }
    *slot = Some(shared.clone());
    Ok(shared)
}

/// How far the reader may run ahead of a live viewer: a quarter of the ring, at most
/// [`HOLD_WINDOW_MAX`], never less than two reads.
fn hold_window(ring_bytes: usize, chunk: usize) -> usize {
    (ring_bytes / 4)
        .min(HOLD_WINDOW_MAX)
        .max(2 * chunk)
        .min(ring_bytes)
}

impl Shared {
    fn incoming(&self) -> MutexGuard<'_, HashMap<u64, Reading>> {
        self.incoming.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `reading`'s master in the set (level-triggered: ready while it has bytes or has
    /// ended). Gives `reading` back if the kernel refuses.
    fn add(&self, reading: Reading) -> Result<(), (Reading, Errno)> {
        let key = reading.key;
        let session = reading.session.clone();
        // In the map before the set: the thread may see the master ready at once.
        self.incoming().insert(key, reading);
        match epoll::add(
            &self.epoll,
            session.master_fd(),
            EventData::new_u64(key),
            EventFlags::IN,
        ) {
            Ok(()) => Ok(()),
            Err(e) => match self.incoming().remove(&key) {
                Some(reading) => Err((reading, e)),
                // Cannot happen: the thread only takes keys the kernel reported.
                None => Ok(()),
            },
        }
    }

    /// Takes `reading`'s master out of the set.
    fn remove(&self, reading: &Reading) {
        if let Err(e) = epoll::delete(&self.epoll, reading.session.master_fd()) {
            tracing::warn!(session = %reading.session.id(), error = %e, "pty left the reader's set with an error");
        }
    }

    /// Waits on `reading`'s runtime until its session has room again, then puts it back.
    fn wait_for_room(self: &Arc<Self>, reading: Reading) {
        let shared = self.clone();
        let runtime = reading.runtime.clone();
        // A runtime that has shut down drops the task, and with it the reading.
        runtime.spawn(async move {
            let (end, chunk, window) = (reading.end, reading.chunk, reading.window);
            reading.session.wait_room(end, chunk, window).await;
            if let Err((reading, e)) = shared.add(reading) {
                tracing::warn!(session = %reading.session.id(), error = %e, "pty cannot rejoin the reader");
                reading.finish();
            }
        });
    }
}

/// The reader thread: waits for ready masters and gives each a turn.
fn run(shared: &Arc<Shared>) {
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), READER_NICE)
    {
        tracing::debug!(error = %e, "reader priority unchanged");
    }
    let mut reading: HashMap<u64, Reading> = HashMap::new();
    let mut buf = [0u8; READ_CHUNK_BYTES];
    let mut events = [MaybeUninit::<Event>::uninit(); EVENTS_PER_WAIT];
    loop {
        let ready = match epoll::wait(&shared.epoll, &mut events, None) {
            Ok((ready, _)) => ready,
            Err(Errno::INTR) => continue,
            Err(e) => {
                // Not expected with a valid set and buffer; do not spin if it happens.
                tracing::error!(error = %e, "waiting for pty output failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        for event in ready.iter() {
            let key = event.data.u64();
            let r = match reading.entry(key) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => match shared.incoming().remove(&key) {
                    Some(r) => v.insert(r),
                    None => continue,
                },
            };
            match r.turn(&mut buf) {
                Turn::Again => {}
                Turn::Wait => {
                    if let Some(r) = reading.remove(&key) {
                        shared.remove(&r);
                        shared.wait_for_room(r);
                    }
                }
                Turn::End => {
                    if let Some(r) = reading.remove(&key) {
                        shared.remove(&r);
                        r.finish();
                    }
                }
            }
        }
    }
}

impl Reading {
    /// Reads what the master has, up to [`READS_PER_TURN`] reads, while there is room.
    fn turn(&mut self, buf: &mut [u8; READ_CHUNK_BYTES]) -> Turn {
        let buf = &mut buf[..self.chunk];
        for _ in 0..READS_PER_TURN {
            if !self.session.has_room(self.end, self.chunk, self.window) {
                // Whoever we wait for must see everything read so far.
                self.publish();
                return Turn::Wait;
            }
            match rustix::io::read(self.session.master_fd(), &mut *buf) {
                Ok(0) => return Turn::End,
                Ok(n) => {
                    self.end = self.session.append(&buf[..n]);
                    if self.end - self.published >= PUBLISH_EVERY_BYTES {
                        self.publish();
                    }
                }
                // The master is non-blocking (the writer task shares it): nothing more for now.
                Err(Errno::AGAIN) => {
                    self.publish();
                    return Turn::Again;
                }
                // EIO: every slave descriptor is closed, the normal end of a session's output.
                Err(Errno::IO) => return Turn::End,
                Err(Errno::INTR) => {}
                Err(e) => {
                    tracing::warn!(session = %self.session.id(), error = %e, "pty read failed");
                    return Turn::End;
                }
            }
        }
        Turn::Again
    }

    fn publish(&mut self) {
        if self.end > self.published {
            self.published = self.end;
            self.session.publish(self.end);
        }
    }

    /// The reader has finished with this session: everything read is told, then the end.
    fn finish(mut self) {
        self.publish();
        self.session.reader_finished();
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_window_is_a_quarter_of_the_ring_within_its_bounds() {
        assert_eq!(hold_window(4 << 20, READ_CHUNK_BYTES), HOLD_WINDOW_MAX);
        assert_eq!(hold_window(512 << 10, READ_CHUNK_BYTES), 128 << 10);
        // Never less than two reads, never more than the ring.
        assert_eq!(hold_window(16 << 10, 4 << 10), 8 << 10);
        assert_eq!(hold_window(1000, 250), 500);
        assert_eq!(hold_window(3, 1), 2);
    }
}
