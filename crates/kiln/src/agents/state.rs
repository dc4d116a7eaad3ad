//! What kiln remembers about each agent between runs (`~/.kiln/agents/state.json`): the version
//! it installed and the result of the last check, for `kiln agents status`. Holds no secret.

use super::Agent;
use super::plan::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The result of one check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The prompt got an answer.
    pub ok: bool,
    /// When (seconds since the epoch).
    pub at_unix: u64,
    /// The answer (first line) or the error.
    pub message: String,
    /// How long it took, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
}

/// One agent's remembered facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// Version kiln installed last.
    #[serde(default)]
    pub installed_version: Option<String>,
    /// Last check.
    #[serde(default)]
    pub last_check: Option<CheckResult>,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// By agent name.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentState>,
}

/// Serialises [`State::update`] within this process.
static UPDATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `<home>/.kiln/agents/state.json`.
pub fn path(home: &Path) -> PathBuf {
    home.join(".kiln/agents/state.json")
}

/// Seconds since the epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl State {
    /// Reads the state (empty when absent or unreadable).
    pub fn load(home: &Path) -> Self {
        std::fs::read(path(home))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Changes one agent's entry and saves (read-modify-write under a process-wide lock, as
    /// agents are set up in parallel).
    pub fn update(
        home: &Path,
        agent: Agent,
        f: impl FnOnce(&mut AgentState),
    ) -> std::io::Result<()> {
        let _guard = UPDATE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = Self::load(home);
        f(s.agents.entry(agent.name().to_owned()).or_default());
        let mut bytes = serde_json::to_vec_pretty(&s).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        let file = path(home);
        // Unchanged content is not rewritten (a second identical run changes no mtime).
        if std::fs::read(&file).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        write_atomic(&file, &bytes, false).map_err(std::io::Error::other)
    }

    /// One agent's entry.
    pub fn get(&self, agent: Agent) -> AgentState {
        self.agents.get(agent.name()).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parallel_updates_keep_every_agent() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_owned();
        std::thread::scope(|s| {
            for a in Agent::ALL {
                let home = home.clone();
                s.spawn(move || {
                    State::update(&home, a, |st| st.installed_version = Some(a.name().into()))
                        .unwrap()
                });
            }
        });
        let st = State::load(&home);
        for a in Agent::ALL {
            assert_eq!(st.get(a).installed_version.as_deref(), Some(a.name()));
        }
    }
}
