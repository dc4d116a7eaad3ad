//! A bounded queue of text lines in one buffer: the terminal state's formatted scrollback, whose
//! lines arrive and leave one at a time while output scrolls. One buffer that stops growing at
//! its high-water mark, instead of an allocation per line, keeps a flood from fragmenting the
//! allocator's heap.

use std::collections::VecDeque;

/// The newest `max` lines pushed, oldest first.
pub(crate) struct Lines {
    /// The lines' text, one after the other.
    text: VecDeque<u8>,
    /// Each line's length in bytes, oldest first.
    lens: VecDeque<usize>,
    max: usize,
    /// Reused for each line while it is written.
    scratch: String,
}

impl Lines {
    pub fn new(max: usize) -> Self {
        Self {
            text: VecDeque::new(),
            lens: VecDeque::new(),
            max,
            scratch: String::new(),
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Adds the line `write` writes; the oldest line leaves when `max` are kept.
    pub fn push(&mut self, write: impl FnOnce(&mut String)) {
        if self.max == 0 {
            return;
        }
        self.scratch.clear();
        write(&mut self.scratch);
        if self.lens.len() == self.max {
            let oldest = self.lens.pop_front().unwrap_or(0);
            self.text.drain(..oldest);
        }
        self.text.extend(self.scratch.as_bytes());
        self.lens.push_back(self.scratch.len());
    }

    pub fn clear(&mut self) {
        self.text.clear();
        self.lens.clear();
    }

    /// Appends every line to `out`, oldest first, each followed by `end`.
    pub fn write_to(&self, out: &mut String, end: &str) {
        let mut line = Vec::new();
        let mut at = 0;
        for &len in &self.lens {
            line.clear();
            line.extend(self.text.range(at..at + len));
            at += len;
            // Each line went in as a `str`.
            out.push_str(std::str::from_utf8(&line).unwrap_or_default());
            out.push_str(end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_in_order() {
        let mut l = Lines::new(3);
        for i in 0..10 {
            l.push(|s| s.push_str(&format!("line {i} \u{1F600}")));
        }
        assert_eq!(l.len(), 3);
        let mut out = String::new();
        l.write_to(&mut out, "|");
        assert_eq!(out, "line 7 \u{1F600}|line 8 \u{1F600}|line 9 \u{1F600}|");
        l.push(|_| {});
        out.clear();
        l.write_to(&mut out, "|");
        assert_eq!(
            out, "line 8 \u{1F600}|line 9 \u{1F600}||",
            "an empty line is a line"
        );
        l.clear();
        assert!(l.is_empty());
        let mut none = Lines::new(0);
        none.push(|s| s.push('x'));
        assert!(none.is_empty(), "a queue of no lines keeps none");
    }

    #[test]
    fn the_buffer_stops_growing_once_full() {
        let mut l = Lines::new(50);
        let line = |s: &mut String| s.push_str(&"x".repeat(80));
        for _ in 0..50 {
            l.push(line);
        }
        let cap = l.text.capacity();
        for _ in 0..10_000 {
            l.push(line);
        }
        assert_eq!(l.text.capacity(), cap);
        assert_eq!(l.text.len(), 50 * 80);
    }
}
