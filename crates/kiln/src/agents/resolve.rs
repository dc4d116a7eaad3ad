//! Asking the workspace what the writers need: the serving endpoints (for [`models`]) and the
//! caller's identity (SCIM `Me`, for git). Failures are not fatal: models fall back to built-in
//! defaults (overrides still apply), the identity stays unknown, and the reason is reported.

use super::context::Identity;
use super::models::{self, Models};
use kiln_databricks::api::scim::User;
use kiln_databricks::{Attr, Client, ClientOptions, ConfigLoader, Environment, RetryPolicy};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long workspace calls keep retrying (15 s).
const RETRY_BUDGET: Duration = Duration::from_secs(15);

/// What the workspace told us.
#[derive(Clone, Debug, Default)]
pub struct Workspace {
    /// Workspace URL, when configured.
    pub host: Option<String>,
    /// Chosen models.
    pub models: Models,
    /// Git identity.
    pub identity: Option<Identity>,
    /// What went wrong on the way.
    pub notes: Vec<String>,
}

/// Client options for these short calls.
pub fn client_options() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            budget: RETRY_BUDGET,
            request_timeout: RETRY_BUDGET,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    }
}

/// A client from the standard configuration (environment, `~/.databrickscfg`) plus flags.
pub fn client_from_config(profile: Option<&str>, host: Option<&str>) -> Result<Client, String> {
    let mut loader = ConfigLoader::new(Environment::from_process());
    if let Some(p) = profile {
        loader = loader.set_from(Attr::Profile, p, "--profile flag");
    }
    if let Some(h) = host {
        loader = loader.set_from(Attr::Host, h, "--host flag");
    }
    let config = loader.load().map_err(|e| e.to_string())?;
    Client::with_options(&config, client_options()).map_err(|e| e.to_string())
}

/// The git identity of a SCIM user.
pub fn identity(user: &User) -> Option<Identity> {
    let email = user.email()?.to_owned();
    let name = user
        .display_name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .or_else(|| {
            let n = user.name.as_ref()?;
            let full = format!(
                "{} {}",
                n.given_name.as_deref().unwrap_or(""),
                n.family_name.as_deref().unwrap_or("")
            );
            let full = full.trim().to_owned();
            (!full.is_empty()).then_some(full)
        })
        .unwrap_or_else(|| user.user_name.clone());
    Some(Identity { name, email })
}

/// Asks the workspace behind `client` (if any); `env` supplies the model overrides.
pub async fn workspace(client: Option<&Client>, env: &BTreeMap<String, String>) -> Workspace {
    let overrides = models::overrides(env);
    let Some(client) = client else {
        return Workspace {
            models: models::defaults(&overrides, "no Databricks configuration"),
            notes: vec![
                "no Databricks configuration: built-in model defaults, no git identity".into(),
            ],
            ..Workspace::default()
        };
    };
    let mut ws = Workspace {
        host: Some(client.host().to_owned()),
        ..Workspace::default()
    };
    let (serving, scim) = (client.serving(), client.scim());
    let (endpoints, me) = tokio::join!(serving.list(), scim.me());
    ws.models = match endpoints {
        Ok(list) => {
            let names = models::ready_names(&list);
            models::choose(
                &names,
                &overrides,
                &format!("{} serving endpoints", names.len()),
            )
        }
        Err(e) => {
            ws.notes.push(format!("cannot list serving endpoints: {e}"));
            models::defaults(&overrides, "serving endpoints unavailable")
        }
    };
    match me {
        Ok(user) => ws.identity = identity(&user),
        Err(e) => ws
            .notes
            .push(format!("cannot read the identity (SCIM Me): {e}")),
    }
    ws
}

/// The process environment as a map.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars().collect()
}
