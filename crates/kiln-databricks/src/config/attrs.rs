//! The one table of configuration attributes (name in `.databrickscfg`, environment variable,
//! whether it is secret, which auth family it belongs to), and where a value came from.

use std::fmt;

/// A configuration attribute, as the official SDKs name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr {
    /// Workspace URL.
    Host,
    /// Personal access token.
    Token,
    /// OAuth M2M client id (service principal application id).
    ClientId,
    /// OAuth M2M client secret.
    ClientSecret,
    /// Basic auth user name (legacy).
    Username,
    /// Basic auth password (legacy).
    Password,
    /// Account id (account-level APIs; informational here).
    AccountId,
    /// Workspace id, sent as `X-Databricks-Workspace-Id`.
    WorkspaceId,
    /// Forces one authentication method.
    AuthType,
    /// Profile name in the config file.
    Profile,
    /// Path of the config file.
    ConfigFile,
    /// Default cluster id (informational).
    ClusterId,
    /// Default SQL warehouse id (informational).
    WarehouseId,
    /// Serverless compute id (informational).
    ServerlessComputeId,
    /// Per-request HTTP timeout in seconds.
    HttpTimeoutSeconds,
    /// Total retry budget in seconds.
    RetryTimeoutSeconds,
    /// URL of a metadata service handing out tokens (`metadata-service` auth). Secret: such
    /// URLs usually carry a key.
    MetadataServiceUrl,
}

/// One row of the attribute table.
#[derive(Debug)]
pub(crate) struct AttrSpec {
    pub attr: Attr,
    pub name: &'static str,
    pub env: Option<&'static str>,
    pub sensitive: bool,
    pub auth: Option<&'static str>,
}

const fn row(
    attr: Attr,
    name: &'static str,
    env: Option<&'static str>,
    sensitive: bool,
    auth: Option<&'static str>,
) -> AttrSpec {
    AttrSpec {
        attr,
        name,
        env,
        sensitive,
        auth,
    }
}

/// The attribute table, in the order used for descriptions.
pub(crate) const ATTRIBUTES: &[AttrSpec] = &[
    row(Attr::Host, "host", Some("DATABRICKS_HOST"), false, None),
    row(
        Attr::Token,
        "token",
        Some("DATABRICKS_TOKEN"),
        true,
        Some("pat"),
    ),
    row(
        Attr::ClientId,
        "client_id",
        Some("DATABRICKS_CLIENT_ID"),
        false,
        Some("oauth"),
    ),
    row(
        Attr::ClientSecret,
        "client_secret",
        Some("DATABRICKS_CLIENT_SECRET"),
        true,
        Some("oauth"),
    ),
    row(
        Attr::Username,
        "username",
        Some("DATABRICKS_USERNAME"),
        false,
        Some("basic"),
    ),
    row(
        Attr::Password,
        "password",
        Some("DATABRICKS_PASSWORD"),
        true,
        Some("basic"),
    ),
    row(
        Attr::MetadataServiceUrl,
        "metadata_service_url",
        Some("DATABRICKS_METADATA_SERVICE_URL"),
        true,
        Some("metadata-service"),
    ),
    row(
        Attr::AccountId,
        "account_id",
        Some("DATABRICKS_ACCOUNT_ID"),
        false,
        None,
    ),
    row(
        Attr::WorkspaceId,
        "workspace_id",
        Some("DATABRICKS_WORKSPACE_ID"),
        false,
        None,
    ),
    row(
        Attr::AuthType,
        "auth_type",
        Some("DATABRICKS_AUTH_TYPE"),
        false,
        None,
    ),
    row(
        Attr::Profile,
        "profile",
        Some("DATABRICKS_CONFIG_PROFILE"),
        false,
        None,
    ),
    row(
        Attr::ConfigFile,
        "config_file",
        Some("DATABRICKS_CONFIG_FILE"),
        false,
        None,
    ),
    row(
        Attr::ClusterId,
        "cluster_id",
        Some("DATABRICKS_CLUSTER_ID"),
        false,
        None,
    ),
    row(
        Attr::WarehouseId,
        "warehouse_id",
        Some("DATABRICKS_WAREHOUSE_ID"),
        false,
        None,
    ),
    row(
        Attr::ServerlessComputeId,
        "serverless_compute_id",
        Some("DATABRICKS_SERVERLESS_COMPUTE_ID"),
        false,
        None,
    ),
    row(
        Attr::HttpTimeoutSeconds,
        "http_timeout_seconds",
        None,
        false,
        None,
    ),
    row(
        Attr::RetryTimeoutSeconds,
        "retry_timeout_seconds",
        None,
        false,
        None,
    ),
];

impl Attr {
    fn spec(self) -> &'static AttrSpec {
        // The table has a row for every variant (checked by a test), so the fallback is unreachable.
        ATTRIBUTES
            .iter()
            .find(|s| s.attr == self)
            .unwrap_or(&ATTRIBUTES[0])
    }

    /// The name used in `.databrickscfg` and in descriptions.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The environment variable, if the attribute has one.
    pub fn env_var(self) -> Option<&'static str> {
        self.spec().env
    }

    /// True for tokens, secrets and passwords: their values are never shown.
    pub fn is_sensitive(self) -> bool {
        self.spec().sensitive
    }

    /// The auth family (`pat`, `oauth`, `basic`, `metadata-service`) the attribute belongs to.
    pub fn auth_family(self) -> Option<&'static str> {
        self.spec().auth
    }

    /// Looks an attribute up by its config-file name.
    pub fn from_name(name: &str) -> Option<Attr> {
        ATTRIBUTES.iter().find(|s| s.name == name).map(|s| s.attr)
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Set by the program (e.g. a command-line flag); the label says which.
    Explicit(String),
    /// An environment variable.
    Env(&'static str),
    /// A profile section of a config file (`file` as displayed, `~` for the home directory).
    Profile {
        /// Section name.
        profile: String,
        /// File path for display.
        file: String,
    },
    /// `[__settings__] default_profile` of a config file.
    DefaultProfileSetting {
        /// File path for display.
        file: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Explicit(label) => f.write_str(label),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Profile { profile, file } => write!(f, "profile {profile} in {file}"),
            Source::DefaultProfileSetting { file } => {
                write!(f, "[__settings__] default_profile in {file}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_has_a_row_and_names_round_trip() {
        let all = [
            Attr::Host,
            Attr::Token,
            Attr::ClientId,
            Attr::ClientSecret,
            Attr::Username,
            Attr::Password,
            Attr::AccountId,
            Attr::WorkspaceId,
            Attr::AuthType,
            Attr::Profile,
            Attr::ConfigFile,
            Attr::ClusterId,
            Attr::WarehouseId,
            Attr::ServerlessComputeId,
            Attr::HttpTimeoutSeconds,
            Attr::RetryTimeoutSeconds,
            Attr::MetadataServiceUrl,
        ];
        assert_eq!(all.len(), ATTRIBUTES.len());
        for a in all {
            assert_eq!(a.spec().attr, a);
            assert_eq!(Attr::from_name(a.name()), Some(a));
        }
        assert!(Attr::Token.is_sensitive() && Attr::ClientSecret.is_sensitive());
        assert!(!Attr::Host.is_sensitive());
        assert_eq!(Attr::Token.env_var(), Some("DATABRICKS_TOKEN"));
        assert_eq!(Attr::ClientSecret.auth_family(), Some("oauth"));
        assert!(Attr::MetadataServiceUrl.is_sensitive());
        assert_eq!(
            Attr::MetadataServiceUrl.auth_family(),
            Some("metadata-service")
        );
        assert_eq!(
            Attr::MetadataServiceUrl.env_var(),
            Some("DATABRICKS_METADATA_SERVICE_URL")
        );
        assert_eq!(Attr::from_name("nope"), None);
    }
}
