//! Non-secret state that survives a restart: the ids and expiry times of the tokens kiln minted
//! and has not revoked yet (`~/.kiln/credentials.json`, mode 0600). Token values are never
//! written anywhere. A restarted kiln reads the ids as orphans and revokes them once it has a
//! token again (a token can only be revoked with a token of the same user).

use crate::state::write_private;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name under `~/.kiln/`.
pub const FILE_NAME: &str = "credentials.json";
const VERSION: u32 = 1;

/// A token kiln minted and may still have to revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The token id.
    pub token_id: String,
    /// Its expiry (epoch ms); past it there is nothing left to revoke.
    pub expires_ms: i64,
    /// The workspace it belongs to.
    pub host: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateDoc {
    version: u32,
    #[serde(default)]
    tokens: Vec<TokenRecord>,
}

/// The state file.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    /// The state file in `kiln_dir`.
    pub fn new(kiln_dir: &Path) -> Self {
        Self {
            path: kiln_dir.join(FILE_NAME),
        }
    }

    /// The records (empty when the file is missing or unreadable; a damaged file is logged).
    pub fn load(&self) -> Vec<TokenRecord> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the credentials state");
                return Vec::new();
            }
        };
        match serde_json::from_str::<StateDoc>(&text) {
            Ok(doc) => doc.tokens,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "ignoring a damaged credentials state file");
                Vec::new()
            }
        }
    }

    /// Replaces the records.
    pub fn save(&self, tokens: &[TokenRecord]) {
        let doc = StateDoc {
            version: VERSION,
            tokens: tokens.to_vec(),
        };
        let result = serde_json::to_vec_pretty(&doc)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(&self.path, &bytes));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot save the credentials state");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path());
        assert!(f.load().is_empty());
        let r = TokenRecord {
            token_id: "abc".into(),
            expires_ms: 5,
            host: "https://h".into(),
        };
        f.save(std::slice::from_ref(&r));
        assert_eq!(f.load(), vec![r]);
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        assert!(f.load().is_empty());
    }
}
