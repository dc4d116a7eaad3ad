//! The terminal-state follower: a task per session that feeds the ring's bytes to the VT
//! parser behind the PTY reader, so parsing never sits on the reader's path.
//!
//! The reader only copies bytes into the ring; this task reads them back at its own offset
//! (`consumed`), applies resizes at the offset where they happened, and feeds the parser.
//! The reader never lets the ring overwrite bytes not yet consumed (it waits on [`Follower::
//! wait_room`]), so the state stays exact. When the parser is far behind a flood of plain text,
//! it skips what cannot change the final state (see `skip.rs`).

use crate::ReadResult;
use crate::screen::Screen;
use crate::session::Session;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// Bytes parsed per step before yielding (4 KiB: about a tenth of a millisecond).
const PARSE_CHUNK_BYTES: usize = 4 << 10;
/// Backlog from which a skip is attempted (1 MiB).
const SKIP_BACKLOG_BYTES: u64 = 1 << 20;

struct Term {
    screen: Screen,
    /// Resizes not yet applied: (stream offset, cols, rows).
    resizes: VecDeque<(u64, u16, u16)>,
}

/// The terminal state of one session and how far it has consumed the stream.
pub(crate) struct Follower {
    term: Mutex<Term>,
    consumed: watch::Sender<u64>,
}

impl Follower {
    pub fn new(screen: Screen) -> Self {
        Follower {
            term: Mutex::new(Term {
                screen,
                resizes: VecDeque::new(),
            }),
            consumed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Term> {
        self.term
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a resize that takes effect at stream offset `at`.
    pub fn resize_at(&self, at: u64, cols: u16, rows: u16) {
        self.lock().resizes.push_back((at, cols, rows));
    }

    /// The snapshot bytes, the offset they are exact at, and the size they were taken at.
    pub fn snapshot(&self) -> (Vec<u8>, u64, u16, u16) {
        let t = self.lock();
        let (cols, rows) = t.screen.size();
        (t.screen.snapshot(), t.screen.fed(), cols, rows)
    }

    /// Waits until the stream may grow to `end + len` without evicting unconsumed bytes.
    pub async fn wait_room(&self, end: u64, len: usize, capacity: usize) {
        let mut rx = self.consumed.subscribe();
        let _ = rx
            .wait_for(|&c| end + len as u64 <= c + capacity as u64)
            .await;
    }

    /// Feeds `bytes` (which start at the consumed offset), applying resizes on the way.
    fn feed(&self, mut at: u64, mut bytes: &[u8]) {
        let mut t = self.lock();
        while !bytes.is_empty() {
            while let Some(&(off, cols, rows)) = t.resizes.front() {
                if off > at {
                    break;
                }
                t.screen.resize(cols, rows);
                t.resizes.pop_front();
            }
            let until = t
                .resizes
                .front()
                .map(|&(off, ..)| (off - at) as usize)
                .unwrap_or(bytes.len())
                .min(bytes.len());
            t.screen.feed(&bytes[..until]);
            at += until as u64;
            bytes = &bytes[until..];
        }
        drop(t);
        self.consumed.send_replace(at);
    }

    /// Skips a prefix of the backlog `bytes` (starting at the consumed offset) when that cannot
    /// change the final state; returns how many bytes were skipped.
    fn try_skip(&self, at: u64, bytes: &[u8]) -> usize {
        let mut t = self.lock();
        let Some(lines) = t.screen.skip_lines() else {
            return 0;
        };
        let next_resize = t.resizes.front().map(|&(off, ..)| off);
        match crate::skip::skip_point(bytes, lines) {
            Some(n) if next_resize.is_none_or(|off| off >= at + n as u64) => {
                t.screen.skip(n);
                drop(t);
                self.consumed.send_replace(at + n as u64);
                n
            }
            _ => 0,
        }
    }
}

/// Follows `session`'s stream until its reader has finished and everything is consumed.
pub(crate) async fn run(session: Arc<Session>) {
    let mut progress = session.subscribe();
    // After a backlog that could not be skipped, the next attempt waits until half of it is parsed.
    let mut no_skip_before = 0u64;
    loop {
        let at = *session.follower().consumed.borrow();
        let end = session.end_offset();
        if at >= no_skip_before
            && end.saturating_sub(at) >= SKIP_BACKLOG_BYTES
            && let ReadResult::Data { bytes, .. } = session.read(at, (end - at) as usize)
        {
            let skipped = session.follower().try_skip(at, &bytes);
            if skipped > 0 {
                tracing::debug!(session = %session.id(), skipped, "terminal state skipped plain text");
                continue;
            }
            no_skip_before = at + (end - at) / 2;
        }
        match session.read(at, PARSE_CHUNK_BYTES) {
            ReadResult::Data { bytes, .. } => {
                session.follower().feed(at, &bytes);
                tokio::task::yield_now().await;
            }
            ReadResult::Pending => {
                if session.reader_finished() {
                    return;
                }
                if progress.changed().await.is_err() {
                    return;
                }
            }
            ReadResult::Evicted { oldest } => {
                // Cannot happen while the reader waits for room; stay usable if it does.
                tracing::error!(session = %session.id(), at, oldest, "terminal state lost bytes");
                session.follower().consumed.send_replace(oldest);
            }
            ReadResult::Invalid { .. } => return,
        }
    }
}
