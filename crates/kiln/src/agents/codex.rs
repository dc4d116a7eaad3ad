//! Codex: `~/.codex/config.toml` (model, the `databricks` provider on the Responses wire API at
//! the gateway's `/codex` prefix, analytics off, `~/projects` trusted), `~/.codex/.env` (the local
//! key, which Codex loads itself) and `~/.codex/AGENTS.md`.

use super::Agent;
use super::context::Context;
use super::formats::toml::TomlEdit;
use super::formats::{block, dotenv, toml};
use super::instructions;
use super::plan::{ConfigureError, FileChange};

/// Variable in `~/.codex/.env` holding the local key (not `OPENAI_API_KEY`, which a user may
/// have set for OpenAI itself).
pub const KEY_ENV: &str = "KILN_GATEWAY_KEY";

/// The `config.toml` edits.
pub fn config_edits(ctx: &Context) -> Result<Vec<TomlEdit>, ConfigureError> {
    let model = ctx.models.codex.clone().ok_or_else(|| {
        ConfigureError::Missing(
            "the workspace serves no OpenAI (GPT) endpoint for the Responses API (set CODEX_MODEL)"
                .into(),
        )
    })?;
    let env_key = ctx.token_env().unwrap_or(KEY_ENV).to_owned();
    let projects = ctx.projects_dir().display().to_string();
    Ok(vec![
        TomlEdit::set(&["model"], model),
        TomlEdit::set(&["model_provider"], "databricks"),
        TomlEdit::set(&["model_providers", "databricks", "name"], "Databricks"),
        TomlEdit::set(
            &["model_providers", "databricks", "base_url"],
            ctx.base_url(Agent::Codex),
        ),
        TomlEdit::set(&["model_providers", "databricks", "env_key"], env_key),
        TomlEdit::set(&["model_providers", "databricks", "wire_api"], "responses"),
        TomlEdit::set(&["analytics", "enabled"], false),
        TomlEdit::set(&["projects", &projects, "trust_level"], "trusted"),
    ])
}

/// Every file change for Codex.
pub fn plan(ctx: &Context) -> Result<Vec<FileChange>, ConfigureError> {
    let edits = config_edits(ctx)?;
    let dir = ctx.home.join(".codex");
    let mut out = Vec::new();
    out.extend(FileChange::plan(dir.join("config.toml"), false, |b| {
        toml::merge(b, &edits)
    })?);
    let key = ctx.gateway_key();
    let env_path = dir.join(".env");
    if key.is_some() || env_path.exists() {
        out.extend(FileChange::plan(env_path, true, |b| {
            dotenv::merge(b, &[(KEY_ENV, key)])
        })?);
    }
    if let Some(rel) = instructions::file(Agent::Codex) {
        let text = instructions::text(Agent::Codex, ctx);
        out.extend(FileChange::plan(ctx.home.join(rel), false, |b| {
            block::merge(b, &text)
        })?);
    }
    Ok(out)
}
