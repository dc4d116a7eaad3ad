//! Finding the local model gateway: `~/.kiln/gateway.json` (read by `gateway::discovery`;
//! written by the running gateway, removed on clean exit; a file whose pid is gone is stale) and
//! the local key in `~/.kiln/gateway.key` (64 hex digits). An explicit `--gateway URL` /
//! `--gateway-key-file` wins.

use crate::gateway::auth::{KEY_FILE, parse_key};
use crate::gateway::discovery::{self, DISCOVERY_FILE};
use kiln_databricks::Secret;
use std::path::{Path, PathBuf};

/// The discovery file of a running gateway.
pub type GatewayInfo = discovery::Discovery;

/// `<home>/.kiln/gateway.json`.
pub fn info_path(home: &Path) -> PathBuf {
    home.join(crate::state::DIR_NAME).join(DISCOVERY_FILE)
}

/// `<home>/.kiln/gateway.key`.
pub fn key_path(home: &Path) -> PathBuf {
    home.join(crate::state::DIR_NAME).join(KEY_FILE)
}

/// The running gateway announced in the first of `homes` that has a live one.
pub fn discover(homes: &[PathBuf]) -> Result<GatewayInfo, String> {
    let mut why = Vec::new();
    for home in homes {
        match discovery::find_live(&home.join(crate::state::DIR_NAME)) {
            Ok(info) => return Ok(info),
            Err(e) => why.push(e),
        }
    }
    Err(format!(
        "no running kiln gateway found ({}); start `kiln gateway` or `kiln serve`, or pass --gateway URL",
        why.join("; ")
    ))
}

/// Reads a key file; what a valid key is, is the gateway's rule ([`parse_key`]).
pub fn read_key(path: &Path) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the gateway key {}: {e}", path.display()))?;
    parse_key(&text).ok_or_else(|| {
        format!(
            "{} does not hold a gateway key (64 hex digits expected)",
            path.display()
        )
    })
}

/// The key: `explicit`, else the first existing `~/.kiln/gateway.key` among `homes`.
pub fn find_key(explicit: Option<&Path>, homes: &[PathBuf]) -> Result<Secret, String> {
    if let Some(p) = explicit {
        return read_key(p);
    }
    for home in homes {
        let p = key_path(home);
        if p.exists() {
            return read_key(&p);
        }
    }
    Err(format!(
        "no gateway key found in {} (pass --gateway-key-file)",
        homes
            .iter()
            .map(|h| key_path(h).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn discovery_and_keys() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let homes = vec![a.path().to_owned(), b.path().to_owned()];
        assert!(
            discover(&homes)
                .unwrap_err()
                .contains("no running kiln gateway")
        );
        std::fs::create_dir_all(a.path().join(".kiln")).unwrap();
        std::fs::write(
            info_path(a.path()),
            r#"{"url":"http://127.0.0.1:1","pid":999999999,"started_at":"x"}"#,
        )
        .unwrap();
        std::fs::create_dir_all(b.path().join(".kiln")).unwrap();
        let me = std::process::id();
        std::fs::write(
            info_path(b.path()),
            format!(r#"{{"url":"http://127.0.0.1:2","pid":{me}}}"#),
        )
        .unwrap();
        assert_eq!(discover(&homes).unwrap().url, "http://127.0.0.1:2");

        assert!(find_key(None, &homes).is_err());
        std::fs::write(key_path(b.path()), format!("{}\n", "ab".repeat(32))).unwrap();
        assert_eq!(find_key(None, &homes).unwrap().expose(), "ab".repeat(32));
        std::fs::write(key_path(a.path()), "not a key").unwrap();
        assert!(find_key(None, &homes).unwrap_err().contains("hex digits"));
    }
}
