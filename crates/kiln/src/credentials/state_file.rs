//! Non-secret state that survives a restart (`~/.kiln/credentials.json`, mode 0600): the ids and
//! expiry times of the tokens kiln minted and has not revoked yet, and the instances of kiln that
//! minted tokens (the comment every token of an instance carries, recorded *before* it mints).
//! Token values are never written anywhere. A restarted kiln revokes the recorded ids as orphans
//! once it has a token again (a token can only be revoked with a token of the same user), and
//! sweeps the token list for the comments of earlier instances: that finds a token minted just
//! before kiln was killed, whose id never reached this file.

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

/// An instance of kiln that mints tokens, each with this comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// The comment of every token the instance minted (unique per instance).
    pub comment: String,
    /// The workspace.
    pub host: String,
    /// No token of the instance lives past this (epoch ms): then there is nothing to sweep.
    pub until_ms: i64,
}

/// What the file holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Tokens minted and not revoked yet.
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
    /// Instances whose tokens may still be alive.
    #[serde(default)]
    pub instances: Vec<InstanceRecord>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateDoc {
    version: u32,
    #[serde(flatten)]
    state: State,
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
    pub fn load(&self) -> State {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return State::default(),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the credentials state");
                return State::default();
            }
        };
        parse(&text).unwrap_or_else(|e| {
            tracing::warn!(path = %self.path.display(), error = %e, "ignoring a damaged credentials state file");
            State::default()
        })
    }

    /// Replaces the records (atomically: a crash leaves the old file or the new one).
    pub fn save(&self, state: &State) {
        let doc = StateDoc {
            version: VERSION,
            state: state.clone(),
        };
        let result = serde_json::to_vec_pretty(&doc)
            .map_err(std::io::Error::other)
            .and_then(|bytes| write_private(&self.path, &bytes));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot save the credentials state");
        }
    }
}

/// Parses the file's text.
pub fn parse(text: &str) -> Result<State, serde_json::Error> {
    serde_json::from_str::<StateDoc>(text).map(|d| d.state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::new(dir.path());
        assert_eq!(f.load(), State::default());
        let r = TokenRecord {
            token_id: "abc".into(),
            expires_ms: 5,
            host: "https://h".into(),
        };
        let state = State {
            tokens: vec![r],
            instances: vec![InstanceRecord {
                comment: "kiln serve on h instance 0a0b0c".into(),
                host: "https://h".into(),
                until_ms: 9,
            }],
        };
        f.save(&state);
        assert_eq!(f.load(), state);
        std::fs::write(dir.path().join(FILE_NAME), "{not json").unwrap();
        assert_eq!(f.load(), State::default());
        // A file of the first version (tokens only) still reads.
        std::fs::write(
            dir.path().join(FILE_NAME),
            r#"{"version":1,"tokens":[{"token_id":"a","expires_ms":1,"host":"h"}]}"#,
        )
        .unwrap();
        let old = f.load();
        assert_eq!(old.tokens.len(), 1);
        assert!(old.instances.is_empty());
    }
}
