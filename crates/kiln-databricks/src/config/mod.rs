//! Configuration like the official SDKs: one table of attributes ([`Attr`]), resolved with a fixed
//! precedence — explicit values, then environment variables, then a `.databrickscfg` profile —
//! host normalisation, the "more than one auth method" check, and a redacted description of
//! where every value came from, carried by every [`ConfigError`].

mod attrs;
mod env;
mod host;
mod ini;
mod resolve;

pub use attrs::{Attr, Source};
pub use env::Environment;
pub use ini::{Ini, IniError, Section, remove_section, set_keys};
pub use resolve::ConfigLoader;

use crate::secret::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A resolved value and its origin.
#[derive(Clone, PartialEq, Eq)]
struct Value {
    value: String,
    source: Source,
}

/// Resolved configuration. Build it with [`ConfigLoader`] (or [`Config::from_process_env`]).
#[derive(Clone)]
pub struct Config {
    values: BTreeMap<Attr, Value>,
    /// Profile actually read, if any.
    loaded_profile: Option<String>,
}

/// An authentication method the client can use, with its credentials.
#[derive(Clone, Debug)]
pub enum AuthMethod {
    /// Personal access token (`Authorization: Bearer`).
    Pat(Secret),
    /// Legacy user name and password (`Authorization: Basic`).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// OAuth machine-to-machine (client credentials at `{host}/oidc/v1/token`).
    OAuthM2m {
        /// Service principal application id.
        client_id: String,
        /// OAuth secret.
        client_secret: Secret,
    },
    /// A metadata service handing out tokens for the host (`GET` with
    /// `X-Databricks-Metadata-Version: 1`).
    MetadataService {
        /// The service's URL (secret: it usually carries a key).
        url: Secret,
    },
}

impl AuthMethod {
    /// The SDK name of the method (`pat`, `basic`, `oauth-m2m`, `metadata-service`).
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::Pat(_) => "pat",
            AuthMethod::Basic { .. } => "basic",
            AuthMethod::OAuthM2m { .. } => "oauth-m2m",
            AuthMethod::MetadataService { .. } => "metadata-service",
        }
    }
}

impl Config {
    /// Resolves configuration from the process environment and `~/.databrickscfg`.
    pub fn from_process_env() -> Result<Config, ConfigError> {
        ConfigLoader::new(Environment::from_process()).load()
    }

    /// The normalised host (`https://…`, no trailing slash), if configured.
    pub fn host(&self) -> Option<&str> {
        self.get(Attr::Host)
    }

    /// A non-sensitive attribute's value. Sensitive ones (token, secrets) return `None`:
    /// they are only reachable through [`Config::auth_method`].
    pub fn get(&self, attr: Attr) -> Option<&str> {
        if attr.is_sensitive() {
            return None;
        }
        self.values.get(&attr).map(|v| v.value.as_str())
    }

    /// True when the attribute has a value (sensitive ones included).
    pub fn is_set(&self, attr: Attr) -> bool {
        self.values.contains_key(&attr)
    }

    /// Where an attribute's value came from.
    pub fn source(&self, attr: Attr) -> Option<&Source> {
        self.values.get(&attr).map(|v| &v.source)
    }

    /// The profile whose values were used, if a config file was read.
    pub fn loaded_profile(&self) -> Option<&str> {
        self.loaded_profile.as_deref()
    }

    /// Workspace id for the `X-Databricks-Workspace-Id` header.
    pub fn workspace_id(&self) -> Option<&str> {
        self.get(Attr::WorkspaceId)
    }

    /// `auth_type`, if forced.
    pub fn auth_type(&self) -> Option<&str> {
        self.get(Attr::AuthType)
    }

    /// `http_timeout_seconds`, if set (validated when loading).
    pub fn http_timeout(&self) -> Option<Duration> {
        self.seconds(Attr::HttpTimeoutSeconds)
    }

    /// `retry_timeout_seconds`, if set (validated when loading).
    pub fn retry_timeout(&self) -> Option<Duration> {
        self.seconds(Attr::RetryTimeoutSeconds)
    }

    fn seconds(&self, attr: Attr) -> Option<Duration> {
        self.get(attr)?.parse().ok().map(Duration::from_secs)
    }

    fn secret(&self, attr: Attr) -> Option<Secret> {
        self.values.get(&attr).map(|v| Secret::new(v.value.clone()))
    }

    /// Every set attribute as `(attribute, value or *** when sensitive, source)`, in table order.
    pub fn redacted_values(&self) -> Vec<(Attr, String, Source)> {
        attrs::ATTRIBUTES
            .iter()
            .filter_map(|spec| {
                let v = self.values.get(&spec.attr)?;
                let shown = if spec.sensitive {
                    "***"
                } else {
                    v.value.as_str()
                };
                Some((spec.attr, shown.to_owned(), v.source.clone()))
            })
            .collect()
    }

    /// The redacted description: `host=https://x (from env DATABRICKS_HOST), token=*** (from
    /// profile DEFAULT in ~/.databrickscfg)`. Safe to log and to show.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .redacted_values()
            .into_iter()
            .map(|(attr, shown, source)| format!("{attr}={shown} (from {source})"))
            .collect();
        if parts.is_empty() {
            "nothing configured".to_owned()
        } else {
            parts.join(", ")
        }
    }

    /// The authentication method: the forced `auth_type`, else the first of pat → basic →
    /// metadata-service → oauth-m2m whose attributes are set (the Python SDK's order).
    pub fn auth_method(&self) -> Result<AuthMethod, ConfigError> {
        let pat = || self.secret(Attr::Token).map(AuthMethod::Pat);
        let basic = || {
            Some(AuthMethod::Basic {
                username: self.get(Attr::Username)?.to_owned(),
                password: self.secret(Attr::Password)?,
            })
        };
        let m2m = || {
            Some(AuthMethod::OAuthM2m {
                client_id: self.get(Attr::ClientId)?.to_owned(),
                client_secret: self.secret(Attr::ClientSecret)?,
            })
        };
        let metadata = || {
            self.secret(Attr::MetadataServiceUrl)
                .map(|url| AuthMethod::MetadataService { url })
        };
        let incomplete = |auth_type: &str, needs: &str| {
            self.error(ConfigErrorKind::IncompleteAuth {
                auth_type: auth_type.to_owned(),
                needs: needs.to_owned(),
            })
        };
        match self.auth_type() {
            Some("pat") => pat().ok_or_else(|| incomplete("pat", "token")),
            Some("basic") => basic().ok_or_else(|| incomplete("basic", "username and password")),
            Some("oauth-m2m") => {
                m2m().ok_or_else(|| incomplete("oauth-m2m", "client_id and client_secret"))
            }
            Some("metadata-service") => {
                metadata().ok_or_else(|| incomplete("metadata-service", "metadata_service_url"))
            }
            Some(other) => Err(self.error(ConfigErrorKind::UnsupportedAuthType(other.to_owned()))),
            None => pat()
                .or_else(basic)
                .or_else(metadata)
                .or_else(m2m)
                .ok_or_else(|| self.error(ConfigErrorKind::NoAuth)),
        }
    }

    /// Wraps a problem with this configuration's description.
    pub(crate) fn error(&self, kind: ConfigErrorKind) -> ConfigError {
        ConfigError {
            kind,
            context: self.describe(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("values", &self.describe())
            .field("loaded_profile", &self.loaded_profile)
            .finish()
    }
}

/// A configuration problem, with the redacted description of every value and its origin.
#[derive(Debug, thiserror::Error)]
#[error("{kind}. Config: {context}")]
pub struct ConfigError {
    /// What is wrong.
    pub kind: ConfigErrorKind,
    /// [`Config::describe`] of what had been resolved.
    pub context: String,
}

/// The kinds of configuration problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The config file exists but could not be read.
    #[error("cannot read config file {path}: {message}")]
    ReadFile {
        /// File path for display.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The config file is not valid INI.
    #[error("cannot parse config file {path}: {error}")]
    Parse {
        /// File path for display.
        path: String,
        /// Line and problem.
        error: IniError,
    },
    /// A profile was asked for but the config file does not exist.
    #[error("profile {profile} was requested but config file {path} does not exist")]
    MissingFile {
        /// Profile name.
        profile: String,
        /// File path for display.
        path: String,
    },
    /// The config file was named explicitly but does not exist.
    #[error("config file {path} does not exist")]
    MissingConfigFile {
        /// File path for display.
        path: String,
    },
    /// The requested profile is not in the file.
    #[error("profile {profile} not found in {path} (profiles: {available})")]
    MissingProfile {
        /// Profile name.
        profile: String,
        /// File path for display.
        path: String,
        /// Profiles the file has.
        available: String,
    },
    /// Attributes of more than one auth family are set and `auth_type` does not choose.
    #[error(
        "more than one authorization method configured: {0}; set auth_type (DATABRICKS_AUTH_TYPE) to choose one"
    )]
    MultipleAuth(String),
    /// No host is configured.
    #[error("no host configured (set DATABRICKS_HOST, host in a profile, or pass it explicitly)")]
    MissingHost,
    /// The host is not usable.
    #[error("invalid host {value:?}: {reason}")]
    InvalidHost {
        /// The value as configured.
        value: String,
        /// Why.
        reason: String,
    },
    /// No authentication attributes are set.
    #[error(
        "no authentication configured (set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET, or use a profile)"
    )]
    NoAuth,
    /// `auth_type` forces a method whose attributes are missing.
    #[error("auth_type is {auth_type} but {needs} not set")]
    IncompleteAuth {
        /// The forced method.
        auth_type: String,
        /// What it needs.
        needs: String,
    },
    /// `auth_type` names a method this client does not implement.
    #[error(
        "auth_type {0:?} is not supported by this client (supported: pat, basic, oauth-m2m, metadata-service)"
    )]
    UnsupportedAuthType(String),
    /// An attribute has a malformed value.
    #[error("invalid {attr}: {message}")]
    InvalidValue {
        /// The attribute.
        attr: Attr,
        /// Why.
        message: String,
    },
    /// No home directory to find `~/.databrickscfg` in.
    #[error("no home directory to find ~/.databrickscfg in (set HOME or DATABRICKS_CONFIG_FILE)")]
    NoHome,
}
