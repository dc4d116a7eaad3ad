//! The deterministic output stream both sides print: text lines of a line counter and
//! pseudo-random printable characters, ending in `\r\n` (the terminals run with `stty raw`, so
//! no byte is translated). The bench computes the same stream's SHA-256 in-process to prove
//! that no byte was lost or repeated on the way.
//!
//! No uppercase letter ever appears in the stream, so the uppercase markers the bench waits
//! for (`KBBEGIN`, `KBREADY`, `KBDONE`) cannot be matched by accident.

use crate::cli::GenArgs;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::fd::AsFd;

/// 64 printable characters, none of them uppercase.
const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyz0123456789 .,;:-_/=+()[]{}<>!?@#$%&*~^";
/// Bytes per line: 8 hex digits, a space, payload, `\r\n` (80).
const LINE_BYTES: usize = 80;
const PAYLOAD_BYTES: usize = LINE_BYTES - 8 - 1 - 2;
/// Printed before the stream; assembled so no command line that runs `gen` contains it.
pub const BEGIN_MARKER: &[u8] = b"KBBEGIN";
/// Chunk written per system call (64 KiB).
const CHUNK_BYTES: usize = 64 << 10;

/// An endless, deterministic stream of lines; [`Pattern::fill`] continues where it left off.
pub struct Pattern {
    line: u64,
    state: u64,
    /// The current line, and how much of it was already handed out.
    buf: [u8; LINE_BYTES],
    pos: usize,
}

impl Default for Pattern {
    fn default() -> Self {
        let mut p = Pattern {
            line: 0,
            state: 0x9E37_79B9_7F4A_7C15,
            buf: [0; LINE_BYTES],
            pos: 0,
        };
        p.next_line();
        p
    }
}

impl Pattern {
    fn next_random(&mut self) -> u64 {
        // xorshift64*: fast and good enough for a test pattern.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn next_line(&mut self) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.line;
        for (i, b) in self.buf[..8].iter_mut().enumerate() {
            *b = HEX[((n >> (28 - 4 * i)) & 0xf) as usize];
        }
        self.buf[8] = b' ';
        let mut i = 9;
        while i < 9 + PAYLOAD_BYTES {
            let mut r = self.next_random();
            // Ten 6-bit characters per random number.
            for _ in 0..10 {
                if i == 9 + PAYLOAD_BYTES {
                    break;
                }
                self.buf[i] = ALPHABET[(r & 63) as usize];
                r >>= 6;
                i += 1;
            }
        }
        self.buf[LINE_BYTES - 2] = b'\r';
        self.buf[LINE_BYTES - 1] = b'\n';
        self.line += 1;
        self.pos = 0;
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if self.pos == LINE_BYTES {
                self.next_line();
            }
            let n = (LINE_BYTES - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
    }
}

/// SHA-256 of the first `bytes` bytes of the stream.
pub fn sha256(bytes: u64) -> [u8; 32] {
    let mut p = Pattern::default();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK_BYTES as u64) as usize;
        p.fill(&mut buf[..n]);
        h.update(&buf[..n]);
        left -= n as u64;
    }
    h.finalize().into()
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `kiln-bench gen`: the marker, then the stream, straight to file descriptor 1 (not through
/// std's line-buffered stdout).
pub fn run(args: &GenArgs) -> anyhow::Result<()> {
    let mut out = std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?);
    if !args.no_marker {
        out.write_all(BEGIN_MARKER)?;
    }
    let mut p = Pattern::default();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut left = args.bytes;
    while args.forever || left > 0 {
        let n = if args.forever {
            CHUNK_BYTES
        } else {
            left.min(CHUNK_BYTES as u64) as usize
        };
        p.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left = left.saturating_sub(n as u64);
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_change_the_stream() {
        let mut whole = vec![0u8; 10_000];
        Pattern::default().fill(&mut whole);
        let mut pieces = Vec::new();
        let mut p = Pattern::default();
        for size in [1usize, 7, 79, 80, 81, 1000, 3].iter().cycle().take(200) {
            let mut b = vec![0u8; *size];
            p.fill(&mut b);
            pieces.extend_from_slice(&b);
            if pieces.len() >= whole.len() {
                break;
            }
        }
        assert_eq!(&pieces[..whole.len()], &whole[..]);
        let mut h = Sha256::new();
        h.update(&whole);
        let direct: [u8; 32] = h.finalize().into();
        assert_eq!(sha256(10_000), direct);
    }

    #[test]
    fn lines_are_numbered_printable_and_free_of_markers() {
        let mut b = vec![0u8; LINE_BYTES * 3];
        Pattern::default().fill(&mut b);
        assert!(b.starts_with(b"00000000 "));
        assert!(b[LINE_BYTES..].starts_with(b"00000001 "));
        assert!(b[2 * LINE_BYTES..].starts_with(b"00000002 "));
        for line in b.chunks(LINE_BYTES) {
            assert!(line.ends_with(b"\r\n"));
            assert!(
                line[..LINE_BYTES - 2]
                    .iter()
                    .all(|c| (0x20..0x7f).contains(c))
            );
            assert!(!line.iter().any(u8::is_ascii_uppercase));
        }
    }
}
