//! A fixed-capacity byte ring addressed by absolute stream offsets.
//!
//! Byte `k` of a session's output has offset `k` forever; the ring keeps the newest `capacity`
//! bytes. Readers copy out of it at their own offsets, so a slow reader costs nothing to others.
//!
//! The ring's memory is an anonymous mapping of its own, not the allocator's: a page costs
//! memory only once output has been written to it, and all of it goes back to the system when
//! the session ends. (From the allocator, the first ring freed would raise its threshold for
//! mapping large blocks to the ring's size, and every later ring would come from, and stay in,
//! its heaps.)

use bytes::Bytes;
use memmap2::MmapMut;

/// The newest `capacity` bytes of a stream.
pub(crate) struct Ring {
    buf: MmapMut,
    /// Offset of the next byte to be written (the stream's end).
    end: u64,
}

/// Where an offset falls relative to the ring.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Slice {
    Data(Bytes),
    AtEnd,
    Evicted { oldest: u64 },
    Beyond { end: u64 },
}

impl Ring {
    /// A ring of `capacity` bytes (at least 1); fails when the system has no address space
    /// left to map.
    pub fn new(capacity: usize) -> std::io::Result<Self> {
        Ok(Self {
            buf: MmapMut::map_anon(capacity.max(1))?,
            end: 0,
        })
    }

    /// Bytes the ring holds when full.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub fn end(&self) -> u64 {
        self.end
    }

    /// Offset of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.end.saturating_sub(self.buf.len() as u64)
    }

    /// Appends bytes; the oldest fall out when the ring is full.
    pub fn push(&mut self, mut data: &[u8]) {
        let cap = self.buf.len();
        if data.len() > cap {
            self.end += (data.len() - cap) as u64;
            data = &data[data.len() - cap..];
        }
        let pos = (self.end % cap as u64) as usize;
        let first = data.len().min(cap - pos);
        self.buf[pos..pos + first].copy_from_slice(&data[..first]);
        self.buf[..data.len() - first].copy_from_slice(&data[first..]);
        self.end += data.len() as u64;
    }

    /// Copies up to `max` bytes starting at `offset`.
    pub fn read(&self, offset: u64, max: usize) -> Slice {
        if offset > self.end {
            return Slice::Beyond { end: self.end };
        }
        if offset == self.end {
            return Slice::AtEnd;
        }
        if offset < self.start() {
            return Slice::Evicted {
                oldest: self.start(),
            };
        }
        let cap = self.buf.len();
        let len = ((self.end - offset) as usize).min(max.max(1));
        let pos = (offset % cap as u64) as usize;
        let first = len.min(cap - pos);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buf[pos..pos + first]);
        out.extend_from_slice(&self.buf[..len - first]);
        Slice::Data(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: Slice) -> Vec<u8> {
        match s {
            Slice::Data(b) => b.to_vec(),
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn offsets_wrap_and_evict() {
        let mut r = Ring::new(8).expect("ring");
        r.push(b"abcdef");
        assert_eq!(data(r.read(0, 100)), b"abcdef");
        assert_eq!(r.read(6, 10), Slice::AtEnd);
        r.push(b"ghij");
        assert_eq!(r.end(), 10);
        assert_eq!(r.start(), 2);
        assert_eq!(r.read(1, 4), Slice::Evicted { oldest: 2 });
        assert_eq!(data(r.read(2, 100)), b"cdefghij");
        assert_eq!(data(r.read(5, 3)), b"fgh");
        assert_eq!(r.read(11, 1), Slice::Beyond { end: 10 });
    }

    #[test]
    fn push_larger_than_capacity_keeps_the_tail() {
        let mut r = Ring::new(4).expect("ring");
        r.push(b"0123456789");
        assert_eq!(r.end(), 10);
        assert_eq!(data(r.read(6, 10)), b"6789");
        assert_eq!(r.read(5, 1), Slice::Evicted { oldest: 6 });
    }

    #[test]
    fn many_small_pushes_match_the_stream() {
        let mut r = Ring::new(7).expect("ring");
        let mut all = Vec::new();
        for i in 0..100u8 {
            let chunk = vec![i; (i % 5) as usize + 1];
            r.push(&chunk);
            all.extend_from_slice(&chunk);
        }
        let start = r.start();
        assert_eq!(data(r.read(start, 100)), &all[start as usize..]);
    }
}
