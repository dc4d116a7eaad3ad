//! The Databricks Apps runtime as kiln sees it: detection (`DATABRICKS_APP_NAME` and
//! `DATABRICKS_APP_PORT` both set), the port to bind, the workspace, the app's service principal
//! and the owner override (`kiln serve --owner` / `KILN_OWNER`). The service principal secret arrives separately (see
//! [`super::sp_secret`]): it is never read from here.

use std::fmt;

/// What the Apps runtime told kiln through its environment.
#[derive(Clone, PartialEq, Eq)]
pub struct AppsEnv {
    /// `DATABRICKS_APP_NAME`.
    pub app_name: String,
    /// `DATABRICKS_APP_PORT`: kiln binds `0.0.0.0:<port>`.
    pub port: u16,
    /// `DATABRICKS_HOST` (may be a bare host name; normalised by the Databricks client).
    pub host: Option<String>,
    /// `DATABRICKS_WORKSPACE_ID`.
    pub workspace_id: Option<String>,
    /// `DATABRICKS_CLIENT_ID`: the app's service principal.
    pub client_id: Option<String>,
    /// `KILN_OWNER`: the owner's email when the principal cannot read its own app.
    pub owner_override: Option<String>,
}

impl fmt::Debug for AppsEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppsEnv")
            .field("app_name", &self.app_name)
            .field("port", &self.port)
            .field("host", &self.host)
            .field("workspace_id", &self.workspace_id)
            .field("client_id", &self.client_id)
            .field("owner_override", &self.owner_override)
            .finish()
    }
}

impl AppsEnv {
    /// Reads the Apps variables through `get`; `Ok(None)` outside Databricks Apps.
    pub fn detect(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let (Some(app_name), Some(port)) = (var("DATABRICKS_APP_NAME"), var("DATABRICKS_APP_PORT"))
        else {
            return Ok(None);
        };
        let port = port.parse::<u16>().map_err(|_| {
            format!("DATABRICKS_APP_PORT is {port:?}, not a port number (1 to 65535)")
        })?;
        Ok(Some(Self {
            app_name,
            port,
            host: var("DATABRICKS_HOST"),
            workspace_id: var("DATABRICKS_WORKSPACE_ID"),
            client_id: var("DATABRICKS_CLIENT_ID"),
            owner_override: None,
        }))
    }

    /// The same, with the owner override (`kiln serve --owner` / `KILN_OWNER`; blank is unset).
    pub fn with_owner(mut self, owner: Option<&str>) -> Self {
        self.owner_override = owner.map(|o| o.trim().to_owned()).filter(|o| !o.is_empty());
        self
    }

    /// Reads the process environment.
    pub fn from_process() -> Result<Option<Self>, String> {
        Self::detect(|n| std::env::var(n).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn detection_needs_name_and_port() {
        assert_eq!(AppsEnv::detect(env(&[])).unwrap(), None);
        assert_eq!(
            AppsEnv::detect(env(&[("DATABRICKS_APP_NAME", "kiln")])).unwrap(),
            None
        );
        assert!(
            AppsEnv::detect(env(&[
                ("DATABRICKS_APP_NAME", "kiln"),
                ("DATABRICKS_APP_PORT", "eighty")
            ]))
            .is_err()
        );
        let a = AppsEnv::detect(env(&[
            ("DATABRICKS_APP_NAME", "kiln"),
            ("DATABRICKS_APP_PORT", "8000"),
            ("DATABRICKS_HOST", "dbc-1.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_ID", "sp"),
            ("DATABRICKS_CLIENT_SECRET", "must-not-be-read"),
        ]))
        .unwrap()
        .unwrap()
        .with_owner(Some(" "));
        assert_eq!(a.port, 8000);
        assert_eq!(a.owner_override, None, "a blank owner is unset");
        let a = a.with_owner(Some(" alice@example.com "));
        assert_eq!(a.owner_override.as_deref(), Some("alice@example.com"));
        assert_eq!(a.client_id.as_deref(), Some("sp"));
        assert!(!format!("{a:?}").contains("must-not-be-read"));
    }
}
