//! The Databricks CLI's (and SDKs') access: a `~/.databrickscfg` profile that gets the current
//! short-lived token from kiln's token broker through the SDKs' `metadata-service` auth (a
//! localhost URL answering with the current token), so no token is ever stored. Written only when
//! a broker offers such a URL; otherwise nothing is written and the reason is reported. The
//! profile is `[DEFAULT]` unless the user has a `[DEFAULT]` of their own, then `[kiln]`.

use super::context::Context;
use super::formats::ini;
use super::plan::{ConfigureError, FileChange};

/// Profile name used when `[DEFAULT]` belongs to the user.
pub const PROFILE: &str = "kiln";

/// What configuring the Databricks CLI would do.
#[derive(Debug, Default)]
pub struct CliPlan {
    /// The `~/.databrickscfg` change, if any.
    pub file: Option<FileChange>,
    /// Why nothing was written, or which profile was used.
    pub notes: Vec<String>,
}

/// Computes the change.
pub fn plan(ctx: &Context) -> Result<CliPlan, ConfigureError> {
    let mut plan = CliPlan::default();
    let Some(access) = &ctx.databricks_cli else {
        plan.notes
            .push("Databricks CLI: no token broker is running, so no profile was written".into());
        return Ok(plan);
    };
    let path = ctx.home.join(".databrickscfg");
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let ours = |section: &str| {
        ini::get(&existing, section, "auth_type").as_deref() == Some("metadata-service")
            && ini::get(&existing, section, "host").as_deref() == Some(access.host.as_str())
    };
    let section = if !ini::has_section(&existing, "DEFAULT") || ours("DEFAULT") {
        "DEFAULT"
    } else {
        plan.notes.push(format!(
            "Databricks CLI: [DEFAULT] is yours; kiln's profile is [{PROFILE}] (use --profile {PROFILE})"
        ));
        PROFILE
    };
    let edits = [
        ("host", Some(access.host.as_str())),
        ("auth_type", Some("metadata-service")),
        (
            "metadata_service_url",
            Some(access.metadata_service_url.as_str()),
        ),
    ];
    plan.file = FileChange::plan(path, true, |b| ini::merge(b, section, &edits))?;
    Ok(plan)
}
