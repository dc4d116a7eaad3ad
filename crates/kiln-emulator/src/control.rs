//! Test controls shared by the Rust handle ([`crate::RunningEmulator`]) and the HTTP admin
//! API: seeding identities, creating users and tokens, and reading recorded state.

use crate::apps::store::insert_app;
use crate::clusters::RecordedInitScript;
use crate::ids;
use crate::tokens;
use crate::world::{Identities, SeededUser, Shared, World};
use crate::{EmulatorError, EmulatorOptions};

/// Seeds users, their PATs and the app into a fresh world.
pub fn seed(
    w: &mut World,
    opts: &EmulatorOptions,
    base_url: &str,
    workspace_id: u64,
    now: i64,
) -> Result<Identities, EmulatorError> {
    let mut emails: Vec<String> = opts.users.clone();
    for (email, _) in &opts.user_tokens {
        if !emails.iter().any(|e| e.eq_ignore_ascii_case(email)) {
            emails.push(email.clone());
        }
    }
    if emails.is_empty() {
        emails.push(crate::DEFAULT_USER.to_string());
    }
    let mut users = Vec::new();
    for email in &emails {
        if !email.contains('@') {
            return Err(EmulatorError::InvalidOption(format!(
                "user {email:?} is not an email address"
            )));
        }
        let id = w.add_user(email, false, now);
        let token = opts
            .user_tokens
            .iter()
            .find(|(e, _)| e.eq_ignore_ascii_case(email))
            .map(|(_, t)| t.clone())
            .unwrap_or_else(ids::pat);
        if token.is_empty() {
            return Err(EmulatorError::InvalidOption(format!(
                "empty token for {email}"
            )));
        }
        w.insert_pat(id, &token, now, -1, Some("kiln-emulator seed".into()));
        users.push(SeededUser {
            email: email.clone(),
            token,
        });
    }
    let app = insert_app(
        w,
        &opts.app_name,
        &emails[0],
        Some("Coding agents in a browser terminal".into()),
        opts.sp_client_id.clone(),
        opts.sp_client_secret.clone(),
        now,
        true,
    );
    Ok(Identities {
        workspace_url: base_url.to_string(),
        workspace_id,
        users,
        app_name: opts.app_name.clone(),
        sp_client_id: app.client_id,
        sp_client_secret: app.secret,
    })
}

impl Shared {
    /// Adds a user (idempotent) and a new non-expiring PAT for it; returns the token.
    pub fn create_user(&self, email: &str, admin: bool) -> Result<String, EmulatorError> {
        if !email.contains('@') {
            return Err(EmulatorError::InvalidOption(format!(
                "user {email:?} is not an email address"
            )));
        }
        let now = self.now_ms();
        let mut w = self.world();
        let id = w.add_user(email, admin, now);
        if let Some(p) = w.principals.get_mut(&id) {
            p.admin = p.admin || admin;
        }
        let token = ids::pat();
        w.insert_pat(id, &token, now, -1, Some("kiln-emulator".into()));
        Ok(token)
    }

    /// Creates a PAT for a user or service principal (by email / application id), as
    /// `token/create` would; `lifetime_secs` `None` means the API default.
    pub fn create_token(
        &self,
        principal: &str,
        lifetime_secs: Option<i64>,
        comment: Option<String>,
        value: Option<String>,
    ) -> Result<String, EmulatorError> {
        let now = self.now_ms();
        let mut w = self.world();
        let owner = w
            .principal_by_name(principal)
            .map(|p| p.id)
            .ok_or_else(|| EmulatorError::UnknownPrincipal(principal.to_string()))?;
        tokens::create_for(&mut w, owner, now, lifetime_secs, comment, None, value)
            .map(|(v, _)| v)
            .map_err(|e| EmulatorError::InvalidOption(e.message))
    }

    /// Init scripts recorded at the latest start of a cluster.
    pub fn init_scripts(&self, cluster_id: &str) -> Option<Vec<RecordedInitScript>> {
        self.world()
            .clusters
            .by_id
            .get(cluster_id)
            .map(|c| c.init_runs.clone())
    }

    /// The OAuth client id and secret of an app's service principal.
    pub fn app_credentials(&self, app: &str) -> Option<(String, String)> {
        self.world()
            .apps
            .by_name
            .get(app)
            .map(|a| (a.sp_client_id.clone(), a.sp_secret.clone()))
    }
}
