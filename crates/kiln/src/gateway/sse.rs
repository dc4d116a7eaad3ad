//! An incremental server-sent-events splitter: bytes go in as they arrive, complete events come
//! out with their raw bytes (to forward unchanged) and their `event:` name and joined `data:`.
//! Lines end in `\n`, `\r\n` or `\r`; a blank line ends an event (a block of comments only is
//! an event with no name and empty data, so its bytes are not lost). A pending event larger than
//! the cap switches the splitter off (the stream is still forwarded, just not inspected).

use bytes::{Bytes, BytesMut};

/// Largest event kept while waiting for its end (8 MiB).
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// One complete event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's bytes as received, blank line included.
    pub raw: Bytes,
    /// `event:` field, if any.
    pub name: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

/// Splits a byte stream into events.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: BytesMut,
    /// Where to resume looking for a line end in `pending`.
    scan_from: usize,
    /// Start of the current (unfinished) line in `pending`.
    line_start: usize,
    name: Option<String>,
    data: Vec<String>,
    disabled: bool,
}

impl Splitter {
    /// A new splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once an oversized event turned inspection off.
    pub fn disabled(&self) -> bool {
        self.disabled
    }

    /// Feeds bytes; returns the events they complete. Once disabled, bytes are not kept.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        if self.disabled {
            return out;
        }
        self.pending.extend_from_slice(chunk);
        let mut i = self.scan_from;
        while i < self.pending.len() {
            let b = self.pending[i];
            if b != b'\n' && b != b'\r' {
                i += 1;
                continue;
            }
            // A `\r` at the very end may be the first half of `\r\n`: wait for more.
            if b == b'\r' && i + 1 == self.pending.len() {
                break;
            }
            let line_end = i;
            let next = if b == b'\r' && self.pending[i + 1] == b'\n' {
                i + 2
            } else {
                i + 1
            };
            let line =
                String::from_utf8_lossy(&self.pending[self.line_start..line_end]).into_owned();
            self.line_start = next;
            i = next;
            if line.is_empty() {
                let raw = self.pending.split_to(next).freeze();
                i = 0;
                self.line_start = 0;
                out.push(Event {
                    raw,
                    name: self.name.take(),
                    data: std::mem::take(&mut self.data).join("\n"),
                });
            } else {
                self.field(&line);
            }
        }
        self.scan_from = i;
        if self.pending.len() > MAX_EVENT_BYTES {
            self.disabled = true;
            self.data.clear();
        }
        out
    }

    /// The bytes received but not part of a returned event (an unfinished last event, or
    /// everything held when inspection was switched off). Afterwards nothing is pending.
    pub fn take_pending(&mut self) -> Bytes {
        self.scan_from = 0;
        self.line_start = 0;
        self.name = None;
        self.data.clear();
        std::mem::take(&mut self.pending).freeze()
    }

    fn field(&mut self, line: &str) {
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = Some(value.to_owned()),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
    }

    /// Bytes received but not yet part of a complete event.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_across_arbitrary_chunk_boundaries() {
        let text = "event: message_start\ndata: {\"a\":1}\n\n: comment\n\ndata: x\r\ndata: y\r\n\r\ndata: [DONE]\n\n";
        let all: Vec<Event> = Splitter::new().push(text.as_bytes());
        assert_eq!(all.len(), 4);
        assert_eq!(all[0].name.as_deref(), Some("message_start"));
        assert_eq!(all[0].data, "{\"a\":1}");
        assert_eq!((all[1].name.as_deref(), all[1].data.as_str()), (None, ""));
        assert_eq!(all[2].data, "x\ny");
        assert_eq!(all[3].data, "[DONE]");
        let joined: Vec<u8> = all.iter().flat_map(|e| e.raw.to_vec()).collect();
        assert_eq!(joined, text.as_bytes());
        for split in 1..text.len() {
            let mut s = Splitter::new();
            let mut got = s.push(&text.as_bytes()[..split]);
            got.extend(s.push(&text.as_bytes()[split..]));
            assert_eq!(got, all, "split at {split}");
        }
        let mut s = Splitter::new();
        let mut got = Vec::new();
        for b in text.as_bytes() {
            got.extend(s.push(std::slice::from_ref(b)));
        }
        assert_eq!(got, all);
        assert_eq!(s.pending_len(), 0);
    }

    #[test]
    fn oversized_event_disables_inspection() {
        let mut s = Splitter::new();
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert!(s.push(b"data: ").is_empty());
        assert!(s.push(&big).is_empty());
        assert!(s.disabled());
        assert_eq!(s.take_pending().len(), MAX_EVENT_BYTES + 7);
        assert!(s.push(b"\n\n").is_empty());
        assert_eq!(s.take_pending().len(), 0);
    }

    #[test]
    fn unfinished_last_event_is_pending() {
        let mut s = Splitter::new();
        assert_eq!(s.push(b"data: a\n\ndata: b").len(), 1);
        assert_eq!(&s.take_pending()[..], b"data: b");
    }
}
