//! Claude Code: `~/.claude/settings.json` (`env` block pointing at the gateway's `/claude`
//! prefix with the local key as `ANTHROPIC_AUTH_TOKEN`, the models per tier, Databricks' coding
//! agent header, the offline switches, `WebSearch` denied), `~/.claude.json` (onboarding done,
//! everything else Claude's own) and `~/.claude/CLAUDE.md`.

use super::Agent;
use super::context::Context;
use super::formats::{block, json, json::JsonEdit};
use super::instructions;
use super::plan::{ConfigureError, FileChange};
use serde_json::json;

/// `apiKeyHelper` written in direct mode: prints the token from the environment.
pub fn direct_helper(token_env: &str) -> String {
    format!("printenv {token_env}")
}

/// The `env` values kiln manages (besides the credential).
fn env_values(ctx: &Context, model: &str) -> Vec<(&'static str, Option<String>)> {
    let m = &ctx.models.claude;
    vec![
        ("ANTHROPIC_BASE_URL", Some(ctx.base_url(Agent::Claude))),
        ("ANTHROPIC_MODEL", Some(model.to_owned())),
        ("ANTHROPIC_DEFAULT_OPUS_MODEL", m.opus.clone()),
        ("ANTHROPIC_DEFAULT_SONNET_MODEL", m.sonnet.clone()),
        ("ANTHROPIC_DEFAULT_HAIKU_MODEL", m.haiku.clone()),
        (
            "ANTHROPIC_CUSTOM_HEADERS",
            Some("x-databricks-use-coding-agent-mode: true".to_owned()),
        ),
        ("CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS", Some("1".into())),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", Some("1".into())),
        ("DISABLE_AUTOUPDATER", Some("1".into())),
        ("DISABLE_TELEMETRY", Some("1".into())),
        ("DISABLE_ERROR_REPORTING", Some("1".into())),
    ]
}

/// The settings edits.
pub fn settings_edits(ctx: &Context) -> Result<Vec<JsonEdit>, ConfigureError> {
    let model = ctx.models.claude.main.clone().ok_or_else(|| {
        ConfigureError::Missing(
            "the workspace serves no Claude endpoint (set ANTHROPIC_MODEL to choose one)".into(),
        )
    })?;
    let mut edits: Vec<JsonEdit> = env_values(ctx, &model)
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| JsonEdit::set(&["env", k], v)))
        .collect();
    match (ctx.gateway_key(), ctx.token_env()) {
        (Some(key), _) => {
            edits.push(JsonEdit::set(&["env", "ANTHROPIC_AUTH_TOKEN"], key));
            edits.push(JsonEdit::remove_if(
                &["apiKeyHelper"],
                direct_helper(super::context::DIRECT_TOKEN_ENV),
            ));
        }
        (None, Some(var)) => {
            edits.push(JsonEdit::remove(&["env", "ANTHROPIC_AUTH_TOKEN"]));
            edits.push(JsonEdit::set(&["apiKeyHelper"], direct_helper(var)));
            edits.push(JsonEdit::set(
                &["env", "CLAUDE_CODE_API_KEY_HELPER_TTL_MS"],
                "300000",
            ));
        }
        (None, None) => {}
    }
    edits.push(JsonEdit::include(
        &["permissions", "deny"],
        vec![json!("WebSearch")],
    ));
    Ok(edits)
}

/// Every file change for Claude Code.
pub fn plan(ctx: &Context) -> Result<Vec<FileChange>, ConfigureError> {
    let edits = settings_edits(ctx)?;
    let home = &ctx.home;
    let mut out = Vec::new();
    out.extend(FileChange::plan(
        home.join(".claude/settings.json"),
        true,
        |b| json::merge(b, &edits),
    )?);
    out.extend(FileChange::plan(home.join(".claude.json"), false, |b| {
        json::merge(b, &[JsonEdit::set(&["hasCompletedOnboarding"], true)])
    })?);
    if let Some(rel) = instructions::file(Agent::Claude) {
        let text = instructions::text(Agent::Claude, ctx);
        out.extend(FileChange::plan(home.join(rel), false, |b| {
            block::merge(b, &text)
        })?);
    }
    Ok(out)
}
