//! A small, strict INI parser for `.databrickscfg`: `[section]` headers, `key = value` (or
//! `key: value`) lines, full-line `#`/`;` comments. Keys are lower-cased, one pair of matching
//! quotes around a value is removed. Duplicate sections or keys, keys outside a section and
//! lines that are neither are errors that carry the line number.

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
}
