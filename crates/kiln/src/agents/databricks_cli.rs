//! The Databricks CLI's (and SDKs') access: the `[kiln]` profile of `~/.databrickscfg`, which
//! gets the current short-lived token from kiln's token broker through the SDKs'
//! `metadata-service` auth (a localhost URL answering with the current token), so no token is
//! ever stored. Inside `kiln serve` the credentials code writes that profile when its broker
//! starts (and terminals get `DATABRICKS_CONFIG_PROFILE=kiln`); here kiln only reports it. With an
//! explicit broker URL (`kiln agents configure --metadata-url`) the same three keys are merged into
//! `[kiln]`, every other byte of the file kept. Without a broker nothing is written. The profile
//! itself (keys, merge, removal) is owned by [`crate::profile`].

use super::context::Context;
use super::formats::text;
use super::plan::{ConfigureError, FileChange};
use crate::profile::{self, PROFILE};

/// What configuring the Databricks CLI would do.
#[derive(Debug, Default)]
pub struct CliPlan {
    /// The `~/.databrickscfg` change, if any.
    pub file: Option<FileChange>,
    /// What was found or why nothing was written.
    pub notes: Vec<String>,
}

/// Computes the change.
pub fn plan(ctx: &Context) -> Result<CliPlan, ConfigureError> {
    let mut plan = CliPlan::default();
    let path = ctx.home.join(profile::FILE_NAME);
    let Some(access) = &ctx.databricks_cli else {
        let existing = std::fs::read_to_string(&path).unwrap_or_default();
        plan.notes.push(if profile::is_brokered(&existing) {
            format!(
                "profile [{PROFILE}] gets the current token from kiln's token broker \
                 (DATABRICKS_CONFIG_PROFILE={PROFILE})"
            )
        } else {
            format!("no token broker is running, so no [{PROFILE}] profile was written")
        });
        return Ok(plan);
    };
    plan.notes.push(format!(
        "use it with DATABRICKS_CONFIG_PROFILE={PROFILE} or --profile {PROFILE}"
    ));
    plan.file = FileChange::plan(path, true, |b| {
        let old = text(b)?;
        let new = profile::with_broker(old, &access.host, &access.metadata_service_url);
        Ok((new != old).then(|| new.into_bytes()))
    })?;
    Ok(plan)
}
