//! Fast-forward for a terminal-state parser that fell far behind a flood of plain text.
//!
//! Parsing every byte with a VT parser is several times slower than a PTY can produce plain
//! text (`cat big.log`). When the parser is far behind, a prefix of its backlog can be skipped
//! without changing the final state, if:
//! - the prefix holds only printable text, UTF-8, `\r`, `\n`, `\t` and backspace (no escape
//!   sequence, so no mode, colour, title or cursor-addressing change is lost);
//! - it ends right after `\r\n` (the skipping parser is then given a `\r`, so both agree on the
//!   column; the row no longer matters, see below);
//! - at least `scrollback + rows + 1` line feeds follow it, so every row the prefix wrote, on the
//!   screen or in the scrollback, is pushed out of both by later lines either way;
//! - no scroll region is set (a cursor outside a region does not scroll and would keep
//!   remnants of the skipped lines). [`region_change`] tracks that from the parsed bytes.

const ONES: u64 = 0x0101_0101_0101_0101;

/// Whether the 8 bytes of `w` may hold a byte [`plain`] refuses or must look closer at: one
/// below 0x20 (a control, or `\r`, `\n`, `\t`, backspace, which are plain), 0x7f, or 0xc2 (the
/// lead byte of a C1 control). Never false when such a byte is there; cheap, and true for every
/// word that holds a line's `\r\n`, which [`refused`] then looks at.
fn suspect(w: u64) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below n (n <= 128) leaves its high bit set in (w - n) & !w.
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    below_space | zero_byte(w ^ (ONES * 0x7f)) | zero_byte(w ^ (ONES * 0xc2)) != 0
}

/// Whether the 8 bytes of `w` hold a control other than `\r`, `\n`, `\t` and backspace, 0x7f,
/// or 0xc2 (which the byte after it decides): exact, lane by lane, so a line's `\r\n` does not
/// send its word to the byte-by-byte check. (Plain byte loops are not vectorised in the release
/// build: its link-time optimisation runs at the size-optimised binary crate's level, where such
/// a loop scanned 0.5 GB/s; these two word tests together about 4 GB/s.)
fn refused(w: u64) -> bool {
    const LOW7: u64 = ONES * 0x7f;
    // The high bit of a lane is set when the lane is zero (no carry crosses lanes).
    let zero = |x: u64| !(((x & LOW7) + LOW7) | x) & !LOW7;
    let control = zero(w & (ONES * 0xe0));
    let allowed = zero(w ^ (ONES * b'\r' as u64))
        | zero(w ^ (ONES * b'\n' as u64))
        | zero(w ^ (ONES * b'\t' as u64))
        | zero(w ^ (ONES * 0x08));
    (control & !allowed) | zero(w ^ (ONES * 0x7f)) | zero(w ^ (ONES * 0xc2)) != 0
}

/// The first byte before `end` that may not be skipped, eight bytes at a time.
fn first_not_plain(data: &[u8], end: usize) -> Option<usize> {
    let mut i = 0;
    for word in data[..end].chunks_exact(8) {
        let w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        if suspect(w)
            && refused(w)
            && let Some(k) = (i..i + 8).find(|&k| !plain(data, k))
        {
            return Some(k);
        }
        i += 8;
    }
    (i..end).find(|&k| !plain(data, k))
}

/// Whether a skip may pass over all of `chunk`, a piece of the stream looked at alone (the
/// reader's mark, see `follow.rs`): every byte plain, and no 0xc2 at its end, whose meaning
/// the next piece decides.
pub(crate) fn chunk_is_plain(chunk: &[u8]) -> bool {
    first_not_plain(chunk, chunk.len()).is_none() && chunk.last() != Some(&0xc2)
}

/// Whether `b` (at `i` in `data`) may be skipped.
fn plain(data: &[u8], i: usize) -> bool {
    match data[i] {
        b'\r' | b'\n' | b'\t' | 0x08 => true,
        0x00..=0x1f | 0x7f => false,
        // U+0080..U+009F (C1 controls) encoded in UTF-8.
        0xc2 => !matches!(data.get(i + 1), Some(0x80..=0x9f)),
        _ => true,
    }
}

/// The latest cut in `data` (right after a `\r\n`) that `lines` line feeds follow; `None` when
/// there is none. Says nothing about the bytes before it.
pub(crate) fn latest_cut(data: &[u8], lines: usize) -> Option<usize> {
    let mut count = 0usize;
    for j in (1..data.len()).rev() {
        if data[j] == b'\n' {
            if count >= lines && data[j - 1] == b'\r' {
                return Some(j + 1);
            }
            count += 1;
        }
    }
    None
}

/// The longest prefix of `data` that can be skipped, given that `lines` line feeds must follow
/// it; `None` when there is none.
pub(crate) fn skip_point(data: &[u8], lines: usize) -> Option<usize> {
    let latest = latest_cut(data, lines)?;
    // Only plain text before the cut: stop at the first byte that is not.
    let limit = first_not_plain(data, latest).unwrap_or(latest);
    if limit == latest {
        return Some(latest);
    }
    // The last `\r\n` that ends at or before `limit`.
    (2..=limit)
        .rev()
        .find(|&c| data[c - 2] == b'\r' && data[c - 1] == b'\n')
}

/// The effect of `data` (complete sequences only) on the scroll region: `Some(true)` when the
/// last change sets a region other than the full screen of `rows`, `Some(false)` when it resets
/// it (`CSI r`, `CSI 1;<rows> r`, or a full reset `ESC c`), `None` when nothing changes it.
pub(crate) fn region_change(data: &[u8], rows: u16) -> Option<bool> {
    let mut result = None;
    let mut i = 0;
    while let Some(p) = data[i..].iter().position(|&b| b == 0x1b) {
        let esc = i + p;
        i = esc + 1;
        match data.get(esc + 1) {
            Some(b'c') => result = Some(false),
            Some(b'[') => {
                let params_start = esc + 2;
                let mut k = params_start;
                while k < data.len() && (0x20..=0x3f).contains(&data[k]) {
                    k += 1;
                }
                if data.get(k) == Some(&b'r') {
                    let params = &data[params_start..k];
                    let full = format!("1;{rows}");
                    result = Some(!(params.is_empty() || params == full.as_bytes()));
                }
                i = k.min(data.len());
            }
            _ => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| format!("line {i}\r\n").into_bytes())
            .collect()
    }

    #[test]
    fn plain_text_is_cut_after_a_crlf_with_enough_lines_left() {
        let data = lines(100);
        let cut = skip_point(&data, 10).unwrap();
        assert!(data[..cut].ends_with(b"\r\n"));
        let after = data[cut..].iter().filter(|&&b| b == b'\n').count();
        assert_eq!(after, 10);
        assert_eq!(
            skip_point(&lines(10), 10),
            None,
            "not enough lines after any cut"
        );
    }

    #[test]
    fn escapes_and_controls_stop_the_cut() {
        let mut data = lines(20);
        data.extend_from_slice(b"\x1b[31mred\r\n");
        data.extend_from_slice(&lines(100));
        let cut = skip_point(&data, 10).unwrap();
        assert_eq!(cut, lines(20).len(), "cut just before the escape's line");
        let mut c1 = lines(5);
        c1.extend_from_slice("x\u{9b}y\r\n".as_bytes());
        c1.extend_from_slice(&lines(100));
        assert_eq!(skip_point(&c1, 10), Some(lines(5).len()));
        let mut bel = b"\x07".to_vec();
        bel.extend_from_slice(&lines(100));
        assert_eq!(skip_point(&bel, 10), None);
        let utf8: Vec<u8> = "h\u{e9}llo \u{1F600}\r\n".repeat(50).into_bytes();
        assert!(skip_point(&utf8, 10).is_some(), "UTF-8 text is plain");
    }

    #[test]
    fn the_word_scan_finds_what_the_byte_scan_finds() {
        // Every byte value at every position of a word and the bytes after one, in text of
        // lengths that end inside, at and after a word.
        let text = b"plain text, 8 bytes at a time \xc3\xa9\r\n\t\x08 ~";
        for bad in 0..=255u8 {
            for follow in [b'a', 0x80, 0x9f, 0xa0, b'\r', 0x0b] {
                for at in 0..19 {
                    for len in [1, 2, 3, 7, 8, 9, 16, 21] {
                        let end = at + len;
                        let mut data: Vec<u8> =
                            text.iter().cycle().take(end + 1).copied().collect();
                        data[at] = bad;
                        data[at + 1] = follow;
                        let expected = (0..end).find(|&k| !plain(&data, k));
                        assert_eq!(
                            first_not_plain(&data, end),
                            expected,
                            "byte {bad:#04x} then {follow:#04x} at {at} of {end}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_chunk_is_plain_only_when_a_skip_may_pass_all_of_it() {
        assert!(chunk_is_plain(&lines(50)));
        assert!(chunk_is_plain("h\u{e9}llo \u{1F600}\r\n".as_bytes()));
        assert!(chunk_is_plain(b""));
        for bad in [&b"\x1b[31m"[..], b"\x07", b"\x7f", "\u{9b}".as_bytes()] {
            let mut data = lines(3);
            data.extend_from_slice(bad);
            data.extend_from_slice(&lines(3));
            assert!(!chunk_is_plain(&data), "{bad:?} inside");
        }
        // A C1 control split across two reads: the first piece ends in its lead byte.
        let mut split = lines(3);
        split.push(0xc2);
        assert!(!chunk_is_plain(&split));
    }

    #[test]
    fn the_latest_cut_has_the_lines_after_it() {
        let data = lines(100);
        let cut = latest_cut(&data, 10).unwrap();
        assert_eq!(cut, lines(90).len());
        assert_eq!(latest_cut(&lines(10), 10), None);
        assert_eq!(skip_point(&data, 10), Some(cut), "all plain: the same cut");
    }

    #[test]
    fn bare_line_feeds_never_make_a_cut() {
        let data = "x\n".repeat(100).into_bytes();
        assert_eq!(skip_point(&data, 10), None);
    }

    #[test]
    fn scroll_regions_are_tracked() {
        assert_eq!(region_change(b"plain", 24), None);
        assert_eq!(region_change(b"\x1b[2;20r", 24), Some(true));
        assert_eq!(region_change(b"\x1b[2;20r..\x1b[r", 24), Some(false));
        assert_eq!(region_change(b"\x1b[1;24r", 24), Some(false));
        assert_eq!(region_change(b"\x1b[1;24r", 30), Some(true));
        assert_eq!(region_change(b"\x1b[5;9r\x1bc", 24), Some(false));
        assert_eq!(region_change(b"\x1b[31m\x1b[?25h", 24), None);
    }
}
