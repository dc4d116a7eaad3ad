//! Gemini CLI: `~/.gemini/.env` (model, the gateway's `/gemini` prefix, bearer auth, the local
//! key), `~/.gemini/settings.json` (`security.auth.selectedType = "gemini-api-key"`, which 0.61
//! requires; usage statistics, telemetry and auto-update off), `~/.gemini/trustedFolders.json`
//! (HOME and `~/projects` trusted, or `.env` is silently ignored) and `~/.gemini/GEMINI.md`.
//!
//! In `--mode direct` the `.env` holds no key: Gemini CLI cannot reference a variable there, so
//! the shell must export `GEMINI_API_KEY` (the cluster init script does).

use super::Agent;
use super::context::Context;
use super::formats::json::JsonEdit;
use super::formats::{block, dotenv, json};
use super::instructions;
use super::plan::{ConfigureError, FileChange};

/// Every file change for Gemini CLI.
pub fn plan(ctx: &Context) -> Result<Vec<FileChange>, ConfigureError> {
    let model = ctx.models.gemini.clone().ok_or_else(|| {
        ConfigureError::Missing(
            "the workspace serves no Gemini endpoint (set GEMINI_MODEL to choose one)".into(),
        )
    })?;
    let dir = ctx.home.join(".gemini");
    let base = ctx.base_url(Agent::Gemini);
    let key = ctx.gateway_key();
    let env_edits = [
        ("GEMINI_MODEL", Some(model.as_str())),
        ("GOOGLE_GEMINI_BASE_URL", Some(base.as_str())),
        ("GEMINI_API_KEY_AUTH_MECHANISM", Some("bearer")),
        ("GEMINI_API_KEY", key),
    ];
    let settings = [
        JsonEdit::set(&["security", "auth", "selectedType"], "gemini-api-key"),
        JsonEdit::set(&["privacy", "usageStatisticsEnabled"], false),
        JsonEdit::set(&["telemetry", "enabled"], false),
        JsonEdit::set(&["general", "enableAutoUpdate"], false),
        JsonEdit::set(&["general", "enableAutoUpdateNotification"], false),
    ];
    let trusted = [
        JsonEdit::Set(vec![ctx.home.display().to_string()], "TRUST_FOLDER".into()),
        JsonEdit::Set(
            vec![ctx.projects_dir().display().to_string()],
            "TRUST_FOLDER".into(),
        ),
    ];
    let mut out = Vec::new();
    out.extend(FileChange::plan(dir.join(".env"), true, |b| {
        dotenv::merge(b, &env_edits)
    })?);
    out.extend(FileChange::plan(dir.join("settings.json"), false, |b| {
        json::merge(b, &settings)
    })?);
    out.extend(FileChange::plan(
        dir.join("trustedFolders.json"),
        false,
        |b| json::merge(b, &trusted),
    )?);
    if let Some(rel) = instructions::file(Agent::Gemini) {
        let text = instructions::text(Agent::Gemini, ctx);
        out.extend(FileChange::plan(ctx.home.join(rel), false, |b| {
            block::merge(b, &text)
        })?);
    }
    Ok(out)
}
