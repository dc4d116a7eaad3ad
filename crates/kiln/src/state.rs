//! kiln's private state under `~/.kiln/`: where it is, the directory (mode 0700), files written
//! atomically with mode 0600 (a fresh temporary file in the same directory, then a rename or a
//! link), and random keys. Every module that keeps a file there uses these; none writes its own.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Name of the state directory inside the home directory.
pub const DIR_NAME: &str = ".kiln";

/// `$HOME/.kiln`, the default state directory (`None` without a home directory). Not created.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(DIR_NAME))
}

/// `<home>/.kiln`, created with mode 0700 when missing (and tightened to 0700 when it exists).
pub fn kiln_dir(home: &Path) -> io::Result<PathBuf> {
    let dir = home.join(DIR_NAME);
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Creates `dir` (and its parents) with mode 0700, or tightens an existing one to 0700.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    if fs::metadata(dir)?.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Tightens an existing file to mode 0600 when group or others may read it.
pub fn tighten_file(path: &Path) -> io::Result<()> {
    if fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600: a fresh temporary file in the same
/// directory (created with `O_EXCL`, so no planted file or symlink is followed), then a rename.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = write_temp(path, bytes)?;
    let renamed = fs::rename(&tmp, path);
    if renamed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    renamed
}

/// Creates `path` with `bytes` (mode 0600) only if it does not exist yet, atomically: the
/// temporary file is linked into place, and a link never replaces a file. `Ok(false)` when
/// `path` already existed (someone else won the race; read theirs back).
pub fn create_private(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = write_temp(path, bytes)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// A synced temporary file with `bytes` (mode 0600) beside `path`.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", random_hex(6)?));
    let written = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Removes a file; a missing file is fine.
pub fn remove_quietly(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove file");
    }
}

/// `bytes` random bytes from the OS, as lowercase hex.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o777
    }

    #[test]
    fn private_files_and_dir_modes() {
        let home = tempfile::tempdir().unwrap();
        let dir = kiln_dir(home.path()).unwrap();
        assert_eq!(mode(&dir), 0o700);
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        assert_eq!(kiln_dir(home.path()).unwrap(), dir);
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("x.json");
        write_private(&f, b"one").unwrap();
        write_private(&f, b"two").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"two");
        assert_eq!(mode(&f), 0o600);
        let leftovers = fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files remain");
        remove_quietly(&f);
        remove_quietly(&f);
        assert!(!f.exists());
        assert_eq!(random_hex(32).unwrap().len(), 64);
        assert_ne!(random_hex(32).unwrap(), random_hex(32).unwrap());
    }

    #[test]
    fn create_private_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        assert!(create_private(&f, b"first").unwrap());
        assert!(!create_private(&f, b"second").unwrap());
        assert_eq!(fs::read(&f).unwrap(), b"first");
        assert_eq!(mode(&f), 0o600);
        fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        tighten_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // The target is a non-empty directory: the rename fails, the temporary file goes.
        let target = dir.path().join("sub");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), b"x").unwrap();
        assert!(write_private(&target, b"data").is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
