//! The `[kiln]` profile in `~/.databrickscfg`, and its one owner: `auth_type = metadata-service`
//! pointed at kiln's token broker, so the Databricks CLI and SDKs (in kiln's terminals, which get
//! `DATABRICKS_CONFIG_PROFILE=kiln`, or wherever `kiln agents configure --metadata-url` set it up)
//! act as the owner with the current token across rotations, and no token is stored. `kiln serve`
//! installs it when its broker starts and removes it at a clean exit; `kiln agents` plans the
//! same change. Only the keys of that section are written, and only that section is removed, by
//! the one INI editor (`kiln_databricks::config::set_keys` / `remove_section`): other profiles,
//! comments and blank lines stay as the user wrote them. The file is replaced atomically with
//! mode 0600 (through a symlink, the link's target is written).

use crate::state::write_private;
use kiln_databricks::Secret;
use kiln_databricks::config::{Ini, remove_section, set_keys};
use std::io;
use std::path::{Path, PathBuf};

/// The profile's name (and `DATABRICKS_CONFIG_PROFILE` in terminals).
pub const PROFILE: &str = "kiln";
/// The config file under the home directory.
pub const FILE_NAME: &str = ".databrickscfg";
/// The `auth_type` of the profile.
const AUTH_TYPE: &str = "metadata-service";

/// `<home>/.databrickscfg`, resolved through a symlink.
pub fn config_path(home: &Path) -> PathBuf {
    let path = home.join(FILE_NAME);
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// `text` with the `[kiln]` profile pointing at the broker (`host`, `auth_type`,
/// `metadata_service_url` set; any other key the user put there kept).
pub fn with_broker(text: &str, host: &str, metadata_url: &Secret) -> String {
    let edits = [
        ("host", Some(host)),
        ("auth_type", Some(AUTH_TYPE)),
        ("metadata_service_url", Some(metadata_url.expose())),
    ];
    set_keys(text, PROFILE, &edits)
}

/// `text` without the `[kiln]` profile.
pub fn without(text: &str) -> String {
    remove_section(text, PROFILE)
}

/// Whether `text` has a `[kiln]` profile that asks the broker (metadata-service auth).
pub fn is_brokered(text: &str) -> bool {
    Ini::parse(text).ok().is_some_and(|ini| {
        ini.section(PROFILE)
            .and_then(|s| s.get("auth_type"))
            .is_some_and(|a| a == AUTH_TYPE)
    })
}

/// Writes the `[kiln]` profile into `<home>/.databrickscfg`.
pub fn install(home: &Path, host: &str, metadata_url: &Secret) -> io::Result<()> {
    rewrite(home, |text| with_broker(text, host, metadata_url), true)
}

/// Removes the `[kiln]` profile (nothing else); a missing file is fine.
pub fn remove(home: &Path) -> io::Result<()> {
    rewrite(home, without, false)
}

fn rewrite(home: &Path, edit: impl FnOnce(&str) -> String, create: bool) -> io::Result<()> {
    let path = config_path(home);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound && create => String::new(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let updated = edit(&text);
    if updated != text {
        write_private(&path, updated.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn url() -> Secret {
        Secret::new("http://127.0.0.1:1/metadata/k")
    }

    #[test]
    fn installed_merged_and_removed_privately() {
        let home = tempfile::tempdir().unwrap();
        let cfg = home.path().join(FILE_NAME);
        let original = "; my settings\n[DEFAULT]\nhost = a\n";
        std::fs::write(&cfg, original).unwrap();
        install(home.path(), "https://h", &url()).unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.starts_with(original));
        assert!(is_brokered(&text), "{text}");
        assert!(text.contains("metadata_service_url = http://127.0.0.1:1/metadata/k"));
        assert_eq!(std::fs::metadata(&cfg).unwrap().mode() & 0o777, 0o600);

        // A key the user added to [kiln] survives a reinstall.
        std::fs::write(&cfg, format!("{text}cluster_id = c1\n")).unwrap();
        install(home.path(), "https://h2", &url()).unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains("cluster_id = c1") && text.contains("host = https://h2"));

        remove(home.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
        assert!(!is_brokered(original));
        let empty = tempfile::tempdir().unwrap();
        remove(empty.path()).unwrap();
        assert!(!empty.path().join(FILE_NAME).exists());
    }
}
