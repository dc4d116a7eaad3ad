//! What the writers need to know: the HOME they write into, where agents send model calls
//! ([`Target`]: the local gateway with its key, or Databricks directly with a token reference),
//! the chosen models, the git identity and the Databricks CLI's access.

use super::Agent;
use super::models::Models;
use kiln_databricks::Secret;
use std::path::PathBuf;

/// Environment variable that holds the Databricks token in `--mode direct`.
pub const DIRECT_TOKEN_ENV: &str = "DATABRICKS_TOKEN";

/// Where agents send their model calls.
#[derive(Clone, Debug)]
pub enum Target {
    /// The local model gateway (`http://127.0.0.1:PORT`) and its local key. Agent files hold
    /// only this key, never a Databricks token.
    Gateway {
        /// Gateway base URL, no trailing slash.
        url: String,
        /// The local key (`~/.kiln/gateway.key`).
        key: Secret,
    },
    /// Databricks directly (`--mode direct`, for places without a running kiln): configs name
    /// the environment variable `token_env` instead of holding a token.
    Direct {
        /// Workspace URL, no trailing slash.
        host: String,
        /// Variable holding the token (default `DATABRICKS_TOKEN`).
        token_env: String,
    },
}

/// The git identity (from SCIM `Me`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `user.name`.
    pub name: String,
    /// `user.email`.
    pub email: String,
}

/// How the Databricks CLI reaches the current token, when a broker offers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabricksCliAccess {
    /// Workspace URL.
    pub host: String,
    /// A localhost URL serving the current token in the SDKs' `metadata-service` shape (its
    /// path is a secret).
    pub metadata_service_url: Secret,
}

/// Everything a writer reads.
#[derive(Clone, Debug)]
pub struct Context {
    /// The HOME written into (`--home` or `$HOME`).
    pub home: PathBuf,
    /// Where model calls go.
    pub target: Target,
    /// Chosen models.
    pub models: Models,
    /// Git identity, when known.
    pub identity: Option<Identity>,
    /// Databricks CLI access, when a token broker offers one.
    pub databricks_cli: Option<DatabricksCliAccess>,
}

impl Context {
    /// The base URL an agent's config points at. Gateway: `<url>/<agent>`. Direct: the
    /// workspace's serving-endpoints path of the agent's wire API (agent-clis.md).
    pub fn base_url(&self, agent: Agent) -> String {
        match &self.target {
            Target::Gateway { url, .. } => format!("{url}/{}", agent.name()),
            Target::Direct { host, .. } => match agent {
                Agent::Claude => format!("{host}/serving-endpoints/anthropic"),
                Agent::Gemini => format!("{host}/serving-endpoints/gemini"),
                Agent::Codex | Agent::OpenCode | Agent::Hermes => {
                    format!("{host}/serving-endpoints")
                }
            },
        }
    }

    /// The local key in gateway mode.
    pub fn gateway_key(&self) -> Option<&str> {
        match &self.target {
            Target::Gateway { key, .. } => Some(key.expose()),
            Target::Direct { .. } => None,
        }
    }

    /// The token variable in direct mode.
    pub fn token_env(&self) -> Option<&str> {
        match &self.target {
            Target::Gateway { .. } => None,
            Target::Direct { token_env, .. } => Some(token_env),
        }
    }

    /// Values to hide in diffs and logs.
    pub fn secrets(&self) -> Vec<String> {
        let mut v: Vec<String> = self.gateway_key().map(str::to_owned).into_iter().collect();
        if let Some(a) = &self.databricks_cli {
            v.push(a.metadata_service_url.expose().to_owned());
        }
        v
    }

    /// `~/projects`, where the owner's projects live.
    pub fn projects_dir(&self) -> PathBuf {
        self.home.join("projects")
    }

    /// `~/.kiln`.
    pub fn kiln_dir(&self) -> PathBuf {
        self.home.join(crate::state::DIR_NAME)
    }
}
