//! Instruction files (`CLAUDE.md`, `AGENTS.md`, `GEMINI.md`): kiln owns one block between
//! [`BEGIN`] and [`END`] marker lines and replaces only that; text before and after it is the
//! user's and stays as it is. A file without the block gets it appended.

use super::{FormatError, text};

/// First line of kiln's block.
pub const BEGIN: &str =
    "<!-- kiln:begin (managed by kiln; edits inside this block are replaced) -->";
/// Last line of kiln's block.
pub const END: &str = "<!-- kiln:end -->";

/// Puts `body` inside kiln's block; `Ok(None)` when the block already holds it.
pub fn merge(existing: Option<&[u8]>, body: &str) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    let block = format!("{BEGIN}\n{}\n{END}", body.trim_end());
    let begin = src
        .lines()
        .position(|l| l.trim_start().starts_with("<!-- kiln:begin"));
    let out = match begin {
        Some(b) => {
            let lines: Vec<&str> = src.lines().collect();
            let end = lines[b..]
                .iter()
                .position(|l| l.trim() == END)
                .map(|e| b + e)
                .ok_or_else(|| FormatError::Parse("a kiln block without its end marker".into()))?;
            let mut out: Vec<&str> = lines[..b].to_vec();
            out.push(&block);
            out.extend_from_slice(&lines[end + 1..]);
            let mut s = out.join("\n");
            s.push('\n');
            s
        }
        None if src.trim().is_empty() => format!("{block}\n"),
        None => {
            let sep = if src.ends_with("\n\n") {
                ""
            } else if src.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            format!("{src}{sep}{block}\n")
        }
    };
    if out == src {
        return Ok(None);
    }
    Ok(Some(out.into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: Option<&str>, body: &str) -> Option<String> {
        merge(src.map(str::as_bytes), body)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn fresh_append_replace() {
        let fresh = run(None, "hello\n").unwrap();
        assert_eq!(fresh, format!("{BEGIN}\nhello\n{END}\n"));
        assert_eq!(run(Some(&fresh), "hello"), None);

        let user = "# My rules\nBe brief.";
        let appended = run(Some(user), "hello").unwrap();
        assert_eq!(
            appended,
            format!("# My rules\nBe brief.\n\n{BEGIN}\nhello\n{END}\n")
        );

        let edited = format!("Top\n{BEGIN}\nold\nlines\n{END}\nBottom\n");
        let replaced = run(Some(&edited), "new").unwrap();
        assert_eq!(replaced, format!("Top\n{BEGIN}\nnew\n{END}\nBottom\n"));
        assert_eq!(run(Some(&replaced), "new"), None);
    }

    #[test]
    fn unterminated_block_is_refused() {
        let src = format!("{BEGIN}\nhalf");
        assert!(merge(Some(src.as_bytes()), "x").is_err());
    }
}
