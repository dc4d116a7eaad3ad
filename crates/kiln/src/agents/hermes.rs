//! Hermes Agent: `~/.hermes/config.yaml` — `model.default`, `model.provider: custom`,
//! `model.base_url` (the gateway's `/hermes` prefix), `model.api_key` (the local key; in direct
//! mode a `${DATABRICKS_TOKEN}` reference, which Hermes expands) and `agent.environment_hint`
//! (Hermes' slot for describing the environment; it has no user-level instructions file that
//! would not replace its persona).

use super::Agent;
use super::context::Context;
use super::formats::yaml::{self, YamlEdit};
use super::instructions;
use super::plan::{ConfigureError, FileChange};

/// Every file change for Hermes Agent.
pub fn plan(ctx: &Context) -> Result<Vec<FileChange>, ConfigureError> {
    let model = ctx.models.hermes.clone().ok_or_else(|| {
        ConfigureError::Missing("the workspace serves no chat endpoint (set HERMES_MODEL)".into())
    })?;
    let api_key = match (ctx.gateway_key(), ctx.token_env()) {
        (Some(k), _) => k.to_owned(),
        (None, Some(var)) => format!("${{{var}}}"),
        (None, None) => String::new(),
    };
    let edits = [
        YamlEdit::set("model", "default", model),
        YamlEdit::set("model", "provider", "custom"),
        YamlEdit::set("model", "base_url", ctx.base_url(Agent::Hermes)),
        YamlEdit::set("model", "api_key", api_key),
        YamlEdit::set(
            "agent",
            "environment_hint",
            instructions::hint(Agent::Hermes, ctx),
        ),
    ];
    Ok(
        FileChange::plan(ctx.home.join(".hermes/config.yaml"), true, |b| {
            yaml::merge(b, &edits)
        })?
        .into_iter()
        .collect(),
    )
}
