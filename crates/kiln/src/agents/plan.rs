//! File changes: what a writer wants ([`FileChange`]), computed without touching the disk so
//! `--dry-run` can show a diff, then applied atomically (temporary file in the same directory,
//! fsync, rename, fsync of the directory). Files that hold a key are mode 0600; other files keep
//! their mode. A symlinked file (dotfiles repositories) is written through to its target.

use super::formats::FormatError;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Mode of files that hold a key.
pub const SECRET_MODE: u32 = 0o600;
/// Mode of new files that hold none.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of directories kiln creates.
pub const DIR_MODE: u32 = 0o700;

/// Why configuring failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigureError {
    /// An existing file could not be merged; it was left untouched.
    #[error("{path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Why.
        source: FormatError,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something the writer needs is missing (a model, an identity, a tool).
    #[error("{0}")]
    Missing(String),
}

impl ConfigureError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        ConfigureError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// One file kiln wants to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// The file (as named in HOME; may be a symlink).
    pub path: PathBuf,
    /// Current content, `None` when the file does not exist.
    pub before: Option<Vec<u8>>,
    /// New content; `None` when only the mode changes.
    pub after: Option<Vec<u8>>,
    /// The file holds a key: mode 0600.
    pub secret: bool,
}

impl FileChange {
    /// Computes the change for `path`: `merge` gets the current bytes and returns the new ones
    /// (or `None` for no change). `Ok(None)` when neither content nor mode changes.
    pub fn plan(
        path: PathBuf,
        secret: bool,
        merge: impl FnOnce(Option<&[u8]>) -> Result<Option<Vec<u8>>, FormatError>,
    ) -> Result<Option<FileChange>, ConfigureError> {
        let before = match fs::read(&path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(ConfigureError::io(&path, e)),
        };
        let after = merge(before.as_deref()).map_err(|source| ConfigureError::Format {
            path: path.clone(),
            source,
        })?;
        let mode_wrong = secret
            && before.is_some()
            && fs::metadata(&path)
                .map(|m| m.permissions().mode() & 0o077 != 0)
                .unwrap_or(false);
        if after.is_none() && !mode_wrong {
            return Ok(None);
        }
        Ok(Some(FileChange {
            path,
            before,
            after,
            secret,
        }))
    }

    /// A unified diff of the change, with each of `redact` replaced by `<redacted>`.
    pub fn diff(&self, redact: &[String]) -> String {
        let scrub = |b: &[u8]| {
            let mut s = String::from_utf8_lossy(b).into_owned();
            for r in redact.iter().filter(|r| !r.is_empty()) {
                s = s.replace(r.as_str(), "<redacted>");
            }
            s
        };
        let shown = self.path.display().to_string();
        let old = self.before.as_deref().map(scrub).unwrap_or_default();
        let mut out = String::new();
        if let Some(after) = &self.after {
            let new = scrub(after);
            let old_name = if self.before.is_some() {
                shown.clone()
            } else {
                "/dev/null".to_owned()
            };
            let diff = similar::TextDiff::from_lines(&old, &new);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&old_name, &shown)
                    .to_string(),
            );
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        if self.secret {
            if self.before.is_none() {
                out.push_str(&format!("(new file {shown}, mode 0600)\n"));
            } else if self.after.is_none() {
                out.push_str(&format!("(mode of {shown} -> 0600)\n"));
            }
        }
        out
    }

    /// Writes the change: atomically for content, `chmod` for a mode-only change.
    pub fn apply(&self) -> Result<(), ConfigureError> {
        let real = real_path(&self.path)?;
        match &self.after {
            Some(bytes) => write_atomic(&real, bytes, self.secret),
            None => fs::set_permissions(&real, fs::Permissions::from_mode(SECRET_MODE))
                .map_err(|e| ConfigureError::io(&real, e)),
        }
    }
}

/// The file a path names: a symlink's target (so a dotfiles link stays a link).
fn real_path(path: &Path) -> Result<PathBuf, ConfigureError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|e| ConfigureError::io(path, e))
        }
        _ => Ok(path.to_owned()),
    }
}

/// Creates `dir` and missing parents with mode 0700 (existing ones keep theirs).
pub fn ensure_dir(dir: &Path) -> Result<(), ConfigureError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| ConfigureError::io(dir, e))
}

/// Replaces `path` with `bytes`: a temporary file beside it (mode 0600 for secrets, else the
/// current mode or 0644), fsync, rename over, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], secret: bool) -> Result<(), ConfigureError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let mode = if secret {
        SECRET_MODE
    } else {
        fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(PUBLIC_MODE)
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| ConfigureError::io(path, std::io::Error::other(e)))?;
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.kiln-{hex}.tmp"));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| ConfigureError::io(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plan_apply_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/file.json");
        let c = FileChange::plan(p.clone(), true, |_| Ok(Some(b"key=abc\n".to_vec())))
            .unwrap()
            .unwrap();
        assert!(c.diff(&["abc".into()]).contains("+key=<redacted>"));
        assert!(!c.diff(&["abc".into()]).contains("abc"));
        c.apply().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"key=abc\n");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );

        // Unchanged content, right mode: nothing to do. Wrong mode: a mode-only change.
        assert!(
            FileChange::plan(p.clone(), true, |_| Ok(None))
                .unwrap()
                .is_none()
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let c = FileChange::plan(p.clone(), true, |_| Ok(None))
            .unwrap()
            .unwrap();
        assert!(c.after.is_none() && c.diff(&[]).contains("-> 0600"));
        c.apply().unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn public_files_keep_their_mode_and_symlinks_stay() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("dotfiles/settings.json");
        fs::create_dir_all(real.parent().unwrap()).unwrap();
        fs::write(&real, "{}").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("settings.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let c = FileChange::plan(link.clone(), false, |b| {
            assert_eq!(b, Some(&b"{}"[..]));
            Ok(Some(b"{\"a\":1}".to_vec()))
        })
        .unwrap()
        .unwrap();
        c.apply().unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"{\"a\":1}");
        assert_eq!(
            fs::metadata(&real).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = fs::read_dir(real.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}
