//! Live viewers that hold the reader back, so a viewer that keeps up never loses a byte.
//!
//! A WebSocket viewer registers how far it has sent. The reader does not read more from the PTY
//! while a registered viewer is more than a window behind the stream's end: the kernel's PTY
//! buffer fills and the program writing blocks, as in any terminal. The hold is bounded: a viewer
//! that has not moved for [`HOLD_MAX`] is let go (a dead connection, a frozen tab), and the
//! reader runs on; that viewer gets a snapshot when it reads evicted bytes, as before. Viewers
//! that do not register (long-polling) never hold anything.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a viewer that does not move may hold the reader.
pub const HOLD_MAX: Duration = Duration::from_secs(5);

/// The registered viewers of one session.
pub(crate) struct Holds {
    inner: Mutex<Inner>,
    /// Signalled whenever a viewer moves or goes away.
    moved: Condvar,
    /// [`HOLD_MAX`], shorter in tests.
    max_stall: Duration,
}

impl Default for Holds {
    fn default() -> Self {
        Self::with_max_stall(HOLD_MAX)
    }
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    viewers: HashMap<u64, Position>,
    /// Whether the reader is waiting on `moved` (viewers only signal it then: a viewer moves
    /// once per frame sent, and a signal is a system call).
    reader_waiting: bool,
}

struct Position {
    offset: u64,
    moved: Instant,
    released: bool,
}

impl Holds {
    fn with_max_stall(max_stall: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            moved: Condvar::new(),
            max_stall,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a viewer that has sent everything before `offset`.
    pub(crate) fn register(self: &Arc<Self>, offset: u64) -> Hold {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.viewers.insert(
            id,
            Position {
                offset,
                moved: Instant::now(),
                released: false,
            },
        );
        Hold {
            holds: self.clone(),
            id,
        }
    }

    /// Blocks the calling thread (the session's reader) until reading `len` more bytes after
    /// `end` leaves every held viewer at most `window` behind, or until the slowest one has not
    /// moved for [`HOLD_MAX`] (it is then let go). Returns at once when no viewer is registered.
    /// A plain thread wait, not the runtime's timer: the reader may still be waiting here when
    /// the runtime shuts down, and a timer polled then panics.
    pub(crate) fn wait_room(&self, end: u64, len: usize, window: usize) {
        let mut inner = self.lock();
        loop {
            let now = Instant::now();
            let limit = end + len as u64;
            let mut wait_until: Option<Instant> = None;
            for pos in inner.viewers.values_mut() {
                if pos.released || limit <= pos.offset + window as u64 {
                    continue;
                }
                let until = pos.moved + self.max_stall;
                if until <= now {
                    pos.released = true;
                    tracing::debug!(
                        behind = end - pos.offset,
                        "a stalled viewer no longer holds the reader"
                    );
                    continue;
                }
                wait_until = Some(wait_until.map_or(until, |w| w.min(until)));
            }
            let Some(deadline) = wait_until else {
                return;
            };
            inner.reader_waiting = true;
            inner = match self.moved.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
            inner.reader_waiting = false;
        }
    }

    /// Whether reading `len` more bytes after `end` leaves every held viewer within `window`
    /// (answers at once and lets no viewer go; [`Holds::wait_room`] waits).
    pub(crate) fn has_room(&self, end: u64, len: usize, window: usize) -> bool {
        let limit = end + len as u64;
        self.lock()
            .viewers
            .values()
            .all(|p| p.released || limit <= p.offset + window as u64)
    }

    fn moved(&self, id: u64, offset: u64) {
        let waiting = {
            let mut inner = self.lock();
            let Some(pos) = inner.viewers.get_mut(&id) else {
                return;
            };
            if offset > pos.offset {
                pos.offset = offset;
                pos.moved = Instant::now();
                pos.released = false;
            }
            inner.reader_waiting
        };
        if waiting {
            self.moved.notify_all();
        }
    }

    fn remove(&self, id: u64) {
        let waiting = {
            let mut inner = self.lock();
            inner.viewers.remove(&id);
            inner.reader_waiting
        };
        if waiting {
            self.moved.notify_all();
        }
    }
}

/// One registered viewer; dropping it lets the reader go.
pub struct Hold {
    holds: Arc<Holds>,
    id: u64,
}

impl Hold {
    /// The viewer has sent everything before `offset` (after a snapshot: the snapshot's end).
    pub fn moved(&self, offset: u64) {
        self.holds.moved(self.id, offset);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holds.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Starts `wait_room(end, 10, 100)` on a thread of its own, as the reader calls it.
    fn waiter(holds: &Arc<Holds>, end: u64) -> thread::JoinHandle<()> {
        let holds = holds.clone();
        thread::spawn(move || holds.wait_room(end, 10, 100))
    }

    /// Asserts that `w` is still waiting a while after it started.
    fn still_waiting(w: &thread::JoinHandle<()>) {
        thread::sleep(Duration::from_millis(100));
        assert!(!w.is_finished(), "the reader is held");
    }

    #[test]
    fn no_viewer_no_wait_and_a_moving_viewer_releases_the_reader() {
        let holds = Arc::new(Holds::default());
        holds.wait_room(1_000, 10, 100);
        let hold = holds.register(0);
        // Within the window: no wait.
        holds.wait_room(50, 10, 100);
        // Beyond it: the reader waits until the viewer moves.
        let w = waiter(&holds, 200);
        still_waiting(&w);
        hold.moved(150);
        w.join().unwrap();
        drop(hold);
        holds.wait_room(10_000, 10, 100);
    }

    #[test]
    fn a_stalled_viewer_is_let_go_after_the_bound_and_holds_again_once_it_moves() {
        let bound = Duration::from_millis(300);
        let holds = Arc::new(Holds::with_max_stall(bound));
        let hold = holds.register(0);
        let start = Instant::now();
        holds.wait_room(1_000, 10, 100);
        assert!(start.elapsed() >= bound, "{:?}", start.elapsed());
        // Released: no further wait while it stays put.
        holds.wait_room(5_000, 10, 100);
        // It moved (caught up after a snapshot): it holds again, until it goes away.
        hold.moved(5_000);
        let w = waiter(&holds, 5_200);
        still_waiting(&w);
        drop(hold);
        w.join().unwrap();
    }

    /// The reader may be held when the runtime shuts down (the server exiting); its wait must not
    /// depend on the runtime (a runtime timer polled after shutdown panics).
    #[test]
    fn a_held_reader_outlives_the_runtime() {
        let holds = Arc::new(Holds::with_max_stall(Duration::from_millis(300)));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let hold = holds.register(0);
        let w = {
            let holds = holds.clone();
            let handle = runtime.handle().clone();
            thread::spawn(move || {
                handle.block_on(async {});
                holds.wait_room(1_000, 10, 100);
            })
        };
        still_waiting(&w);
        drop(runtime);
        w.join().expect("the held reader ends normally");
        drop(hold);
    }
}
