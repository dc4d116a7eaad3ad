//! One line per deploy step, prefixed with the time since the command started
//! (`[  12.3s] compute is ACTIVE`), written to a sink (stdout in the CLI, a buffer in tests).

use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where progress lines go.
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Progress printer.
#[derive(Clone)]
pub struct Progress {
    start: Instant,
    sink: Sink,
}

impl Progress {
    /// Lines to stdout.
    pub fn stdout() -> Self {
        Self::to(Arc::new(|line: &str| println!("{line}")))
    }

    /// Lines to `sink`.
    pub fn to(sink: Sink) -> Self {
        Self {
            start: Instant::now(),
            sink,
        }
    }

    /// Lines collected into a shared buffer (tests).
    pub fn buffer() -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        let p = Self::to(Arc::new(move |line: &str| {
            if let Ok(mut v) = l.lock() {
                v.push(line.to_owned());
            }
        }));
        (p, lines)
    }

    /// Writes one step line with the elapsed time.
    pub fn step(&self, message: impl AsRef<str>) {
        let secs = self.start.elapsed().as_secs_f64();
        (self.sink)(&format!("[{secs:>6.1}s] {}", message.as_ref()));
    }
}

/// Bytes for people: `812 B`, `6.1 MB`.
pub fn bytes(n: usize) -> String {
    if n < 1000 {
        format!("{n} B")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}
