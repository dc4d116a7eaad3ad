//! A small, strict INI parser for `.databrickscfg`: `[section]` headers, `key = value` (or
//! `key: value`) lines, full-line `#`/`;` comments. Keys are lower-cased, one pair of matching
//! quotes around a value is removed. Duplicate sections or keys, keys outside a section and
//! lines that are neither are errors that carry the line number.
//!
//! Also the one editor of such files ([`set_keys`], [`remove_section`]): edits touch only the
//! lines of the keys or the section named; every other byte (other profiles, comments, blank
//! lines, key order) stays as the user wrote it.

use std::fmt;

/// A parse failure at a 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// One `[section]` and its keys in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Section name as written (case-sensitive).
    pub name: String,
    /// Line of the header.
    pub line: usize,
    /// `(key, value)` pairs; keys lower-cased.
    pub entries: Vec<(String, String)>,
}

impl Section {
    /// A key's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A parsed file: its sections in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    /// Sections in file order.
    pub sections: Vec<Section>,
}

impl Ini {
    /// A section by exact name.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Parses text.
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut ini = Ini::default();
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let err = |message: String| IniError {
                line: line_no,
                message,
            };
            if let Some(rest) = line.strip_prefix('[') {
                let Some(end) = rest.find(']') else {
                    return Err(err(format!("section header {line:?} has no closing ']'")));
                };
                let name = rest[..end].trim();
                let trailing = rest[end + 1..].trim();
                if !trailing.is_empty() && !trailing.starts_with('#') && !trailing.starts_with(';')
                {
                    return Err(err(format!(
                        "unexpected text after section header: {trailing:?}"
                    )));
                }
                if name.is_empty() {
                    return Err(err("empty section name".to_owned()));
                }
                if let Some(prev) = ini.section(name) {
                    return Err(err(format!(
                        "duplicate section [{name}] (first defined on line {})",
                        prev.line
                    )));
                }
                ini.sections.push(Section {
                    name: name.to_owned(),
                    line: line_no,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some(pos) = line.find(['=', ':']) else {
                return Err(err(format!(
                    "expected `key = value` or `[section]`, found {:?}",
                    shorten(line)
                )));
            };
            let key = line[..pos].trim().to_ascii_lowercase();
            let value = unquote(line[pos + 1..].trim());
            if key.is_empty() {
                return Err(err("missing key before '='".to_owned()));
            }
            if key.chars().any(char::is_whitespace) {
                return Err(err(format!("key {key:?} contains whitespace")));
            }
            let Some(section) = ini.sections.last_mut() else {
                return Err(err(format!(
                    "key {key:?} appears before any [section] header"
                )));
            };
            if section.entries.iter().any(|(k, _)| *k == key) {
                return Err(err(format!(
                    "duplicate key {key:?} in section [{}]",
                    section.name
                )));
            }
            section.entries.push((key, value.to_owned()));
        }
        Ok(ini)
    }
}

/// The name in a `[section]` header line (a trailing `#`/`;` comment allowed), else `None`.
fn header_name(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix('[')?;
    let end = rest.find(']')?;
    let trailing = rest[end + 1..].trim();
    (trailing.is_empty() || trailing.starts_with(['#', ';'])).then(|| rest[..end].trim())
}

/// The key of a `key = value` / `key: value` line (lower-cased, as [`Ini::parse`] reads it),
/// `None` for comments, blank lines and headers.
fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with(['#', ';', '[']) {
        return None;
    }
    let pos = t.find(['=', ':'])?;
    Some(t[..pos].trim().to_ascii_lowercase())
}

/// `text` with `key = value` set (`Some`) or the key removed (`None`) in `section`, in place:
/// a key is rewritten on its own line, a new key goes after the section's last non-blank line,
/// a missing section is appended (after a blank line). Returns `text` unchanged (byte for byte)
/// when every edit is already true; otherwise lines are joined with `\n` and end with one.
pub fn set_keys(text: &str, section: &str, edits: &[(&str, Option<&str>)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut changed = false;
    let start = match lines.iter().position(|l| header_name(l) == Some(section)) {
        Some(s) => s,
        None => {
            if edits.iter().all(|(_, v)| v.is_none()) {
                return text.to_owned();
            }
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(format!("[{section}]"));
            changed = true;
            lines.len() - 1
        }
    };
    for (key, value) in edits {
        let key = key.to_ascii_lowercase();
        let end = (start + 1..lines.len())
            .find(|&i| header_name(&lines[i]).is_some())
            .unwrap_or(lines.len());
        let found = (start + 1..end).find(|&i| key_of(&lines[i]).as_deref() == Some(&*key));
        match (found, value) {
            (Some(i), Some(v)) => {
                let line = lines[i].trim_start();
                let current = line
                    .find(['=', ':'])
                    .map(|p| unquote(line[p + 1..].trim()))
                    .unwrap_or("");
                if current != *v {
                    lines[i] = format!("{key} = {v}");
                    changed = true;
                }
            }
            (None, Some(v)) => {
                let mut at = end;
                while at > start + 1 && lines[at - 1].trim().is_empty() {
                    at -= 1;
                }
                lines.insert(at, format!("{key} = {v}"));
                changed = true;
            }
            (Some(i), None) => {
                lines.remove(i);
                changed = true;
            }
            (None, None) => {}
        }
    }
    if !changed {
        return text.to_owned();
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// `text` without `section` (its header, keys and own comments). A block of comments and blank
/// lines right before the next section stays: it belongs to that section. Every other byte is
/// kept, so adding a section at the end and removing it restores the file exactly.
pub fn remove_section(text: &str, section: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < lines.len() {
        if header_name(lines[i]) != Some(section) {
            out.push_str(lines[i]);
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && header_name(lines[end]).is_none() {
            end += 1;
        }
        let body = &lines[start..end];
        let cut = body
            .iter()
            .rposition(|l| key_of(l).is_some())
            .map_or(0, |p| p + 1);
        if end < lines.len() {
            for kept in &body[cut..] {
                out.push_str(kept);
            }
        } else if out.ends_with("\n\n") {
            // The section was last: drop the blank line that separated it.
            out.pop();
        }
        i = end;
    }
    out
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Garbage lines are quoted back shortened, and never in full (they may hold a token).
fn shorten(line: &str) -> String {
    let mut s: String = line.chars().take(12).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_profiles_comments_and_quotes() {
        let ini = Ini::parse(
            "\u{feff}# comment\n; other comment\n\n[__settings__]\ndefault_profile = agents\n\
             [DEFAULT]\nHost = https://a.example.com\ntoken=\"dapi1\"\n\n  [agents]  \n  host: h2\n\
             client_secret = 'x=y:z'\nempty =\n",
        )
        .unwrap();
        assert_eq!(ini.sections.len(), 3);
        assert_eq!(
            ini.section("__settings__").unwrap().get("default_profile"),
            Some("agents")
        );
        let d = ini.section("DEFAULT").unwrap();
        assert_eq!(d.get("host"), Some("https://a.example.com"));
        assert_eq!(d.get("token"), Some("dapi1"));
        let a = ini.section("agents").unwrap();
        assert_eq!(a.line, 10);
        assert_eq!(a.get("host"), Some("h2"));
        assert_eq!(a.get("client_secret"), Some("x=y:z"));
        assert_eq!(a.get("empty"), Some(""));
        assert!(ini.section("agents ").is_none() && ini.section("AGENTS").is_none());
    }

    #[test]
    fn empty_file_has_no_sections() {
        assert!(Ini::parse("").unwrap().sections.is_empty());
        assert!(Ini::parse("\n# only\n").unwrap().sections.is_empty());
    }

    #[test]
    fn garbage_reports_line_and_does_not_echo_secrets() {
        let e = Ini::parse("[a]\nhost = x\ndapi0123456789abcdef\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("expected `key = value`"), "{e}");
        assert!(!e.to_string().contains("dapi0123456789abcdef"), "{e}");
        assert!(e.to_string().starts_with("line 3:"));
    }

    #[test]
    fn errors_with_line_numbers() {
        let cases = [
            ("token = x\n[a]\n", 1, "before any [section]"),
            ("[a\nx=1\n", 1, "no closing"),
            ("[]\n", 1, "empty section name"),
            ("[a] junk\n", 1, "unexpected text"),
            (
                "[a]\nx=1\n[b]\n[a]\n",
                4,
                "duplicate section [a] (first defined on line 1)",
            ),
            ("[a]\nhost=1\nHOST=2\n", 3, "duplicate key \"host\""),
            ("[a]\n= value\n", 2, "missing key"),
            ("[a]\nmy key = 1\n", 2, "whitespace"),
        ];
        for (text, line, needle) in cases {
            let e = Ini::parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn header_with_trailing_comment_is_fine() {
        let ini = Ini::parse("[a] # note\nx = 1\n").unwrap();
        assert_eq!(ini.section("a").unwrap().get("x"), Some("1"));
    }

    #[test]
    fn set_keys_appends_replaces_and_keeps_everything_else() {
        let edits = [("host", Some("https://h")), ("auth_type", Some("pat"))];
        let out = set_keys("", "kiln", &edits);
        assert_eq!(out, "[kiln]\nhost = https://h\nauth_type = pat\n");
        assert_eq!(set_keys(&out, "kiln", &[("host", Some("https://h"))]), out);

        let src = "; mine\n[DEFAULT]\nhost = x\n\n[kiln] ; ours\n# note\nHost: old\n\n[other]\ntoken = t\n";
        let out = set_keys(src, "kiln", &[("host", Some("new")), ("x", Some("1"))]);
        assert_eq!(
            out,
            "; mine\n[DEFAULT]\nhost = x\n\n[kiln] ; ours\n# note\nhost = new\nx = 1\n\n[other]\ntoken = t\n"
        );
        let parsed = Ini::parse(&out).unwrap();
        assert_eq!(parsed.section("kiln").unwrap().get("x"), Some("1"));
        assert_eq!(parsed.section("other").unwrap().get("host"), None);
        let removed = set_keys(&out, "kiln", &[("x", None)]);
        assert!(!removed.contains("x = 1") && removed.contains("host = new"));
        assert_eq!(set_keys(src, "absent", &[("x", None)]), src);
        // A quoted value equal to the wanted one is left alone.
        let quoted = "[kiln]\nhost = \"h\"";
        assert_eq!(set_keys(quoted, "kiln", &[("host", Some("h"))]), quoted);
    }

    #[test]
    fn remove_section_restores_the_file_exactly() {
        let edits = [("host", Some("h")), ("auth_type", Some("metadata-service"))];
        let original = "; my settings\n[DEFAULT]\nhost = a\ntoken = dapi1\n\n[prod]\nhost = b\n";
        let with = set_keys(original, "kiln", &edits);
        assert!(with.starts_with(original));
        assert_eq!(set_keys(&with, "kiln", &edits), with, "idempotent");
        assert_eq!(remove_section(&with, "kiln"), original);
        assert_eq!(remove_section(original, "kiln"), original);

        // In the middle: the comment block before the next section stays with it.
        let middle = "[a]\nx = 1\n[kiln]\n; ours\nhost = old\n\n; about b\n[b]\ny = 2";
        assert_eq!(
            remove_section(middle, "kiln"),
            "[a]\nx = 1\n\n; about b\n[b]\ny = 2"
        );
        assert_eq!(remove_section("[kiln]\nhost = h\n", "kiln"), "");
        assert_eq!(remove_section("", "kiln"), "");
    }
}
