//! The terminal-state follower: the VT parser of a session, fed from the ring lazily, since the
//! state is only needed for snapshots.
//!
//! The reader only copies bytes into the ring. The state consumes them at its own offset
//! (`consumed`) in two ways:
//! - **on demand**: [`Follower::snapshot`] first brings the state up to the stream's end;
//! - **in the background**, so the ring never has to overwrite unconsumed bytes: a task per
//!   session sleeps until the backlog reaches [`Follower::lazy_bytes`] (256 KiB, or a quarter
//!   of a smaller ring), then consumes it in steps down to a quarter of that, yielding between
//!   steps. The reader wakes it, and waits for room if it ever gets a ring ahead ([`Follower::
//!   wait_room`]), so the state stays exact.
//!
//! Consuming a backlog first tries to skip plain text that cannot change the final state (see
//! `skip.rs`); a flood of plain text is then scanned once and never parsed. The reader scans
//! each piece it reads while it is in the cache and marks where plain text starts
//! ([`Stream::plain_from`]); a backlog that is plain from end to end is then skipped after
//! reading only its last lines (for the cut), not copied out of the ring and scanned again.
//! Otherwise the bytes are parsed, applying resizes at the offsets where they happened.
//!
//! Locking: the ring is read without holding the state's lock, and a step whose offset was
//! consumed meanwhile by someone else does nothing (`Session::resize` takes the state's lock
//! inside the session's, so this one must never be held while taking that).
//!
//! The session reaches this module through [`Stream`], so this module does not depend on the
//! session that owns the follower.

use crate::ReadResult;
use crate::screen::Screen;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

/// Bytes parsed per background step before yielding (4 KiB: about a tenth of a millisecond).
const PARSE_CHUNK_BYTES: usize = 4 << 10;
/// Backlog at which the background task starts consuming (256 KiB, at most a quarter ring).
const LAZY_BACKLOG_BYTES: u64 = 256 << 10;
/// Smallest backlog worth trying to skip (a skip must leave a screen and scrollback of lines).
const SKIP_MIN_BYTES: u64 = 16 << 10;
/// Most of a plain backlog's end read to find where to cut it (64 KiB: 225 lines of 290 bytes).
const SKIP_TAIL_BYTES: u64 = 64 << 10;
/// Most of the backlog copied out of the ring to look for a skip (256 KiB): a copy of a whole
/// backlog (up to a ring) would leave the allocator holding ring-sized blocks. The whole backlog
/// is looked at only when this much holds too few lines (lines of several KiB).
const SKIP_WINDOW_BYTES: u64 = 256 << 10;

/// What a follower consumes: a session's output stream as its ring holds it (implemented by
/// `Session`).
pub(crate) trait Stream {
    /// The follower of this stream.
    fn follower(&self) -> &Follower;
    /// Offset one past the last byte of the stream.
    fn end_offset(&self) -> u64;
    /// Up to `max` bytes from `offset`.
    fn read(&self, offset: u64, max: usize) -> ReadResult;
    /// Whether the reader has finished (the stream will not grow).
    fn reader_finished(&self) -> bool;
    /// The session's id (for logs).
    fn id(&self) -> &str;
    /// The offset from which every byte of the stream is plain text as `skip.rs` means it (the
    /// reader marks it with each read, before the bytes can be seen).
    fn plain_from(&self) -> u64;
}

struct Term {
    screen: Screen,
    /// Resizes not yet applied: (stream offset, cols, rows).
    resizes: VecDeque<(u64, u16, u16)>,
    /// Offset up to which the stream was handed to the state (parsed, held or skipped).
    consumed: u64,
    /// After a backlog that could not be skipped, no skip is tried before this offset.
    no_skip_before: u64,
}

impl Term {
    /// Applies the resizes that take effect at or before stream offset `at`.
    fn apply_resizes(&mut self, at: u64) {
        while let Some(&(off, cols, rows)) = self.resizes.front() {
            if off > at {
                break;
            }
            self.screen.resize(cols, rows);
            self.resizes.pop_front();
        }
    }
}

/// The terminal state of one session and how far it has consumed the stream.
pub(crate) struct Follower {
    term: Mutex<Term>,
    /// `Term::consumed`, published for the reader's [`Follower::wait_room`].
    consumed: watch::Sender<u64>,
    /// Wakes the background task (the backlog reached [`Follower::lazy_bytes`], or the reader
    /// finished).
    wake: Notify,
    lazy_bytes: u64,
}

impl Follower {
    pub fn new(screen: Screen, ring_bytes: usize) -> Self {
        Follower {
            term: Mutex::new(Term {
                screen,
                resizes: VecDeque::new(),
                consumed: 0,
                no_skip_before: 0,
            }),
            consumed: watch::channel(0).0,
            wake: Notify::new(),
            lazy_bytes: LAZY_BACKLOG_BYTES.min((ring_bytes as u64 / 4).max(1)),
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

    /// Brings the state up to the end of `session`'s stream, then returns the snapshot bytes,
    /// the offset they are exact at, and the size they were taken at.
    pub fn snapshot(&self, session: &impl Stream) -> (Vec<u8>, u64, u16, u16) {
        // Up to the end as it is now: a flood that outruns the parser cannot keep this going.
        let target = session.end_offset();
        while *self.consumed.borrow() < target && self.step(session, usize::MAX) {}
        let mut t = self.lock();
        // A resize with no bytes after it yet (a shell that did not redraw) counts too.
        let at = t.consumed;
        t.apply_resizes(at);
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

    /// Whether `len` more bytes after `end` fit in the ring without overwriting bytes the state
    /// has not consumed (answers at once; [`Follower::wait_room`] waits).
    pub fn has_room(&self, end: u64, len: usize, capacity: usize) -> bool {
        end + len as u64 <= *self.consumed.borrow() + capacity as u64
    }

    /// Called by the reader after the stream grew to `end`: wakes the background task when the
    /// backlog is due.
    pub fn grew(&self, end: u64) {
        if end.saturating_sub(*self.consumed.borrow()) >= self.lazy_bytes {
            self.wake.notify_one();
        }
    }

    /// Called by the reader when it has finished.
    pub fn reader_done(&self) {
        self.wake.notify_one();
    }

    fn backlog(&self, session: &impl Stream) -> u64 {
        session.end_offset().saturating_sub(*self.consumed.borrow())
    }

    /// Consumes part of the backlog: a skip when one is possible, else up to `max_parse` bytes
    /// parsed. Returns whether the state moved on (by this call or another consumer).
    fn step(&self, session: &impl Stream, max_parse: usize) -> bool {
        let (at, may_skip) = {
            let t = self.lock();
            (t.consumed, t.consumed >= t.no_skip_before)
        };
        let end = session.end_offset();
        if end <= at {
            return false;
        }
        let backlog = end - at;
        if may_skip && backlog >= SKIP_MIN_BYTES && self.skip(session, at, backlog) {
            return true;
        }
        match session.read(at, max_parse) {
            ReadResult::Data { bytes, .. } => {
                self.feed(at, &bytes);
                true
            }
            ReadResult::Evicted { oldest } => {
                // Cannot happen while the reader waits for room; stay usable if it does.
                tracing::error!(session = %session.id(), at, oldest, "terminal state lost bytes");
                let mut t = self.lock();
                if t.consumed == at {
                    t.consumed = oldest;
                    drop(t);
                    self.consumed.send_replace(oldest);
                }
                true
            }
            ReadResult::Pending | ReadResult::Invalid { .. } => false,
        }
    }

    /// Feeds `bytes` (which start at `at`), applying resizes on the way; nothing when `at` is
    /// no longer the consumed offset.
    fn feed(&self, mut at: u64, mut bytes: &[u8]) {
        let mut t = self.lock();
        if t.consumed != at {
            return;
        }
        while !bytes.is_empty() {
            t.apply_resizes(at);
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
        t.consumed = at;
        drop(t);
        self.consumed.send_replace(at);
    }

    /// Skips a prefix of the `backlog` bytes at `at` when that cannot change the final state:
    /// a plain backlog by its last lines, otherwise looking at a window of it first. Returns
    /// whether it did; after a failure no skip is tried until half of what was looked at has
    /// been parsed.
    fn skip(&self, session: &impl Stream, at: u64, backlog: u64) -> bool {
        // Its own statement: the lock is released before the `else` takes it again.
        let lines = self.lock().screen.skip_lines();
        let Some(lines) = lines else {
            self.lock().no_skip_before = at + backlog / 2;
            return false;
        };
        // Read after the backlog's end: the mark covers at least that much of the stream. When
        // this finds no cut (long lines) or may not take it (a resize), the window below decides.
        let tail = backlog.min(SKIP_TAIL_BYTES);
        if session.plain_from() <= at
            && let ReadResult::Data { bytes, .. } = session.read(at + backlog - tail, tail as usize)
            && let Some(cut) = crate::skip::latest_cut(&bytes, lines)
            && self.skip_to(at, at + backlog - tail + cut as u64)
        {
            return true;
        }
        let window = backlog.min(SKIP_WINDOW_BYTES);
        let ReadResult::Data { bytes, .. } = session.read(at, window as usize) else {
            return false;
        };
        if self.try_skip(at, &bytes, lines) {
            return true;
        }
        let few_lines = || bytes.iter().filter(|&&b| b == b'\n').count() <= lines;
        if window < backlog
            && few_lines()
            && let ReadResult::Data { bytes, .. } = session.read(at, backlog as usize)
        {
            if self.try_skip(at, &bytes, lines) {
                return true;
            }
            self.lock().no_skip_before = at + bytes.len() as u64 / 2;
            return false;
        }
        self.lock().no_skip_before = at + bytes.len() as u64 / 2;
        false
    }

    /// Skips a prefix of `bytes` (which start at `at`) after which `lines` line feeds follow,
    /// when there is one and the state is still at `at`.
    fn try_skip(&self, at: u64, bytes: &[u8], lines: usize) -> bool {
        match crate::skip::skip_point(bytes, lines) {
            Some(n) => self.skip_to(at, at + n as u64),
            None => false,
        }
    }

    /// Skips the stream from `at` to `to` (plain text ending in `\r\n`, with enough lines after
    /// it), when the state is still at `at` and no resize falls inside.
    fn skip_to(&self, at: u64, to: u64) -> bool {
        let mut t = self.lock();
        if t.consumed != at || t.resizes.front().is_some_and(|&(off, ..)| off < to) {
            return false;
        }
        t.screen.skip((to - at) as usize);
        t.consumed = to;
        drop(t);
        self.consumed.send_replace(to);
        tracing::trace!(skipped = to - at, "terminal state skipped plain text");
        true
    }
}

/// The background task of `session`'s state: sleeps until the backlog is due, consumes it, and
/// ends with the reader (a snapshot consumes whatever is left).
pub(crate) async fn run(session: Arc<impl Stream>) {
    let f = session.follower();
    loop {
        while f.backlog(&*session) < f.lazy_bytes {
            if session.reader_finished() {
                return;
            }
            f.wake.notified().await;
        }
        while f.backlog(&*session) > f.lazy_bytes / 4 {
            if !f.step(&*session, PARSE_CHUNK_BYTES) {
                break;
            }
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A stream held in memory, with the reader's plain mark computed as the reader does (per
    /// piece of `piece` bytes), counting the bytes the follower reads out of it.
    struct Memory {
        follower: Follower,
        data: Vec<u8>,
        plain_from: u64,
        read_bytes: AtomicU64,
    }

    impl Memory {
        fn new(data: Vec<u8>, piece: usize) -> Self {
            let mut plain_from = 0;
            for (k, chunk) in data.chunks(piece).enumerate() {
                if !crate::skip::chunk_is_plain(chunk) {
                    plain_from = (k * piece + chunk.len()) as u64;
                }
            }
            Memory {
                follower: Follower::new(Screen::new(80, 24, 200, 4096), 32 << 20),
                data,
                plain_from,
                read_bytes: AtomicU64::new(0),
            }
        }
    }

    impl Stream for Memory {
        fn follower(&self) -> &Follower {
            &self.follower
        }
        fn end_offset(&self) -> u64 {
            self.data.len() as u64
        }
        fn read(&self, offset: u64, max: usize) -> ReadResult {
            let from = offset as usize;
            if from >= self.data.len() {
                return ReadResult::Pending;
            }
            let to = self.data.len().min(from.saturating_add(max));
            self.read_bytes
                .fetch_add((to - from) as u64, Ordering::Relaxed);
            ReadResult::Data {
                offset,
                bytes: bytes::Bytes::copy_from_slice(&self.data[from..to]),
            }
        }
        fn reader_finished(&self) -> bool {
            true
        }
        fn id(&self) -> &str {
            "test"
        }
        fn plain_from(&self) -> u64 {
            self.plain_from
        }
    }

    fn lines(from: usize, n: usize) -> Vec<u8> {
        (from..from + n)
            .flat_map(|i| format!("{i:07} plain text of a flood, not parsed\r\n").into_bytes())
            .collect()
    }

    /// The snapshot of a state that was fed every byte of `data`.
    fn parsed(data: &[u8]) -> Vec<u8> {
        let mut s = Screen::new(80, 24, 200, 4096);
        s.feed(data);
        s.snapshot()
    }

    #[test]
    fn a_plain_backlog_is_skipped_reading_only_its_end() {
        let mut data = b"\x1b[1;33mbefore\x1b[0m\r\n".to_vec();
        let start = data.len() as u64;
        data.extend_from_slice(&lines(0, 50_000));
        let m = Memory::new(data.clone(), 4095);
        assert!(m.plain_from <= 4095, "only the first piece holds escapes");
        // The state has consumed the escapes; what is left is plain from end to end.
        m.follower.feed(0, &data[..4095]);
        let (snapshot, fed, ..) = m.follower.snapshot(&m);
        assert_eq!(fed, data.len() as u64);
        assert_eq!(
            snapshot,
            parsed(&data),
            "the same state as parsing everything"
        );
        let read = m.read_bytes.load(Ordering::Relaxed);
        let backlog = data.len() as u64 - 4095;
        assert!(
            read < backlog / 10,
            "{read} bytes read out of a plain backlog of {backlog} (from {start})"
        );
    }

    #[test]
    fn escapes_in_the_backlog_are_never_skipped() {
        // A colour change in the middle of a flood, and 8-bit CSI split across two pieces.
        let mut data = lines(0, 20_000);
        let colour = data.len();
        data.extend_from_slice(b"\x1b[35m");
        data.extend_from_slice(&lines(20_000, 20_000));
        let piece = 4095;
        let split = (data.len() / piece + 1) * piece - 1;
        data.resize(split, b'x');
        data.extend_from_slice("\u{9b}1mbold".as_bytes());
        data.extend_from_slice(&lines(40_000, 300));
        let m = Memory::new(data.clone(), piece);
        assert!(
            m.plain_from > split as u64,
            "the split C1 control is marked"
        );
        assert!(m.plain_from > colour as u64);
        let (snapshot, fed, ..) = m.follower.snapshot(&m);
        assert_eq!(fed, data.len() as u64);
        assert_eq!(snapshot, parsed(&data));
    }
}
