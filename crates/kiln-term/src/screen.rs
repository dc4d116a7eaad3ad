//! Server-side terminal state (a `vt100` parser fed the same bytes as the ring) and snapshots:
//! bytes that reproduce the current screen, cursor, alternate screen, modes, title and recent
//! scrollback on a freshly reset terminal of the same size.
//!
//! Exactness: the parser is only fed up to a clean boundary (no escape sequence or UTF-8
//! character cut in half), so a snapshot taken at `fed` followed by the stream from `fed` on is
//! exactly what a terminal that saw the whole stream shows. The few held-back bytes are still in
//! the ring. vt100 cannot show the primary screen while the alternate one is active, so the
//! primary screen is captured just before each switch to the alternate screen.
//!
//! Compact scrollback: the parser keeps only the newest [`PARSER_SCROLLBACK_LINES`] lines of
//! scrollback as cells (32 bytes a cell, what a resize that grows the screen pulls back; a screen
//! growing by more rows than that is rebuilt from a snapshot with room for them, so the older
//! lines come back too, `Screen::resize`); lines
//! that leave it are kept as their formatted text (about 80 bytes a line of plain text instead of
//! 2.5 KiB at 80 columns), up to the session's scrollback length in all. Erasing the scrollback
//! (`CSI 3 J`) and resetting the terminal (`ESC c`) empty both.

use crate::lines::Lines;
use std::num::NonZeroU16;

/// Lines of scrollback the parser itself keeps as cells; older lines are kept formatted.
const PARSER_SCROLLBACK_LINES: usize = 24;

/// Records the window title, which vt100 reports only through callbacks, and keeps the lines
/// that leave the parser's own scrollback, formatted.
pub(crate) struct Callbacks {
    title: Vec<u8>,
    /// Formatted primary-screen lines older than the parser's scrollback, oldest first.
    older: Lines,
}

impl vt100::Callbacks for Callbacks {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title = title.to_vec();
    }

    fn on_scroll(&mut self, row: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            return;
        }
        self.older.push(|line| {
            // Writing to a String cannot fail.
            let _ = row.write_formatted_basic(
                line,
                &mut vt100::capture::BasicFormattedCaptureState::new(),
            );
        });
    }
}

/// Terminal state for one session.
pub(crate) struct Screen {
    parser: vt100::Parser<Callbacks>,
    /// Stream offset up to which the parser has been fed.
    fed: u64,
    /// Bytes after `fed` that end in an unfinished sequence (at most `max_held`).
    held: Vec<u8>,
    /// The primary screen as it was when the alternate screen was entered.
    saved_primary: Option<String>,
    scrollback_lines: usize,
    max_held: usize,
    /// Whether a scroll region other than the full screen may be set (see `skip.rs`).
    region_set: bool,
}

fn nz(v: u16) -> NonZeroU16 {
    NonZeroU16::new(v).unwrap_or(NonZeroU16::MIN)
}

/// A parser keeping [`PARSER_SCROLLBACK_LINES`] (plus `extra`) lines of scrollback as cells and
/// the rest of `scrollback_lines` formatted.
fn new_parser(
    cols: u16,
    rows: u16,
    scrollback_lines: usize,
    extra: usize,
) -> vt100::Parser<Callbacks> {
    let parser_lines = scrollback_lines.min(PARSER_SCROLLBACK_LINES.saturating_add(extra));
    vt100::Parser::new_with_callbacks(
        nz(rows),
        nz(cols),
        parser_lines,
        Callbacks {
            title: Vec::new(),
            older: Lines::new(scrollback_lines - parser_lines),
        },
    )
}

impl Screen {
    pub fn new(cols: u16, rows: u16, scrollback_lines: usize, max_held: usize) -> Self {
        Self {
            parser: new_parser(cols, rows, scrollback_lines, 0),
            fed: 0,
            held: Vec::new(),
            saved_primary: None,
            scrollback_lines,
            max_held,
            region_set: false,
        }
    }

    /// Resizes the screens; rows a shrinking screen pushes out of the parser's scrollback are
    /// kept formatted. A primary screen that grows pulls lines of its scrollback back onto the
    /// screen, as terminals do; when it grows by more rows than the parser keeps as cells, the
    /// parser is rebuilt from a snapshot with room for them first, so the formatted older lines
    /// come back rather than blank rows, and rebuilt again afterwards with its usual few cells.
    /// (A rebuild forgets what a snapshot does not carry: a position saved with `ESC 7`.)
    pub fn resize(&mut self, cols: u16, rows: u16) {
        let screen = self.parser.screen();
        let grow = usize::from(rows.saturating_sub(screen.size().0.get()));
        let short = grow > screen.scrollback_len()
            && !screen.alternate_screen()
            && !self.parser.callbacks().older.is_empty();
        if short {
            self.rebuild(grow);
            self.parser.set_size(nz(rows), nz(cols));
            self.rebuild(0);
        } else {
            self.parser.set_size(nz(rows), nz(cols));
        }
    }

    /// Replaces the parser by one that keeps `extra` more scrollback lines as cells, fed a
    /// snapshot of the current state.
    fn rebuild(&mut self, extra: usize) {
        let snapshot = self.snapshot();
        let (cols, rows) = self.size();
        self.parser = new_parser(cols, rows, self.scrollback_lines, extra);
        self.parser.process(&snapshot);
    }

    /// The size (cols, rows) the state has now.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (cols.get(), rows.get())
    }

    /// How many line feeds must follow a skipped prefix, or `None` when no skip is safe now
    /// (an unfinished sequence is held, or a scroll region may be set).
    pub fn skip_lines(&self) -> Option<usize> {
        if !self.held.is_empty() || self.region_set {
            return None;
        }
        let (_, rows) = self.size();
        Some(self.scrollback_lines + rows as usize + 1)
    }

    /// Skips `n` bytes of plain text ending in `\r\n` (found by `skip::skip_point`).
    pub fn skip(&mut self, n: usize) {
        self.fed += n as u64;
        self.parser.process(b"\r");
    }

    /// Offset of the stream up to which the state is exact.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, data: &[u8]) {
        if self.held.is_empty() {
            let keep = incomplete_tail(data, self.max_held);
            self.process(&data[..data.len() - keep]);
            self.held.extend_from_slice(&data[data.len() - keep..]);
        } else {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(data);
            let keep = incomplete_tail(&joined, self.max_held);
            self.process(&joined[..joined.len() - keep]);
            joined.drain(..joined.len() - keep);
            self.held = joined;
        }
    }

    /// Feeds complete bytes, capturing the primary screen before any switch to the alternate one
    /// and emptying the formatted scrollback where the parser's own is erased.
    fn process(&mut self, mut data: &[u8]) {
        self.fed += data.len() as u64;
        if let Some(set) = crate::skip::region_change(data, self.size().1) {
            self.region_set = set;
        }
        while let Some((start, end, event)) = find_event(data) {
            self.parser.process(&data[..start]);
            let alternate = self.parser.screen().alternate_screen();
            if event == Event::AltEnter && !alternate {
                self.saved_primary = Some(self.primary_formatted());
            }
            self.parser.process(&data[start..end]);
            // `CSI 3 J` erases the active screen's scrollback (the alternate one has none);
            // `ESC c` resets everything.
            if event == Event::Reset || (event == Event::EraseScrollback && !alternate) {
                self.parser.callbacks_mut().older.clear();
            }
            data = &data[end..];
        }
        self.parser.process(data);
        if !self.parser.screen().alternate_screen() {
            self.saved_primary = None;
        }
    }

    /// Scrollback lines then the visible primary screen, for a fresh terminal.
    fn primary_formatted(&self) -> String {
        let screen = self.parser.screen();
        let mut out = String::new();
        let (rows, cols) = screen.size();
        let older = &self.parser.callbacks().older;
        let lines = scrollback_rows(screen, cols.get(), self.scrollback_lines);
        if !older.is_empty() || !lines.is_empty() {
            older.write_to(&mut out, "\x1b[m\r\n");
            for line in &lines {
                out.push_str(line);
                out.push_str("\x1b[m\r\n");
            }
            // Push every scrollback line off the visible screen into the terminal's history.
            for _ in 1..rows.get() {
                out.push('\n');
            }
        }
        out.push_str(&screen.contents_formatted());
        out
    }

    /// Bytes reproducing the current state on a freshly reset terminal of the same size.
    pub fn snapshot(&self) -> Vec<u8> {
        let screen = self.parser.screen();
        let mut out = String::from("\x1bc");
        if screen.alternate_screen() {
            if let Some(primary) = &self.saved_primary {
                out.push_str(primary);
            }
            out.push_str("\x1b[?1049h");
            out.push_str(&screen.contents_formatted());
        } else {
            out.push_str(&self.primary_formatted());
        }
        out.push_str(&screen.input_mode_formatted());
        let title = &self.parser.callbacks().title;
        if !title.is_empty() {
            out.push_str("\x1b]2;");
            out.push_str(&String::from_utf8_lossy(title).replace(['\x07', '\x1b'], ""));
            out.push('\x07');
        }
        out.push_str(&screen.cursor_state_formatted());
        out.push_str(&screen.attributes_formatted());
        out.into_bytes()
    }

    #[cfg(test)]
    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }
}

/// Formatted rows of the primary screen's scrollback, oldest first (at most `limit`).
fn scrollback_rows(screen: &vt100::Screen, cols: u16, limit: usize) -> Vec<String> {
    let mut view = screen.clone();
    view.set_scrollback(usize::MAX);
    let total = view.scrollback().min(limit);
    let rows = view.size().0.get() as usize;
    let mut out = Vec::with_capacity(total);
    let mut pos = total;
    while pos > 0 {
        view.set_scrollback(pos);
        let take = pos.min(rows);
        out.extend(view.rows_formatted(0, cols).take(take));
        pos -= take;
    }
    out
}

/// A sequence [`Screen::process`] must see on its own.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    /// `CSI ? 47|1047|1049 h`: enter the alternate screen.
    AltEnter,
    /// `CSI 3 J` or `CSI ? 3 J`: erase the scrollback.
    EraseScrollback,
    /// `ESC c`: reset the terminal.
    Reset,
}

/// Finds the first complete sequence that enters the alternate screen, erases the scrollback or
/// resets the terminal: its start, its end and which it is.
fn find_event(data: &[u8]) -> Option<(usize, usize, Event)> {
    let mut from = 0;
    while let Some(rel) = data[from..].iter().position(|&b| b == 0x1b) {
        let start = from + rel;
        let rest = &data[start..];
        match rest.get(1) {
            Some(b'c') => return Some((start, start + 2, Event::Reset)),
            Some(b'[') => {
                let private = rest.get(2) == Some(&b'?');
                let params_from = if private { 3 } else { 2 };
                let params_len = rest[params_from.min(rest.len())..]
                    .iter()
                    .position(|&b| !(b.is_ascii_digit() || b == b';'));
                if let Some(p) = params_len {
                    let params = &rest[params_from..params_from + p];
                    let end = start + params_from + p + 1;
                    let mut each = params.split(|&b| b == b';');
                    match rest[params_from + p] {
                        b'h' if private
                            && each.any(|m| m == b"47" || m == b"1047" || m == b"1049") =>
                        {
                            return Some((start, end, Event::AltEnter));
                        }
                        b'J' if each.next().is_some_and(|m| number(m) == Some(3)) => {
                            return Some((start, end, Event::EraseScrollback));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        from = start + 1;
    }
    None
}

/// A parameter's value (`None` when empty or too large).
fn number(digits: &[u8]) -> Option<u32> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// How many trailing bytes of `data` form an unfinished escape sequence or UTF-8 character.
fn incomplete_tail(data: &[u8], max_held: usize) -> usize {
    let window = data.len().saturating_sub(max_held);
    if let Some(rel) = data[window..].iter().rposition(|&b| b == 0x1b) {
        let pos = window + rel;
        if !escape_complete(&data[pos..]) {
            return data.len() - pos;
        }
    }
    utf8_tail(data)
}

/// Whether the escape sequence at the start of `s` (which begins with ESC) is complete.
fn escape_complete(s: &[u8]) -> bool {
    let Some(&kind) = s.get(1) else { return false };
    let body = &s[2..];
    match kind {
        b'[' => body.iter().any(|b| (0x40..=0x7e).contains(b)),
        b']' | b'P' | b'X' | b'^' | b'_' => body.contains(&0x07),
        0x20..=0x2f => body.iter().any(|b| (0x30..=0x7e).contains(b)),
        _ => true,
    }
}

/// Length of a UTF-8 character cut off at the end of `data` (0 when the end is clean).
fn utf8_tail(data: &[u8]) -> usize {
    for back in 1..=3.min(data.len()) {
        let b = data[data.len() - back];
        if b & 0xc0 == 0x80 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let need = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return 0,
        };
        return if back < need { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_and_escape_tails_are_held() {
        assert_eq!(utf8_tail("a😀".as_bytes()), 0);
        let e = "😀".as_bytes();
        assert_eq!(utf8_tail(&e[..1]), 1);
        assert_eq!(utf8_tail(&e[..3]), 3);
        assert_eq!(incomplete_tail(b"abc\x1b[3", 4096), 3);
        assert_eq!(incomplete_tail(b"abc\x1b[31m", 4096), 0);
        assert_eq!(incomplete_tail(b"abc\x1b]2;title", 4096), 9);
        assert_eq!(incomplete_tail(b"abc\x1b]2;title\x07", 4096), 0);
        assert_eq!(incomplete_tail(b"abc\x1b", 4096), 1);
    }

    #[test]
    fn split_utf8_feeds_cleanly() {
        let mut s = Screen::new(20, 3, 10, 4096);
        let bytes = "x😀y".as_bytes();
        s.feed(&bytes[..3]);
        assert_eq!(s.fed(), 1, "the half character is held back");
        s.feed(&bytes[3..]);
        assert_eq!(s.fed(), bytes.len() as u64);
        assert_eq!(s.screen().contents(), "x😀y");
    }

    #[test]
    fn finds_alt_screen_switches_scrollback_erases_and_resets() {
        assert_eq!(
            find_event(b"ab\x1b[?1049hcd"),
            Some((2, 10, Event::AltEnter))
        );
        assert_eq!(find_event(b"\x1b[?25;47h"), Some((0, 9, Event::AltEnter)));
        assert_eq!(find_event(b"\x1b[?2004h\x1b[?1049l"), None);
        assert_eq!(
            find_event(b"x\x1b[2J\x1b[3J"),
            Some((5, 9, Event::EraseScrollback))
        );
        assert_eq!(
            find_event(b"\x1b[?03J"),
            Some((0, 6, Event::EraseScrollback))
        );
        assert_eq!(find_event(b"\x1b[1;3J\x1b[31m\x1b[3"), None);
        assert_eq!(find_event(b"a\x1bcb"), Some((1, 3, Event::Reset)));
    }

    #[test]
    fn snapshot_reproduces_alt_screen_and_primary() {
        let mut raw = vt100::Parser::new(nz(5), nz(30), 100);
        let mut s = Screen::new(30, 5, 100, 4096);
        let mut stream = Vec::new();
        for i in 0..12 {
            stream.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        stream.extend_from_slice(
            b"\x1b]2;my title\x07\x1b[?2004h\x1b[?1049h\x1b[H\x1b[31mred\x1b[5;3Hend\x1b[?1h\x1b=",
        );
        raw.process(&stream);
        s.feed(&stream);
        let snap = s.snapshot();
        let mut fresh = vt100::Parser::new(nz(5), nz(30), 100);
        fresh.process(&snap);
        assert_eq!(
            fresh.screen().contents_formatted(),
            raw.screen().contents_formatted()
        );
        assert_eq!(
            fresh.screen().cursor_position(),
            raw.screen().cursor_position()
        );
        assert!(fresh.screen().alternate_screen());
        assert!(fresh.screen().bracketed_paste());
        assert!(fresh.screen().application_cursor());
        assert!(fresh.screen().application_keypad());
        // Leaving the alternate screen shows the same primary screen on both.
        raw.process(b"\x1b[?1049l");
        fresh.process(b"\x1b[?1049l");
        assert_eq!(fresh.screen().contents(), raw.screen().contents());
    }

    /// Every line of a parser's scrollback then its screen, as plain text.
    fn all_lines(screen: &vt100::Screen) -> Vec<String> {
        let mut view = screen.clone();
        view.set_scrollback(usize::MAX);
        let (rows, cols) = view.size();
        let mut out = Vec::new();
        let mut pos = view.scrollback();
        while pos > 0 {
            view.set_scrollback(pos);
            let take = pos.min(rows.get() as usize);
            out.extend(view.rows(0, cols.get()).take(take));
            pos -= take;
        }
        view.set_scrollback(0);
        out.extend(view.rows(0, cols.get()));
        out
    }

    /// Lines older than the parser's own scrollback, kept formatted, come back in snapshots as
    /// a parser that kept every line as cells would show them, through colours, wide
    /// characters, a shrinking resize, `CSI 3 J` and `ESC c`.
    #[test]
    fn formatted_scrollback_matches_a_parser_that_keeps_every_line() {
        let lines = |from: usize, to: usize| -> Vec<u8> {
            (from..to)
                .flat_map(|i| {
                    format!("\x1b[3{}mline {i}\x1b[m wide \u{1F600} end\r\n", i % 8).into_bytes()
                })
                .collect()
        };
        let mut steps: Vec<Vec<u8>> = vec![lines(0, 150), b"resize".to_vec(), lines(150, 170)];
        steps.push([b"\x1b[2J\x1b[3J".as_slice(), &lines(170, 200)].concat());
        steps.push([b"\x1b[?1049hfull screen\r\n".as_slice(), &lines(0, 40)].concat());
        steps.push([b"\x1b[3J\x1b[?1049l".as_slice(), &lines(200, 230)].concat());
        let mut raw = vt100::Parser::new(nz(10), nz(40), 100);
        let mut s = Screen::new(40, 10, 100, 4096);
        for (k, step) in steps.iter().enumerate() {
            if step == b"resize" {
                raw.set_size(nz(6), nz(40));
                s.resize(40, 6);
            } else {
                raw.process(step);
                s.feed(step);
            }
            if raw.screen().alternate_screen() {
                continue;
            }
            let mut fresh = vt100::Parser::new(raw.screen().size().0, nz(40), 100);
            fresh.process(&s.snapshot());
            assert_eq!(
                all_lines(fresh.screen()),
                all_lines(raw.screen()),
                "step {k}"
            );
            assert_eq!(
                fresh.screen().contents_formatted(),
                raw.screen().contents_formatted(),
                "step {k}"
            );
            if k == 0 {
                let older = s.parser.callbacks().older.len();
                assert_eq!(
                    older,
                    100 - PARSER_SCROLLBACK_LINES,
                    "old lines kept formatted"
                );
            }
        }
        assert!(!s.parser.callbacks().older.is_empty());
        s.feed(b"\x1bc");
        assert!(
            s.parser.callbacks().older.is_empty(),
            "a reset empties them"
        );
    }

    /// A screen that grows by more rows than the parser keeps as cells pulls the older,
    /// formatted lines back onto the screen, as a terminal that kept every line does (and as the
    /// browser's terminal does), instead of blank rows; afterwards the parser keeps its usual few
    /// lines as cells again.
    #[test]
    fn growing_by_more_rows_than_the_parser_keeps_pulls_back_formatted_lines() {
        let lines = |from: usize, to: usize| -> Vec<u8> {
            (from..to)
                .flat_map(|i| format!("\x1b[3{}mline {i}\x1b[m end\r\n", i % 8).into_bytes())
                .collect()
        };
        let mut raw = vt100::Parser::new(nz(10), nz(40), 100);
        let mut s = Screen::new(40, 10, 100, 4096);
        let check = |raw: &vt100::Parser, s: &Screen, what: &str| {
            let (rows, cols) = raw.screen().size();
            let mut fresh = vt100::Parser::new(rows, cols, 100);
            fresh.process(&s.snapshot());
            assert_eq!(all_lines(fresh.screen()), all_lines(raw.screen()), "{what}");
            assert_eq!(
                fresh.screen().contents_formatted(),
                raw.screen().contents_formatted(),
                "{what}"
            );
            assert_eq!(
                s.screen().contents_formatted(),
                raw.screen().contents_formatted(),
                "{what}: the state itself"
            );
            assert_eq!(
                s.screen().cursor_position(),
                raw.screen().cursor_position(),
                "{what}"
            );
        };
        let step = |raw: &mut vt100::Parser, s: &mut Screen, bytes: &[u8]| {
            raw.process(bytes);
            s.feed(bytes);
        };
        step(&mut raw, &mut s, &lines(0, 150));
        step(&mut raw, &mut s, b"\x1b[1mprompt$ ");
        raw.set_size(nz(60), nz(40));
        s.resize(40, 60);
        check(&raw, &s, "grown by 50 rows");
        step(&mut raw, &mut s, b"typed\r\n");
        step(&mut raw, &mut s, &lines(150, 160));
        check(&raw, &s, "after more output");
        // More rows than the history kept: what is kept comes back and the rest is blank below,
        // as in the browser's terminal, which can only pull back lines it has. (vt100 counts the
        // lines it dropped and puts a blank row at the top for each, as if it had kept them.)
        raw.set_size(nz(200), nz(40));
        s.resize(40, 200);
        let raw_lines = all_lines(raw.screen());
        let dropped = raw_lines.iter().take_while(|l| l.is_empty()).count();
        assert!(dropped > 0, "the reference dropped lines");
        let mut expected = raw_lines[dropped..].to_vec();
        expected.resize(raw_lines.len(), String::new());
        let mut fresh = vt100::Parser::new(nz(200), nz(40), 100);
        fresh.process(&s.snapshot());
        assert_eq!(
            all_lines(fresh.screen()),
            expected,
            "grown past the history"
        );
        assert_eq!(
            all_lines(s.screen()),
            expected,
            "grown past the history: the state"
        );
        let (row, col) = raw.screen().cursor_position();
        assert_eq!(s.screen().cursor_position(), (row - dropped as u16, col));
        raw.set_size(nz(8), nz(40));
        s.resize(40, 8);
        step(&mut raw, &mut s, &lines(160, 400));
        check(&raw, &s, "shrunk, then a flood");
        assert_eq!(
            s.screen().scrollback_len(),
            PARSER_SCROLLBACK_LINES,
            "the parser keeps its usual cells again"
        );
        assert_eq!(
            s.parser.callbacks().older.len(),
            100 - PARSER_SCROLLBACK_LINES
        );
    }

    /// Skipping (where `skip_point` allows) and parsing everything end in the same state.
    #[test]
    fn skipping_plain_text_changes_nothing() {
        let flood = |n: usize, width: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|i| {
                    let mut l = format!("{i:06} ").into_bytes();
                    l.resize(width, b'a' + (i % 26) as u8);
                    l.extend_from_slice(if i % 7 == 0 { b"\n" } else { b"\r\n" });
                    l
                })
                .collect()
        };
        let prefixes: Vec<Vec<u8>> = vec![
            b"\x1b[31mred\x1b[0m prompt$ ".to_vec(),
            b"a\r\nb\r\nc\x1b[2;5Hmid-screen\x1b[1;44m".to_vec(),
            b"\x1b]2;title\x07\x1b[?1049h\x1b[?2004halt screen\r\n".to_vec(),
            "wide \u{1F600}\u{1F600}\r\n".as_bytes().to_vec(),
        ];
        for (k, prefix) in prefixes.iter().enumerate() {
            for width in [10usize, 79, 80, 81, 200] {
                let mut stream = prefix.clone();
                stream.extend_from_slice(&flood(3000, width));
                stream.extend_from_slice(b"\x1b[32mEND\x1b[0m tail");
                let mut full = Screen::new(80, 24, 100, 4096);
                full.feed(&stream);
                let mut skipping = Screen::new(80, 24, 100, 4096);
                skipping.feed(prefix);
                let rest = &stream[prefix.len()..];
                let lines = skipping.skip_lines().unwrap();
                let n = crate::skip::skip_point(rest, lines).expect("a skip point");
                assert!(n > rest.len() / 2, "most of the flood is skipped");
                skipping.skip(n);
                skipping.feed(&rest[n..]);
                assert_eq!(full.fed(), skipping.fed(), "case {k} width {width}");
                assert_eq!(
                    full.snapshot(),
                    skipping.snapshot(),
                    "case {k} width {width}"
                );
            }
        }
    }

    #[test]
    fn no_skip_with_a_scroll_region_or_a_held_sequence() {
        let mut s = Screen::new(80, 24, 100, 4096);
        s.feed(b"\x1b[2;10r");
        assert_eq!(s.skip_lines(), None);
        s.feed(b"\x1b[r");
        assert!(s.skip_lines().is_some());
        s.feed(b"\x1b[3");
        assert_eq!(s.skip_lines(), None, "an unfinished sequence is held");
    }
}
