//! `.env` files (`~/.codex/.env`, `~/.gemini/.env`): one `KEY=value` per line. kiln replaces the
//! value of its own keys in place (an `export ` prefix is kept), appends missing ones at the end,
//! and leaves every other line — comments, blank lines, user variables — exactly as it was.

use super::{FormatError, text};

/// Sets (`Some`) or removes (`None`) each key. `Ok(None)` when nothing changes.
pub fn merge(
    existing: Option<&[u8]>,
    edits: &[(&str, Option<&str>)],
) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    let mut lines: Vec<String> = src.lines().map(str::to_owned).collect();
    let mut changed = false;
    for (key, value) in edits {
        let found = lines.iter().position(|l| key_of(l) == Some(key));
        match (found, value) {
            (Some(i), Some(v)) => {
                let current = value_of(&lines[i]);
                if current.as_deref() != Some(*v) {
                    let export = lines[i].trim_start().starts_with("export ");
                    lines[i] = line(key, v, export);
                    changed = true;
                }
                // Later duplicates would override this line in most loaders: drop them.
                let before = lines.len();
                let mut seen = 0usize;
                lines.retain(|l| {
                    if key_of(l) == Some(key) {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
                changed |= lines.len() != before;
            }
            (None, Some(v)) => {
                lines.push(line(key, v, false));
                changed = true;
            }
            (Some(_), None) => {
                lines.retain(|l| key_of(l) != Some(key));
                changed = true;
            }
            (None, None) => {}
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(Some(out.into_bytes()))
}

/// The key a line assigns, if it is an assignment.
fn key_of(line: &str) -> Option<&str> {
    let l = line.trim_start();
    if l.starts_with('#') {
        return None;
    }
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    let (key, _) = l.split_once('=')?;
    let key = key.trim_end();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

/// The value of an assignment line, unquoted.
fn value_of(line: &str) -> Option<String> {
    let (_, raw) = line.split_once('=')?;
    let raw = raw.trim();
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        return Some(out);
    }
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.to_owned());
    }
    // Unquoted: an inline comment starts at " #".
    let v = raw.split(" #").next().unwrap_or("").trim_end();
    Some(v.to_owned())
}

fn line(key: &str, value: &str, export: bool) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,=%".contains(c));
    let v = if plain {
        value.to_owned()
    } else {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        format!("\"{escaped}\"")
    };
    if export {
        format!("export {key}={v}")
    } else {
        format!("{key}={v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: Option<&str>, edits: &[(&str, Option<&str>)]) -> Option<String> {
        merge(src.map(str::as_bytes), edits)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn fresh_and_idempotent() {
        let out = run(
            None,
            &[("A", Some("http://x:1/p")), ("B", Some("two words"))],
        )
        .unwrap();
        assert_eq!(out, "A=http://x:1/p\nB=\"two words\"\n");
        assert_eq!(
            run(
                Some(&out),
                &[("A", Some("http://x:1/p")), ("B", Some("two words"))]
            ),
            None
        );
    }

    #[test]
    fn keeps_user_lines_and_export_prefix() {
        let src = "# my settings\nexport A=old # note\nUSER=me\n\nB='x'";
        let out = run(
            Some(src),
            &[("A", Some("new")), ("B", Some("x")), ("C", Some("c"))],
        )
        .unwrap();
        assert_eq!(out, "# my settings\nexport A=new\nUSER=me\n\nB='x'\nC=c\n");
    }

    #[test]
    fn removes_and_dedupes() {
        let src = "A=1\nB=2\nA=3\n";
        assert_eq!(run(Some(src), &[("A", Some("1"))]).unwrap(), "A=1\nB=2\n");
        assert_eq!(run(Some(src), &[("B", None)]).unwrap(), "A=1\nA=3\n");
        assert_eq!(run(Some(src), &[("Z", None)]), None);
    }

    #[test]
    fn quoted_values_compare_unquoted() {
        let src = "A=\"a \\\"q\\\" b\"\n";
        assert_eq!(run(Some(src), &[("A", Some("a \"q\" b"))]), None);
    }
}
