//! Waiting for a flood's next piece without sleeping: a reader that has just read a full piece
//! of a flood asks the PTY, for a few microseconds, whether the next piece is there yet, instead
//! of going to sleep in `read` at once.
//!
//! Why: Linux's line discipline hands a reader at most 4 KiB per read and refills its buffer
//! from a kernel worker. A reader that reads again at once usually finds it empty, sleeps, and is
//! woken when the worker has moved the next piece; one sleep and wake-up per 4 KiB is what kept a
//! single kiln stream at 0.8x-0.9x of a bare relay (which happens to pause between reads to send
//! a frame). Asking first (FIONREAD, at most [`SPIN_BUDGET`], with a pause between questions so
//! the worker, which takes the same terminal lock, is not hammered) finds the piece there most of
//! the time, and the reader reads on without a context switch (`docs/performance.md`, session 11).
//!
//! Spinning burns a core, so it is only done where a core is free to burn: never on a machine
//! with one CPU, and only while this reader is the process's only flooding reader
//! ([`FloodMark`]). Beside other floods every CPU cycle belongs to the shells and to sending,
//! and readers sleep as before.

use rustix::fd::AsFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A read at least this large is part of a flood (the line discipline's pieces are 4 KiB; an
/// interactive echo or a prompt is far smaller).
pub(crate) const FLOOD_READ_BYTES: usize = 2 << 10;
/// Longest a reader asks before it sleeps in `read` as usual (30 us: with it one stream ran at
/// 1.3x-1.5x of a bare relay, `docs/performance.md`; a stream that has paused costs at most this
/// much of a core before the reader sleeps).
pub(crate) const SPIN_BUDGET: Duration = Duration::from_micros(30);
/// Spin-loop hints between two questions: about 1-2 us, so the kernel worker that fills the
/// buffer gets the terminal's lock between them.
const PAUSE_HINTS: u32 = 64;

/// Readers of this process in the middle of a flood (their last read was a full piece).
static FLOODING: AtomicUsize = AtomicUsize::new(0);

/// One reader's place in [`FLOODING`]: marked while its reads are full pieces, cleared when the
/// PTY runs dry (and when the reader ends, however it ends).
#[derive(Debug, Default)]
pub(crate) struct FloodMark {
    marked: bool,
}

impl FloodMark {
    /// Records the size of a read: a full piece marks the reader as flooding, a small one clears it.
    pub(crate) fn read(&mut self, bytes: usize) {
        if bytes >= FLOOD_READ_BYTES {
            if !self.marked {
                self.marked = true;
                FLOODING.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.clear();
        }
    }

    /// The PTY had nothing to read: the flood, if any, has paused.
    pub(crate) fn clear(&mut self) {
        if self.marked {
            self.marked = false;
            FLOODING.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether this reader should ask before it reads: it is flooding, it is the only reader of
    /// the process that is, and the machine has a second CPU.
    pub(crate) fn should_spin(&self) -> bool {
        self.marked && FLOODING.load(Ordering::Relaxed) == 1 && spare_cpu()
    }
}

impl Drop for FloodMark {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Whether the machine has more than one CPU for this process (read once).
fn spare_cpu() -> bool {
    static SPARE: OnceLock<bool> = OnceLock::new();
    *SPARE.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// Asks `fd` whether it has bytes to read until it does or `budget` has passed; `true` when it
/// has. An error asking counts as "has" (the `read` that follows reports it).
pub(crate) fn wait_for_input(fd: impl AsFd, budget: Duration) -> bool {
    let fd = fd.as_fd();
    let start = Instant::now();
    loop {
        match rustix::io::ioctl_fionread(fd) {
            Ok(0) => {}
            Ok(_) | Err(_) => return true,
        }
        if start.elapsed() >= budget {
            return false;
        }
        for _ in 0..PAUSE_HINTS {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn wait_for_input_sees_bytes_and_gives_up_on_an_empty_pipe() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let started = Instant::now();
        assert!(!wait_for_input(&reader, Duration::from_millis(2)));
        assert!(started.elapsed() >= Duration::from_millis(2));
        writer.write_all(b"x").unwrap();
        assert!(wait_for_input(&reader, Duration::from_secs(60)));
    }

    #[test]
    fn wait_for_input_sees_bytes_that_arrive_while_it_asks() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.write_all(b"late").unwrap();
        });
        assert!(wait_for_input(&reader, Duration::from_secs(60)));
        late.join().unwrap();
        assert_eq!(rustix::io::ioctl_fionread(&reader).unwrap(), 4);
    }

    #[test]
    fn only_a_lone_flooding_reader_spins_and_marks_are_given_back() {
        // The count is process-wide: nextest runs each test in a process of its own, and the
        // assertions allow for marks other tests' sessions hold when run by `cargo test`.
        let base = FLOODING.load(Ordering::Relaxed);
        let mut one = FloodMark::default();
        let mut two = FloodMark::default();
        assert!(!one.should_spin(), "not flooding yet");
        one.read(100);
        assert!(!one.should_spin(), "a small read is not a flood");
        one.read(4096);
        one.read(4096);
        assert_eq!(FLOODING.load(Ordering::Relaxed), base + 1, "marked once");
        assert_eq!(one.should_spin(), base == 0 && spare_cpu());
        two.read(4096);
        assert!(
            !one.should_spin() && !two.should_spin(),
            "two floods: nobody spins"
        );
        two.clear();
        assert_eq!(one.should_spin(), base == 0 && spare_cpu());
        one.read(10);
        assert_eq!(FLOODING.load(Ordering::Relaxed), base);
        two.read(8192);
        drop(two);
        assert_eq!(
            FLOODING.load(Ordering::Relaxed),
            base,
            "dropping a mark gives it back"
        );
    }
}
