//! The `[kiln]` profile in `~/.databrickscfg`: `auth_type = metadata-service` pointed at the
//! broker, so the Databricks CLI and SDKs in kiln's terminals (which get
//! `DATABRICKS_CONFIG_PROFILE=kiln`) act as the owner with the current token across rotations.
//! Only that section is ever written or removed: every other byte of the file (other profiles,
//! comments, blank lines) is kept as it was. The file is replaced atomically with mode 0600
//! (through a symlink, the link's target is written).

use crate::state::write_private;
use kiln_databricks::Secret;
use std::io;
use std::path::{Path, PathBuf};

/// The profile's name (and `DATABRICKS_CONFIG_PROFILE` in terminals).
pub const PROFILE: &str = "kiln";
/// The config file under the home directory.
pub const FILE_NAME: &str = ".databrickscfg";
/// First line of the section's body; marks it as kiln's.
const MARKER: &str = "; managed by kiln serve";

fn config_path(home: &Path) -> PathBuf {
    let path = home.join(FILE_NAME);
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// Writes (or replaces) the `[kiln]` profile.
pub fn install(home: &Path, host: &str, metadata_url: &Secret) -> io::Result<()> {
    let section = format!(
        "[{PROFILE}]\n{MARKER}: the Databricks CLI and SDKs in kiln's terminals get the owner's \
         current token from kiln's local broker; rewritten at every start\nhost = {host}\n\
         auth_type = metadata-service\nmetadata_service_url = {}\n",
        metadata_url.expose()
    );
    rewrite(home, Some(&section))
}

/// Removes the `[kiln]` profile (nothing else); a missing file is fine.
pub fn remove(home: &Path) -> io::Result<()> {
    rewrite(home, None)
}

fn rewrite(home: &Path, section: Option<&str>) -> io::Result<()> {
    let path = config_path(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if section.is_none() {
                return Ok(());
            }
            String::new()
        }
        Err(e) => return Err(e),
    };
    let updated = upsert(&text, section);
    if updated != text {
        write_private(&path, updated.as_bytes())?;
    }
    Ok(())
}

fn header_name(line: &str) -> Option<&str> {
    let t = line.trim();
    t.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

fn is_key_line(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with(';') && !t.starts_with('#')
}

/// `text` without any `[kiln]` section, plus `section` at the end when given. A block of foreign
/// comments and blank lines right before the next section stays (it belongs to that section).
pub fn upsert(text: &str, section: Option<&str>) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + 256);
    let mut i = 0;
    while i < lines.len() {
        if header_name(lines[i]) != Some(PROFILE) {
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
            .rposition(|l| is_key_line(l) || l.trim_start().starts_with(MARKER))
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
    if let Some(section) = section {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        if !out.trim().is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(section);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTION: &str = "[kiln]\n; managed by kiln serve: x\nhost = h\n";

    #[test]
    fn other_profiles_are_kept_byte_for_byte() {
        let original = "; my settings\n[DEFAULT]\nhost = a\ntoken = dapi1\n\n[prod]\nhost = b\n";
        let with = upsert(original, Some(SECTION));
        assert!(with.starts_with(original));
        assert!(with.ends_with(SECTION));
        let again = upsert(&with, Some(SECTION));
        assert_eq!(again, with, "replacing is idempotent");
        assert_eq!(
            upsert(&with, None),
            original,
            "removal restores the file exactly"
        );
    }

    #[test]
    fn a_section_in_the_middle_is_replaced_and_neighbours_keep_their_comments() {
        let original = "[a]\nx = 1\n[kiln]\nhost = old\n\n; about b\n[b]\ny = 2";
        let out = upsert(original, Some(SECTION));
        assert_eq!(
            out,
            format!("[a]\nx = 1\n\n; about b\n[b]\ny = 2\n\n{SECTION}")
        );
        assert_eq!(upsert("", Some(SECTION)), SECTION);
        assert_eq!(upsert("[kiln]\nhost = h\n", None), "");
    }

    #[test]
    fn files_are_written_privately() {
        use std::os::unix::fs::MetadataExt;
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(FILE_NAME);
        std::fs::write(&cfg, "[DEFAULT]\nhost = a\n").unwrap();
        install(
            home.path(),
            "https://h",
            &Secret::new("http://127.0.0.1:1/metadata/k"),
        )
        .unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.starts_with("[DEFAULT]\nhost = a\n"));
        assert!(text.contains("auth_type = metadata-service"));
        assert_eq!(std::fs::metadata(&cfg).unwrap().mode() & 0o777, 0o600);
        remove(home.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            "[DEFAULT]\nhost = a\n"
        );
        let empty = tempfile::tempdir().unwrap();
        remove(empty.path()).unwrap();
        assert!(!empty.path().join(FILE_NAME).exists());
    }
}
