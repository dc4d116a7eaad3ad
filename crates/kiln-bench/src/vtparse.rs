//! A ceiling for comparison: how fast the `vt100` parser alone (the terminal state kiln keeps
//! for snapshots, 80x24 with 200 lines of scrollback) digests the benchmark stream in this
//! process. kiln feeds every output byte through it, so its throughput cannot exceed this.

use crate::pattern::Pattern;
use std::num::NonZeroU16;
use std::time::Instant;

/// Columns, rows and scrollback of kiln's default session state.
const COLS: u16 = 80;
const ROWS: u16 = 24;
const SCROLLBACK_LINES: usize = 200;

/// Parses `bytes` of the stream in 64 KiB pieces; returns MB (10^6 bytes) per second.
pub fn measure(bytes: u64) -> f64 {
    let mut data = vec![0u8; bytes as usize];
    Pattern::default().fill(&mut data);
    let size = |v: u16| NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN);
    let mut parser = vt100::Parser::new(size(ROWS), size(COLS), SCROLLBACK_LINES);
    let started = Instant::now();
    for chunk in data.chunks(64 << 10) {
        parser.process(chunk);
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(parser.screen().cursor_position());
    bytes as f64 / 1e6 / seconds.max(1e-9)
}
