//! An app's log: what its processes wrote to stdout and stderr, plus `[SYSTEM]` lines from
//! the runtime (deployment started, exited, stopped), kept across crashes and redeploys in a
//! bounded buffer that drops the oldest bytes first.

use std::collections::VecDeque;
use std::sync::Mutex;

/// Bytes kept per app (1 MiB).
pub const LOG_CAP_BYTES: usize = 1 << 20;

/// A bounded byte log.
#[derive(Debug, Default)]
pub struct AppLog {
    buf: Mutex<VecDeque<u8>>,
}

impl AppLog {
    /// Appends bytes, dropping the oldest beyond [`LOG_CAP_BYTES`].
    pub fn append(&self, bytes: &[u8]) {
        let mut b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = &bytes[bytes.len().saturating_sub(LOG_CAP_BYTES)..];
        let overflow = (b.len() + bytes.len()).saturating_sub(LOG_CAP_BYTES);
        let drop_n = overflow.min(b.len());
        b.drain(..drop_n);
        b.extend(bytes);
    }

    /// Appends a runtime line (`[SYSTEM] ...`).
    pub fn system(&self, line: &str) {
        self.append(format!("[SYSTEM] {line}\n").as_bytes());
    }

    /// The whole log as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        let (a, c) = b.as_slices();
        let mut v = Vec::with_capacity(b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(c);
        String::from_utf8_lossy(&v).into_owned()
    }

    /// The last `n` non-system lines, for a deployment's failure message (at most 400 chars).
    pub fn tail(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("[SYSTEM]") && !l.trim().is_empty())
            .collect();
        let tail = lines[lines.len().saturating_sub(n)..].join(" | ");
        let chars: Vec<char> = tail.chars().collect();
        chars[chars.len().saturating_sub(400)..].iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_tails() {
        let log = AppLog::default();
        log.system("starting");
        log.append(b"one\ntwo\nthree\n");
        assert_eq!(log.tail(2), "two | three");
        assert!(log.text().starts_with("[SYSTEM] starting\n"));
        log.append(&vec![b'x'; LOG_CAP_BYTES + 10]);
        assert_eq!(log.text().len(), LOG_CAP_BYTES);
        log.append(b"end\n");
        assert!(log.text().ends_with("end\n"));
        assert_eq!(log.text().len(), LOG_CAP_BYTES);
    }
}
