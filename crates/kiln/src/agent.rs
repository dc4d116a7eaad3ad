//! The coding agents kiln knows (Claude Code, Codex, Gemini CLI, OpenCode, Hermes Agent): the
//! one list, with the names used on the command line, in `KILN_AGENTS`, in URLs and as the
//! model gateway's path prefixes. `agents` installs and configures them; the gateway attributes
//! requests to them.

use std::fmt;
use std::str::FromStr;

/// One coding agent kiln installs and configures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Agent {
    /// Claude Code (`@anthropic-ai/claude-code`).
    Claude,
    /// OpenAI Codex CLI (`@openai/codex`).
    Codex,
    /// Gemini CLI (`@google/gemini-cli`).
    Gemini,
    /// OpenCode (`opencode-ai`).
    OpenCode,
    /// Hermes Agent (`hermes-agent` on PyPI).
    Hermes,
}

impl Agent {
    /// Every agent, in display order.
    pub const ALL: [Agent; 5] = [
        Agent::Claude,
        Agent::Codex,
        Agent::Gemini,
        Agent::OpenCode,
        Agent::Hermes,
    ];

    /// Short name used on the command line, in `KILN_AGENTS`, in URLs and as the gateway prefix.
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::OpenCode => "opencode",
            Agent::Hermes => "hermes",
        }
    }

    /// Human name.
    pub fn display(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Codex => "Codex",
            Agent::Gemini => "Gemini CLI",
            Agent::OpenCode => "OpenCode",
            Agent::Hermes => "Hermes Agent",
        }
    }

    /// The command the agent is started with.
    pub fn bin(self) -> &'static str {
        self.name()
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Agent {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "claude" | "claude-code" | "claudecode" => Ok(Agent::Claude),
            "codex" | "codex-cli" => Ok(Agent::Codex),
            "gemini" | "gemini-cli" => Ok(Agent::Gemini),
            "opencode" | "open-code" => Ok(Agent::OpenCode),
            "hermes" | "hermes-agent" => Ok(Agent::Hermes),
            other => Err(format!(
                "unknown agent {other:?} (known: claude, codex, gemini, opencode, hermes, git, databricks)"
            )),
        }
    }
}
