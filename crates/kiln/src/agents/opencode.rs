//! OpenCode: `~/.config/opencode/opencode.json` (the `databricks` provider on
//! `@ai-sdk/openai-compatible` at the gateway's `/opencode` prefix, its models, `small_model` so
//! title generation uses a served model, auto-update and sharing off),
//! `~/.local/share/opencode/auth.json` (the local key in OpenCode's own shape) and
//! `~/.config/opencode/AGENTS.md`. `options.apiKey` is only set in direct mode: an unresolvable
//! `{env:…}` there would shadow auth.json with an empty key.

use super::Agent;
use super::context::{Context, DIRECT_TOKEN_ENV};
use super::formats::json::JsonEdit;
use super::formats::{block, json};
use super::instructions;
use super::plan::{ConfigureError, FileChange};
use serde_json::json;

/// Provider id in OpenCode's config.
pub const PROVIDER: &str = "databricks";

fn env_ref(var: &str) -> String {
    format!("{{env:{var}}}")
}

/// The `opencode.json` edits.
pub fn config_edits(ctx: &Context) -> Result<Vec<JsonEdit>, ConfigureError> {
    let model = ctx.models.opencode.clone().ok_or_else(|| {
        ConfigureError::Missing("the workspace serves no chat endpoint (set OPENCODE_MODEL)".into())
    })?;
    let small = ctx
        .models
        .opencode_small
        .clone()
        .unwrap_or_else(|| model.clone());
    let p = PROVIDER;
    let mut edits = vec![
        JsonEdit::set(&["model"], format!("{p}/{model}")),
        JsonEdit::set(&["small_model"], format!("{p}/{small}")),
        JsonEdit::set(&["autoupdate"], false),
        JsonEdit::set(&["share"], "disabled"),
        JsonEdit::set(&["provider", p, "npm"], "@ai-sdk/openai-compatible"),
        JsonEdit::set(&["provider", p, "name"], "Databricks"),
        JsonEdit::set(
            &["provider", p, "options", "baseURL"],
            ctx.base_url(Agent::OpenCode),
        ),
    ];
    for m in [&model, &small] {
        edits.push(JsonEdit::set(
            &["provider", p, "models", m, "name"],
            m.as_str(),
        ));
    }
    match ctx.token_env() {
        Some(var) => edits.push(JsonEdit::set(
            &["provider", p, "options", "apiKey"],
            env_ref(var),
        )),
        None => edits.push(JsonEdit::remove_if(
            &["provider", p, "options", "apiKey"],
            json!(env_ref(DIRECT_TOKEN_ENV)),
        )),
    }
    Ok(edits)
}

/// Every file change for OpenCode.
pub fn plan(ctx: &Context) -> Result<Vec<FileChange>, ConfigureError> {
    let edits = config_edits(ctx)?;
    let home = &ctx.home;
    let mut out = Vec::new();
    out.extend(FileChange::plan(
        home.join(".config/opencode/opencode.json"),
        false,
        |b| json::merge(b, &edits),
    )?);
    let auth_path = home.join(".local/share/opencode/auth.json");
    let auth = match ctx.gateway_key() {
        Some(key) => Some(JsonEdit::set(
            &[PROVIDER],
            json!({"type": "api", "key": key}),
        )),
        None if auth_path.exists() => Some(JsonEdit::remove(&[PROVIDER])),
        None => None,
    };
    if let Some(edit) = auth {
        out.extend(FileChange::plan(auth_path, true, |b| {
            json::merge(b, std::slice::from_ref(&edit))
        })?);
    }
    if let Some(rel) = instructions::file(Agent::OpenCode) {
        let text = instructions::text(Agent::OpenCode, ctx);
        out.extend(FileChange::plan(home.join(rel), false, |b| {
            block::merge(b, &text)
        })?);
    }
    Ok(out)
}
