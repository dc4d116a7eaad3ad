//! `kiln agents`: install, configure, check and report on the coding agents (Claude Code, Codex,
//! Gemini CLI, OpenCode, Hermes Agent), plus the git identity and the Databricks CLI's access.
//!
//! Rooms: [`manifest`] (pinned versions, built in, overridable), [`install`] (npm into a user
//! prefix, Hermes into its own venv, in parallel with progress), [`models`] (which serving
//! endpoint each agent uses), [`context`] (what the writers need: HOME, gateway or direct target,
//! models, identity), [`formats`] (merging JSON, TOML, YAML, `.env` and instruction blocks without
//! clobbering), [`plan`] (file changes, diffs, atomic application), one module per agent
//! ([`claude`], [`codex`], [`gemini`], [`opencode`], [`hermes`]), [`git`], [`databricks_cli`],
//! [`instructions`] (the text kiln puts in each agent's instructions file), [`gateway_info`]
//! (finding the running gateway and its key), [`check`] (one real prompt per agent), [`state`]
//! (last results), [`status`], [`setup`] + [`progress`] (the runner and HTTP API used by
//! `kiln serve`), [`serve`] (its glue to the server's gateway and credentials), [`resolve`]
//! (asking the workspace for models and identity), [`configure`] (every item's plan), [`cli`]
//! (the command line: [`args`] are its flags, `commands` its work).

pub mod args;
pub mod check;
pub mod claude;
pub mod cli;
pub mod codex;
mod commands;
pub mod configure;
pub mod context;
pub mod databricks_cli;
pub mod formats;
pub mod gateway_info;
pub mod gemini;
pub mod git;
pub mod hermes;
pub mod install;
pub mod instructions;
pub mod manifest;
pub mod models;
pub mod opencode;
pub mod plan;
pub mod progress;
pub mod resolve;
pub mod serve;
pub mod setup;
mod setup_api;
pub mod state;
pub mod status;

pub use setup::{SetupOptions, SetupRunner};
pub use setup_api::setup_router;

pub use crate::agent::Agent;

/// What a run of `kiln agents` works on: a set of agents plus the two extras (the git identity
/// and the Databricks CLI's access).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Selected agents, in display order.
    pub agents: Vec<Agent>,
    /// Configure the git identity.
    pub git: bool,
    /// Configure the Databricks CLI's access.
    pub databricks: bool,
}

impl Default for Selection {
    fn default() -> Self {
        Self::all()
    }
}

impl Selection {
    /// Every agent and both extras.
    pub fn all() -> Self {
        Self {
            agents: Agent::ALL.to_vec(),
            git: true,
            databricks: true,
        }
    }

    /// Parses a comma- or space-separated list (`claude,codex`, `all`, `git`, `databricks`).
    /// An empty list means everything.
    pub fn parse(list: &str) -> Result<Self, String> {
        let words: Vec<&str> = list
            .split([',', ' '])
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() || words.iter().any(|w| w.eq_ignore_ascii_case("all")) {
            return Ok(Self::all());
        }
        let mut sel = Self {
            agents: Vec::new(),
            git: false,
            databricks: false,
        };
        for w in words {
            match w.to_ascii_lowercase().as_str() {
                "git" => sel.git = true,
                "databricks" | "databricks-cli" => sel.databricks = true,
                _ => {
                    let a: Agent = w.parse()?;
                    if !sel.agents.contains(&a) {
                        sel.agents.push(a);
                    }
                }
            }
        }
        sel.agents.sort();
        Ok(sel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parsing() {
        assert_eq!(Selection::parse("").unwrap(), Selection::all());
        assert_eq!(Selection::parse("all").unwrap(), Selection::all());
        let s = Selection::parse("codex, claude-code claude").unwrap();
        assert_eq!(s.agents, vec![Agent::Claude, Agent::Codex]);
        assert!(!s.git && !s.databricks);
        let s = Selection::parse("git,databricks").unwrap();
        assert!(s.agents.is_empty() && s.git && s.databricks);
        assert!(
            Selection::parse("claude,emacs")
                .unwrap_err()
                .contains("emacs")
        );
        for a in Agent::ALL {
            assert_eq!(a.name().parse::<Agent>().unwrap(), a);
        }
    }
}
