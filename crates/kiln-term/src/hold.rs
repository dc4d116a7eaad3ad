//! Live viewers that hold the reader back, so a viewer that keeps up never loses a byte.
//!
//! A WebSocket viewer registers how far it has sent. The reader does not read more from the PTY
//! while a registered viewer is more than a window behind the stream's end: the kernel's PTY
//! buffer fills and the program writing blocks, as in any terminal. The hold is bounded: a viewer
//! that has not moved for [`HOLD_MAX`] is let go (a dead connection, a frozen tab), and the
//! reader runs on; that viewer gets a snapshot when it reads evicted bytes, as before. Viewers
//! that do not register (long-polling) never hold anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a viewer that does not move may hold the reader.
pub const HOLD_MAX: Duration = Duration::from_secs(5);

/// The registered viewers of one session.
#[derive(Default)]
pub(crate) struct Holds {
    inner: Mutex<Inner>,
    moved: Notify,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    viewers: HashMap<u64, Position>,
}

struct Position {
    offset: u64,
    moved: Instant,
    released: bool,
}

impl Holds {
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

    /// Waits until reading `len` more bytes after `end` leaves every held viewer at most
    /// `window` behind, or until the slowest one has not moved for [`HOLD_MAX`] (it is then let
    /// go). Returns at once when no viewer is registered.
    pub(crate) async fn wait_room(&self, end: u64, len: usize, window: usize) {
        loop {
            let notified = self.moved.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let deadline = {
                let mut inner = self.lock();
                let now = Instant::now();
                let limit = end + len as u64;
                let mut wait_until: Option<Instant> = None;
                for pos in inner.viewers.values_mut() {
                    if pos.released || limit <= pos.offset + window as u64 {
                        continue;
                    }
                    let until = pos.moved + HOLD_MAX;
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
                match wait_until {
                    None => return,
                    Some(d) => d,
                }
            };
            let _ = tokio::time::timeout_at(deadline, notified).await;
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
        {
            let mut inner = self.lock();
            let Some(pos) = inner.viewers.get_mut(&id) else {
                return;
            };
            if offset > pos.offset {
                pos.offset = offset;
                pos.moved = Instant::now();
                pos.released = false;
            }
        }
        self.moved.notify_waiters();
    }

    fn remove(&self, id: u64) {
        self.lock().viewers.remove(&id);
        self.moved.notify_waiters();
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

    #[tokio::test]
    async fn no_viewer_no_wait_and_a_moving_viewer_releases_the_reader() {
        let holds = Arc::new(Holds::default());
        holds.wait_room(1_000, 10, 100).await;
        let hold = holds.register(0);
        // Within the window: no wait.
        holds.wait_room(50, 10, 100).await;
        // Beyond it: the reader waits until the viewer moves.
        let waiter = {
            let holds = holds.clone();
            tokio::spawn(async move { holds.wait_room(200, 10, 100).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        hold.moved(150);
        waiter.await.unwrap();
        drop(hold);
        holds.wait_room(10_000, 10, 100).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_viewer_is_let_go_after_the_bound_and_holds_again_once_it_moves() {
        let holds = Arc::new(Holds::default());
        let hold = holds.register(0);
        let start = tokio::time::Instant::now();
        holds.wait_room(1_000, 10, 100).await;
        assert!(start.elapsed() >= HOLD_MAX, "{:?}", start.elapsed());
        // Released: no further wait while it stays put.
        holds.wait_room(5_000, 10, 100).await;
        // It moved (caught up after a snapshot): it holds again.
        hold.moved(5_000);
        let waiter = {
            let holds = holds.clone();
            tokio::spawn(async move { holds.wait_room(5_200, 10, 100).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(hold);
        waiter.await.unwrap();
    }
}
