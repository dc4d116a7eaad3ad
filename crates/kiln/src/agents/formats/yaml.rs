//! YAML files (`~/.hermes/config.yaml`): a careful line editor for the one shape kiln needs —
//! string values one level under a top-level mapping key (`model.default`, `agent.environment_hint`).
//! It touches only the lines of the keys it sets; comments, ordering, other keys, anchors and
//! block scalars elsewhere are kept byte for byte. Values are written as double-quoted strings; a
//! value already equal (in any quoting style) is left alone. Shapes it does not understand (a flow
//! mapping, a sequence, a block scalar or alias where a mapping is needed) are refused, never
//! rewritten.

use super::{FormatError, text};

/// One change: set (`Some`) or remove (`None`) `parent.child`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlEdit {
    /// Top-level key (a block mapping).
    pub parent: String,
    /// Key inside it.
    pub child: String,
    /// New string value, or `None` to remove the key.
    pub value: Option<String>,
}

impl YamlEdit {
    /// Sets `parent.child` to a string.
    pub fn set(parent: &str, child: &str, value: impl Into<String>) -> Self {
        Self {
            parent: parent.to_owned(),
            child: child.to_owned(),
            value: Some(value.into()),
        }
    }

    /// Removes `parent.child`.
    pub fn remove(parent: &str, child: &str) -> Self {
        Self {
            parent: parent.to_owned(),
            child: child.to_owned(),
            value: None,
        }
    }
}

/// Applies `edits`; `Ok(None)` when nothing changes.
pub fn merge(existing: Option<&[u8]>, edits: &[YamlEdit]) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    if src.contains('\t') && src.lines().any(|l| l.starts_with('\t')) {
        return Err(FormatError::Parse("tab indentation".into()));
    }
    let mut lines: Vec<String> = src.lines().map(str::to_owned).collect();
    let mut changed = false;
    for edit in edits {
        changed |= apply(&mut lines, edit)?;
    }
    if !changed {
        return Ok(None);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(Some(out.into_bytes()))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// If `line` (after `ind` spaces) is `key:` followed by end, space or comment: the rest.
fn key_rest<'a>(line: &'a str, ind: usize, key: &str) -> Option<&'a str> {
    if indent(line) != ind {
        return None;
    }
    let after = line[ind..].strip_prefix(key)?.strip_prefix(':')?;
    (after.is_empty() || after.starts_with(' ')).then_some(after)
}

/// The value part of `rest` without a trailing comment, and the comment (with its `#`).
fn split_comment(rest: &str) -> (&str, Option<&str>) {
    let t = rest.trim_start();
    if t.starts_with('"') || t.starts_with('\'') {
        // A comment may follow the closing quote.
        let q = t.as_bytes()[0] as char;
        let mut i = 1;
        let b = t.as_bytes();
        while i < b.len() {
            if b[i] as char == '\\' && q == '"' {
                i += 2;
                continue;
            }
            if b[i] as char == q {
                if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        let end = (i + 1).min(t.len());
        let tail = &t[end..];
        let comment = tail.find('#').map(|p| tail[p..].trim_end());
        return (&t[..end], comment);
    }
    match t.find(" #") {
        Some(p) => (t[..p].trim_end(), Some(t[p + 1..].trim_end())),
        None if t.starts_with('#') => ("", Some(t.trim_end())),
        None => (t.trim_end(), None),
    }
}

/// Parses a single-line scalar; `None` for anything that is not one.
fn scalar(v: &str) -> Option<String> {
    if let Some(inner) = v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => out.push(other),
            }
        }
        return Some(out);
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    if v.is_empty() || v.starts_with(['|', '>', '&', '*', '!', '{', '[', '-']) {
        return None;
    }
    Some(v.to_owned())
}

/// A YAML double-quoted string.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The end (exclusive) of the region that starts at `start` and holds lines more indented
/// than `ind`, trailing blank and comment lines excluded.
fn region_end(lines: &[String], start: usize, ind: usize) -> usize {
    let mut end = start + 1;
    let mut i = start + 1;
    while i < lines.len() {
        let l = &lines[i];
        if is_content(l) {
            if indent(l) <= ind {
                break;
            }
            end = i + 1;
        }
        i += 1;
    }
    end
}

fn apply(lines: &mut Vec<String>, edit: &YamlEdit) -> Result<bool, FormatError> {
    let shape = || FormatError::Shape(edit.parent.clone());
    let Some(p) = lines
        .iter()
        .position(|l| key_rest(l, 0, &edit.parent).is_some())
    else {
        let Some(v) = &edit.value else {
            return Ok(false);
        };
        lines.push(format!("{}:", edit.parent));
        lines.push(format!("  {}: {}", edit.child, quote(v)));
        return Ok(true);
    };
    let rest = key_rest(&lines[p], 0, &edit.parent).unwrap_or("");
    let (inline, comment) = split_comment(rest);
    if !inline.is_empty() {
        // A scalar where kiln needs a mapping (Hermes allows `model: name`): replace it.
        if inline.starts_with(['{', '[', '|', '>', '&', '*', '!']) {
            return Err(shape());
        }
        let Some(v) = &edit.value else {
            return Ok(false);
        };
        let head = match comment {
            Some(c) => format!("{}: {c}", edit.parent),
            None => format!("{}:", edit.parent),
        };
        lines[p] = head;
        lines.insert(p + 1, format!("  {}: {}", edit.child, quote(v)));
        return Ok(true);
    }
    // `key:` followed by a sequence at the same indentation (`- item`).
    if let Some(next) = lines[p + 1..].iter().find(|l| is_content(l))
        && indent(next) == 0
        && (next.starts_with("- ") || next.trim_end() == "-")
    {
        return Err(shape());
    }
    let end = region_end(lines, p, 0);
    let first_child = (p + 1..end).find(|&i| is_content(&lines[i]));
    let child_ind = match first_child {
        Some(i) => {
            if lines[i].trim_start().starts_with("- ") || lines[i].trim() == "-" {
                return Err(shape());
            }
            indent(&lines[i])
        }
        None => 2,
    };
    let found = (p + 1..end).find(|&i| key_rest(&lines[i], child_ind, &edit.child).is_some());
    match (found, &edit.value) {
        (Some(i), Some(v)) => {
            let rest = key_rest(&lines[i], child_ind, &edit.child).unwrap_or("");
            let (val, comment) = split_comment(rest);
            let cend = region_end(lines, i, child_ind);
            if cend == i + 1 && scalar(val).as_deref() == Some(v.as_str()) {
                return Ok(false);
            }
            let mut line = format!("{}{}: {}", " ".repeat(child_ind), edit.child, quote(v));
            if let Some(c) = comment {
                line.push(' ');
                line.push_str(c);
            }
            lines.splice(i..cend, [line]);
            Ok(true)
        }
        (None, Some(v)) => {
            let line = format!("{}{}: {}", " ".repeat(child_ind), edit.child, quote(v));
            lines.insert(end, line);
            Ok(true)
        }
        (Some(i), None) => {
            let cend = region_end(lines, i, child_ind);
            lines.drain(i..cend);
            Ok(true)
        }
        (None, None) => Ok(false),
    }
}

/// The string value of `parent.child`, if it is a single-line scalar.
pub fn get(src: &str, parent: &str, child: &str) -> Option<String> {
    let lines: Vec<String> = src.lines().map(str::to_owned).collect();
    let p = lines
        .iter()
        .position(|l| key_rest(l, 0, parent).is_some())?;
    let end = region_end(&lines, p, 0);
    let first = (p + 1..end).find(|&i| is_content(&lines[i]))?;
    let ind = indent(&lines[first]);
    (p + 1..end).find_map(|i| {
        let rest = key_rest(&lines[i], ind, child)?;
        scalar(split_comment(rest).0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: Option<&str>, edits: &[YamlEdit]) -> Result<Option<String>, FormatError> {
        merge(src.map(str::as_bytes), edits).map(|o| o.map(|b| String::from_utf8(b).unwrap()))
    }

    fn model_edits() -> Vec<YamlEdit> {
        vec![
            YamlEdit::set("model", "default", "databricks-claude-sonnet-4-5"),
            YamlEdit::set("model", "provider", "custom"),
            YamlEdit::set("model", "base_url", "http://127.0.0.1:9/hermes"),
        ]
    }

    #[test]
    fn fresh_file_and_idempotent() {
        let out = run(None, &model_edits()).unwrap().unwrap();
        assert_eq!(
            out,
            "model:\n  default: \"databricks-claude-sonnet-4-5\"\n  provider: \"custom\"\n  base_url: \"http://127.0.0.1:9/hermes\"\n"
        );
        assert_eq!(run(Some(&out), &model_edits()).unwrap(), None);
    }

    #[test]
    fn user_content_is_kept() {
        let src = "# Hermes config\nmodel:\n    # which model\n    default: old-model   # mine\n    \
                   context_length: 200000\n    provider: 'custom'\n\n# tools\ntoolsets:\n  - hermes-cli\n\
                   agent:\n  max_turns: 90\n  environment_hint: |\n    line one\n    line two\n  other: x\n";
        let mut edits = model_edits();
        edits.push(YamlEdit::set(
            "agent",
            "environment_hint",
            "new \"hint\"\nsecond",
        ));
        let out = run(Some(src), &edits).unwrap().unwrap();
        assert_eq!(
            out,
            "# Hermes config\nmodel:\n    # which model\n    default: \"databricks-claude-sonnet-4-5\" # mine\n    \
             context_length: 200000\n    provider: 'custom'\n    base_url: \"http://127.0.0.1:9/hermes\"\n\n# tools\n\
             toolsets:\n  - hermes-cli\nagent:\n  max_turns: 90\n  environment_hint: \"new \\\"hint\\\"\\nsecond\"\n  other: x\n"
        );
        assert_eq!(run(Some(&out), &edits).unwrap(), None);
        assert_eq!(
            get(&out, "model", "default").as_deref(),
            Some("databricks-claude-sonnet-4-5")
        );
        assert_eq!(get(&out, "model", "provider").as_deref(), Some("custom"));
        assert_eq!(get(&out, "agent", "missing"), None);
    }

    #[test]
    fn scalar_model_becomes_a_mapping() {
        let out = run(Some("model: gpt-x\nproviders: {}\n"), &model_edits())
            .unwrap()
            .unwrap();
        assert!(
            out.starts_with("model:\n  default: \"databricks-claude-sonnet-4-5\"\n  provider:")
        );
        assert!(out.ends_with("providers: {}\n"));
        let out = run(Some("model: \"\"\n"), &model_edits()).unwrap().unwrap();
        assert!(out.starts_with("model:\n  default:"));
    }

    #[test]
    fn removal_and_refusals() {
        let src = "model:\n  api_key: x\n  default: y\n";
        let out = run(Some(src), &[YamlEdit::remove("model", "api_key")])
            .unwrap()
            .unwrap();
        assert_eq!(out, "model:\n  default: y\n");
        assert_eq!(
            run(Some(src), &[YamlEdit::remove("model", "nothing")]).unwrap(),
            None
        );
        for bad in [
            "model: {default: x}\n",
            "model: |\n  x\n",
            "model:\n- a\n",
            "model: &a\n  x: 1\n",
        ] {
            assert_eq!(
                run(Some(bad), &model_edits()),
                Err(FormatError::Shape("model".into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn quoting_round_trips() {
        for v in [
            "plain",
            "with: colon",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "uni ✓",
        ] {
            assert_eq!(scalar(&quote(v)).as_deref(), Some(v));
        }
        assert_eq!(scalar("'it''s'").as_deref(), Some("it's"));
    }
}
