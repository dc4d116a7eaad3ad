//! INI files (`~/.databrickscfg`): kiln sets keys in one section, in place; other sections,
//! keys and comments (`#`, `;`) stay as they are. A missing section is appended.

use super::{FormatError, text};

/// Sets (`Some`) or removes (`None`) `key` in `section`. `Ok(None)` when nothing changes.
pub fn merge(
    existing: Option<&[u8]>,
    section: &str,
    edits: &[(&str, Option<&str>)],
) -> Result<Option<Vec<u8>>, FormatError> {
    let src = text(existing)?;
    let mut lines: Vec<String> = src.lines().map(str::to_owned).collect();
    let header = |l: &str| {
        let t = l.trim();
        (t.starts_with('[') && t.ends_with(']')).then(|| t[1..t.len() - 1].trim().to_owned())
    };
    let start = lines
        .iter()
        .position(|l| header(l).as_deref() == Some(section));
    let mut changed = false;
    let start = match start {
        Some(s) => s,
        None => {
            if edits.iter().all(|(_, v)| v.is_none()) {
                return Ok(None);
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
        let end = (start + 1..lines.len())
            .find(|&i| header(&lines[i]).is_some())
            .unwrap_or(lines.len());
        let found = (start + 1..end).find(|&i| {
            let t = lines[i].trim_start();
            !t.starts_with(['#', ';']) && t.split_once('=').is_some_and(|(k, _)| k.trim() == *key)
        });
        match (found, value) {
            (Some(i), Some(v)) => {
                let cur = lines[i]
                    .split_once('=')
                    .map(|(_, c)| c.trim())
                    .unwrap_or("");
                if cur != *v {
                    lines[i] = format!("{key} = {v}");
                    changed = true;
                }
            }
            (None, Some(v)) => {
                // After the section's last non-blank line.
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
        return Ok(None);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(Some(out.into_bytes()))
}

/// Whether `section` exists.
pub fn has_section(existing: &str, section: &str) -> bool {
    existing.lines().any(|l| {
        let t = l.trim();
        t.starts_with('[') && t.ends_with(']') && t[1..t.len() - 1].trim() == section
    })
}

/// The value of `key` in `section`.
pub fn get(existing: &str, section: &str, key: &str) -> Option<String> {
    let mut inside = false;
    for l in existing.lines() {
        let t = l.trim();
        if t.starts_with('[') && t.ends_with(']') {
            inside = t[1..t.len() - 1].trim() == section;
            continue;
        }
        if inside
            && !t.starts_with(['#', ';'])
            && let Some((k, v)) = t.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim().to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: Option<&str>, edits: &[(&str, Option<&str>)]) -> Option<String> {
        merge(src.map(str::as_bytes), "kiln", edits)
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn append_replace_keep() {
        let out = run(
            None,
            &[("host", Some("https://h")), ("auth_type", Some("pat"))],
        )
        .unwrap();
        assert_eq!(out, "[kiln]\nhost = https://h\nauth_type = pat\n");
        assert_eq!(run(Some(&out), &[("host", Some("https://h"))]), None);

        let src =
            "; mine\n[DEFAULT]\nhost = x\n\n[kiln]\n# note\nhost = old\n\n[other]\ntoken = t\n";
        let out = run(Some(src), &[("host", Some("new")), ("x", Some("1"))]).unwrap();
        assert_eq!(
            out,
            "; mine\n[DEFAULT]\nhost = x\n\n[kiln]\n# note\nhost = new\nx = 1\n\n[other]\ntoken = t\n"
        );
        assert_eq!(get(&out, "kiln", "x").as_deref(), Some("1"));
        assert_eq!(get(&out, "other", "host"), None);
        assert!(has_section(&out, "DEFAULT") && !has_section(&out, "none"));
        let removed = run(Some(&out), &[("x", None)]).unwrap();
        assert!(!removed.contains("x = 1"));
    }
}
