//! What a killed kiln leaves behind: `~/.kiln/broker.json` and `broker.key` naming a broker that
//! no longer listens, and the `[kiln]` profile of `~/.databrickscfg` pointing at it. Every start
//! of `kiln serve` removes them when the process they name is gone (or is this very process: a
//! restarted container can hand out the same pid), before starting a broker of its own or none
//! at all. The profile is removed only when it points at the dead broker, so a `[kiln]` profile
//! set up for something else stays. (Its tokens are the rotation's business: see `rotation.rs`.)

use super::broker::{INFO_FILE, KEY_FILE};
use crate::state::remove_quietly;
use kiln_databricks::config::Ini;
use std::path::Path;

/// Removes the broker files and the `[kiln]` profile of a kiln that is no longer running;
/// true if it found one.
pub fn clear(kiln_dir: &Path, home: &Path) -> bool {
    let info_path = kiln_dir.join(INFO_FILE);
    let Ok(text) = std::fs::read_to_string(&info_path) else {
        return false;
    };
    let info: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let pid = info["pid"].as_u64().and_then(|p| i32::try_from(p).ok());
    if pid.is_some_and(alive_elsewhere) {
        return false;
    }
    let url = info["url"].as_str().unwrap_or_default().to_owned();
    let cfg = crate::profile::config_path(home);
    let points_there = !url.is_empty()
        && std::fs::read_to_string(&cfg)
            .ok()
            .and_then(|t| Ini::parse(&t).ok())
            .and_then(|ini| {
                ini.section(crate::profile::PROFILE)?
                    .get("metadata_service_url")
                    .map(|u| u.starts_with(&format!("{url}/")))
            })
            .unwrap_or(false);
    if points_there && let Err(e) = crate::profile::remove(home) {
        tracing::warn!(error = %e, "cannot remove the stale [kiln] profile");
    }
    // broker.json last: once it is gone, so is everything it named (the profile, the key).
    remove_quietly(&kiln_dir.join(KEY_FILE));
    remove_quietly(&info_path);
    tracing::info!(pid = ?pid, profile_removed = points_there, "removed the broker files of a kiln that is gone");
    true
}

/// Whether `pid` is a live process other than this one.
fn alive_elsewhere(pid: i32) -> bool {
    if u32::try_from(pid).ok() == Some(std::process::id()) {
        return false;
    }
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else: not a kiln of this user's.
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_a_dead_kiln_go_and_a_foreign_profile_stays() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".kiln");
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = home.path().join(".databrickscfg");
        // A pid that cannot be alive: beyond the kernel's pid_max (at most 2^22).
        let dead = r#"{"url":"http://127.0.0.1:9","pid":2000000000}"#;
        std::fs::write(dir.join(INFO_FILE), dead).unwrap();
        std::fs::write(dir.join(KEY_FILE), "k\n").unwrap();
        let mine = "[DEFAULT]\nhost = h\n\n[kiln]\nhost = h\nauth_type = metadata-service\n\
                    metadata_service_url = http://127.0.0.1:9/metadata/k\n";
        std::fs::write(&cfg, mine).unwrap();
        assert!(clear(&dir, home.path()));
        assert!(!dir.join(INFO_FILE).exists() && !dir.join(KEY_FILE).exists());
        assert_eq!(
            std::fs::read_to_string(&cfg).unwrap(),
            "[DEFAULT]\nhost = h\n"
        );

        // A profile pointing elsewhere is not the dead broker's.
        let other = "[kiln]\nauth_type = metadata-service\n\
                     metadata_service_url = http://127.0.0.1:99/metadata/x\n";
        std::fs::write(&cfg, other).unwrap();
        std::fs::write(dir.join(INFO_FILE), dead).unwrap();
        assert!(clear(&dir, home.path()));
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), other);

        // A live kiln's files stay (the parent of this test is alive and not this process).
        let live = format!(
            r#"{{"url":"http://127.0.0.1:9","pid":{}}}"#,
            std::os::unix::process::parent_id()
        );
        std::fs::write(dir.join(INFO_FILE), &live).unwrap();
        assert!(!clear(&dir, home.path()));
        assert!(dir.join(INFO_FILE).exists());
        // This process's own pid counts as gone (a restarted container may reuse it).
        let own = format!(
            r#"{{"url":"http://127.0.0.1:9","pid":{}}}"#,
            std::process::id()
        );
        std::fs::write(dir.join(INFO_FILE), own).unwrap();
        assert!(clear(&dir, home.path()));
        assert!(!clear(&dir, home.path()), "nothing left");
    }
}
