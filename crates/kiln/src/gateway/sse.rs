//! An incremental server-sent-events splitter: bytes go in as they arrive, complete events come
//! out as their raw bytes (to forward unchanged, without a copy); their `event:` name and joined
//! `data:` are parsed only when asked for. Lines end in `\n`, `\r\n` or `\r`; a blank line ends
//! an event (a block of comments only is an event too, so no byte is lost). A pending event
//! larger than the cap switches the splitter off (the stream is still forwarded, just not
//! inspected).

use bytes::{Bytes, BytesMut};
use memchr::{memchr2, memmem};

/// Largest event kept while waiting for its end (8 MiB).
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// One complete event, as received (blank line included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's bytes.
    pub raw: Bytes,
}

impl Event {
    /// Whether the raw bytes contain `needle` (a cheap test before parsing).
    pub fn contains(&self, needle: &[u8]) -> bool {
        memmem::find(&self.raw, needle).is_some()
    }

    /// The `event:` field (if any) and the `data:` lines joined with `\n`.
    pub fn fields(&self) -> (Option<String>, String) {
        let mut name = None;
        let mut data: Vec<&[u8]> = Vec::new();
        for line in lines(&self.raw) {
            if line.first() == Some(&b':') {
                continue;
            }
            let (field, value) = match memchr::memchr(b':', line) {
                Some(i) => {
                    let v = &line[i + 1..];
                    (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
                }
                None => (line, &b""[..]),
            };
            match field {
                b"event" => name = Some(String::from_utf8_lossy(value).into_owned()),
                b"data" => data.push(value),
                _ => {}
            }
        }
        let data = match data.as_slice() {
            [one] => String::from_utf8_lossy(one).into_owned(),
            many => many
                .iter()
                .map(|d| String::from_utf8_lossy(d))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        (name, data)
    }

    /// Just the data (see [`Event::fields`]).
    pub fn data(&self) -> String {
        self.fields().1
    }
}

/// The lines of a complete event, without their ends.
fn lines(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = raw;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr2(b'\n', b'\r', rest) {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => (&rest[..i], i + 2),
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        rest = &rest[next..];
        Some(line)
    })
}

/// Splits a byte stream into events.
#[derive(Debug, Default)]
pub struct Splitter {
    pending: BytesMut,
    /// Where to resume looking for a line end in `pending`.
    scan_from: usize,
    /// `scan_from` is inside a line (bytes of it came before), so a line end there ends a
    /// non-empty line rather than forming a blank one.
    mid_line: bool,
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
        let mut mid_line = self.mid_line;
        loop {
            let Some(off) = memchr2(b'\n', b'\r', &self.pending[i..]) else {
                mid_line |= i < self.pending.len();
                i = self.pending.len();
                break;
            };
            let at = i + off;
            mid_line |= off > 0;
            // A `\r` at the very end may be the first half of `\r\n`: wait for more.
            if self.pending[at] == b'\r' && at + 1 == self.pending.len() {
                i = at;
                break;
            }
            let next = if self.pending[at] == b'\r' && self.pending[at + 1] == b'\n' {
                at + 2
            } else {
                at + 1
            };
            if mid_line {
                // The end of a non-empty line.
                mid_line = false;
                i = next;
                continue;
            }
            // A blank line: the event is complete.
            out.push(Event {
                raw: self.pending.split_to(next).freeze(),
            });
            i = 0;
        }
        self.scan_from = i;
        self.mid_line = mid_line;
        if self.pending.len() > MAX_EVENT_BYTES {
            self.disabled = true;
        }
        out
    }

    /// The bytes received but not part of a returned event (an unfinished last event, or
    /// everything held when inspection was switched off). Afterwards nothing is pending.
    pub fn take_pending(&mut self) -> Bytes {
        self.scan_from = 0;
        self.mid_line = false;
        std::mem::take(&mut self.pending).freeze()
    }

    /// Bytes received but not yet part of a complete event.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(events: &[Event]) -> Vec<(Option<String>, String)> {
        events.iter().map(Event::fields).collect()
    }

    #[test]
    fn events_across_arbitrary_chunk_boundaries() {
        let text = "event: message_start\ndata: {\"a\":1}\n\n: comment\n\ndata: x\r\ndata: y\r\n\r\ndata:[DONE]\r\rdata: z\n\n";
        let all: Vec<Event> = Splitter::new().push(text.as_bytes());
        let f = fields(&all);
        assert_eq!(all.len(), 5, "{f:?}");
        assert_eq!(f[0], (Some("message_start".into()), "{\"a\":1}".into()));
        assert_eq!(f[1], (None, String::new()));
        assert_eq!(f[2], (None, "x\ny".into()));
        assert_eq!(f[3], (None, "[DONE]".into()));
        assert_eq!(f[4], (None, "z".into()));
        let joined: Vec<u8> = all.iter().flat_map(|e| e.raw.to_vec()).collect();
        assert_eq!(joined, text.as_bytes());
        assert!(all[0].contains(b"message_start") && !all[0].contains(b"usage"));
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
        let done = s.push(b"data: a\n\ndata: b");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].data(), "a");
        assert_eq!(&s.take_pending()[..], b"data: b");
    }
}
