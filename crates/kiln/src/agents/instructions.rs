//! The text kiln puts in each agent's instructions file (inside its managed block): what this
//! environment is, where projects live, how Databricks access works.

use super::Agent;
use super::context::{Context, Target};

/// Where an agent reads its user-level instructions, relative to HOME (`None`: the agent has no
/// such file and gets the text another way, e.g. Hermes' `agent.environment_hint`).
pub fn file(agent: Agent) -> Option<&'static str> {
    match agent {
        Agent::Claude => Some(".claude/CLAUDE.md"),
        Agent::Codex => Some(".codex/AGENTS.md"),
        Agent::Gemini => Some(".gemini/GEMINI.md"),
        Agent::OpenCode => Some(".config/opencode/AGENTS.md"),
        Agent::Hermes => None,
    }
}

/// The instructions for `agent`.
pub fn text(agent: Agent, ctx: &Context) -> String {
    let projects = ctx.projects_dir();
    let models = match &ctx.target {
        Target::Gateway { .. } => format!(
            "- Your model calls go through kiln's local model gateway ({}), which adds a \
             short-lived Databricks token that kiln keeps rotating. There is no API key for you \
             to manage: never ask the user for a token, and never print or store one.",
            ctx.base_url(agent)
        ),
        Target::Direct { token_env, .. } => format!(
            "- Your model calls go directly to Databricks Model Serving ({}) with the token in \
             the environment variable `{token_env}`. Never print or store that token.",
            ctx.base_url(agent)
        ),
    };
    format!(
        "# Environment: kiln on Databricks\n\n\
         You are {name}, running in a kiln environment: a Linux machine (a Databricks App or a \
         cluster) set up for coding agents and wired to this Databricks workspace.\n\n\
         - Projects live in `{projects}`, one git repository per directory. In the kiln app, \
         every `git commit` there is synced to the owner's Databricks Workspace folder and \
         restored when the app's container is replaced; files outside `{projects}` may be lost.\n\
         {models}\n\
         - The `databricks` CLI and the Databricks SDKs, where configured, act as the workspace \
         user; use them for workspace, jobs, clusters, Unity Catalog and serving tasks.\n\
         - Commit small, meaningful steps: commits are what gets saved.\n",
        name = agent.display(),
        projects = projects.display(),
    )
}

/// A one-paragraph form for agents whose hint is a single config value.
pub fn hint(agent: Agent, ctx: &Context) -> String {
    text(agent, ctx)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_start_matches("- "))
        .collect::<Vec<_>>()
        .join(" ")
}
