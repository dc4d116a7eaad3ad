//! [`ConfigFileSource`]: a [`TokenSource`] over the standard Databricks configuration
//! (environment variables, then a `~/.databrickscfg` profile; PAT or OAuth M2M) that notices
//! when the config file changes — by its identity, size and times, checked on every
//! [`TokenSource::token`] call, plus a content hash while the file is younger than file-time
//! granularity can tell apart — and then resolves the configuration again, so an edited profile
//! takes effect on the next request. A file that does not resolve (half written, no
//! credentials) fails that request and is read again on the next one.

use super::{MetadataService, OAuthM2m, StaticToken, TokenFuture, TokenSource};
use crate::config::{Attr, AuthMethod, Config, ConfigError, ConfigLoader, Environment};
use crate::error::CredentialsError;
use crate::http::{build_http_client, build_http_client_without_proxy};
use crate::retry::RetryPolicy;
use crate::secret::Secret;
use std::fmt;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Default config file, relative to the home directory.
const DEFAULT_CONFIG_FILE: &str = ".databrickscfg";
/// A file modified less than this long ago (2 s) may change again without its times moving
/// (file times advance in clock ticks), so its content is compared too.
const UNSETTLED: Duration = Duration::from_secs(2);

/// What identifies one version of the config file; `None` when it does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    /// Modified so recently that a further write might leave the times unchanged.
    fn unsettled(&self) -> bool {
        let (secs, nanos) = self.mtime;
        let modified = u64::try_from(secs)
            .ok()
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::new(s, 0)))
            .and_then(|t| t.checked_add(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))));
        match modified {
            Some(t) => SystemTime::now()
                .duration_since(t)
                .map_or(true, |age| age < UNSETTLED),
            None => true,
        }
    }
}

/// A hash of the file's content (`None` when unreadable).
fn content_hash(path: Option<&Path>) -> Option<u64> {
    let bytes = std::fs::read(path?).ok()?;
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    Some(h.finish())
}

fn stamp(path: Option<&Path>) -> Option<Stamp> {
    let meta = std::fs::metadata(path?).ok()?;
    Some(Stamp {
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        ctime: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The configuration as last resolved.
struct Resolved {
    stamp: Option<Stamp>,
    hash: Option<u64>,
    host: String,
    description: String,
    auth_type: &'static str,
    source: Arc<dyn TokenSource>,
}

/// A token source that follows the standard Databricks configuration, re-resolving it when the
/// config file changes. Secrets never appear in its `Debug` output or errors.
pub struct ConfigFileSource {
    loader: ConfigLoader,
    path: Option<PathBuf>,
    current: Mutex<Arc<Resolved>>,
}

impl fmt::Debug for ConfigFileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.snapshot();
        f.debug_struct("ConfigFileSource")
            .field("path", &self.path)
            .field("host", &current.host)
            .field("auth_type", &current.auth_type)
            .field("config", &current.description)
            .finish()
    }
}

impl ConfigFileSource {
    /// Resolves the configuration from `env` (its `DATABRICKS_*` variables and home directory)
    /// and, when given, the profile `profile` (like `--profile`). Fails when it does not resolve
    /// to a host and a bearer credential (PAT or OAuth M2M).
    pub fn new(env: Environment, profile: Option<&str>) -> Result<Self, ConfigError> {
        let path = config_path(&env);
        let mut loader = ConfigLoader::new(env);
        if let Some(p) = profile.filter(|p| !p.trim().is_empty()) {
            loader = loader.set_from(Attr::Profile, p, "--profile flag");
        }
        let resolved = resolve(&loader, path.as_deref())?;
        Ok(Self {
            loader,
            path,
            current: Mutex::new(Arc::new(resolved)),
        })
    }

    /// The process environment and `$HOME`, with an optional profile.
    pub fn from_process(profile: Option<&str>) -> Result<Self, ConfigError> {
        Self::new(Environment::from_process(), profile)
    }

    /// The workspace URL of the configuration as last resolved (re-resolved first if the file
    /// changed).
    pub fn host(&self) -> String {
        self.refresh_quietly().host.clone()
    }

    /// The config file watched for changes (`DATABRICKS_CONFIG_FILE` or `~/.databrickscfg`).
    pub fn config_path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The redacted description of the configuration in use (safe to log and show).
    pub fn describe(&self) -> String {
        self.snapshot().description.clone()
    }

    fn snapshot(&self) -> Arc<Resolved> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The resolved configuration, re-resolved when the file changed since.
    fn refresh(&self) -> Result<Arc<Resolved>, ConfigError> {
        let current = self.snapshot();
        let now = stamp(self.path.as_deref());
        if !self.changed(&current, now) {
            return Ok(current);
        }
        let fresh = Arc::new(resolve(&self.loader, self.path.as_deref())?);
        tracing::info!(
            host = %fresh.host,
            auth_type = fresh.auth_type,
            "Databricks config file changed; using the new configuration"
        );
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// Whether the file differs from the version `current` was resolved from.
    fn changed(&self, current: &Resolved, now: Option<Stamp>) -> bool {
        match (now, current.stamp) {
            (Some(now), Some(then)) if now == then => {
                now.unsettled() && content_hash(self.path.as_deref()) != current.hash
            }
            (now, then) => now != then,
        }
    }

    /// Like `refresh`, keeping the previous configuration when the new one does not resolve.
    fn refresh_quietly(&self) -> Arc<Resolved> {
        self.refresh().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "Databricks config file changed but does not resolve");
            self.snapshot()
        })
    }

    async fn current_token(&self) -> Result<Secret, CredentialsError> {
        let resolved = self
            .refresh()
            .map_err(|e| CredentialsError::Source(e.to_string()))?;
        resolved.source.token().await
    }
}

impl TokenSource for ConfigFileSource {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.current_token())
    }

    fn auth_type(&self) -> &str {
        self.snapshot().auth_type
    }

    fn rejected(&self, token: &Secret) -> bool {
        let current = self.snapshot();
        // A changed file may hold a new token; otherwise ask the underlying source.
        self.changed(&current, stamp(self.path.as_deref())) || current.source.rejected(token)
    }
}

/// `DATABRICKS_CONFIG_FILE` (with `~/` expanded) or `~/.databrickscfg`.
fn config_path(env: &Environment) -> Option<PathBuf> {
    match env.get("DATABRICKS_CONFIG_FILE") {
        Some(p) => match p.strip_prefix("~/") {
            Some(rest) => env.home().map(|h| h.join(rest)),
            None => Some(PathBuf::from(p)),
        },
        None => env.home().map(|h| h.join(DEFAULT_CONFIG_FILE)),
    }
}

/// Loads the configuration and builds the token source for its auth method. The stamp is taken
/// before reading, so a write racing with the read is noticed on the next call.
fn resolve(loader: &ConfigLoader, path: Option<&Path>) -> Result<Resolved, ConfigError> {
    let stamp = stamp(path);
    let hash = content_hash(path);
    let config = loader.clone().load()?;
    let host = config
        .host()
        .ok_or_else(|| config.error(crate::config::ConfigErrorKind::MissingHost))?
        .to_owned();
    let (auth_type, source) = bearer_source(&config, &host)?;
    Ok(Resolved {
        stamp,
        hash,
        host,
        description: config.describe(),
        auth_type,
        source,
    })
}

fn bearer_source(
    config: &Config,
    host: &str,
) -> Result<(&'static str, Arc<dyn TokenSource>), ConfigError> {
    match config.auth_method()? {
        AuthMethod::Pat(token) => Ok(("pat", Arc::new(StaticToken::new(token)))),
        AuthMethod::OAuthM2m {
            client_id,
            client_secret,
        } => {
            let http = build_http_client().map_err(|e| {
                config.error(crate::config::ConfigErrorKind::InvalidValue {
                    attr: Attr::Host,
                    message: e.to_string(),
                })
            })?;
            let source = OAuthM2m::new(
                http,
                host,
                client_id,
                client_secret,
                RetryPolicy::default(),
                format!(
                    "kiln/{} kiln-databricks/{} auth/oauth-m2m",
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_VERSION")
                ),
            );
            Ok(("oauth-m2m", Arc::new(source)))
        }
        AuthMethod::MetadataService { url } => {
            let http = build_http_client_without_proxy().map_err(|e| {
                config.error(crate::config::ConfigErrorKind::InvalidValue {
                    attr: Attr::MetadataServiceUrl,
                    message: e.to_string(),
                })
            })?;
            let source = MetadataService::new(
                http,
                url,
                host,
                &RetryPolicy::default(),
                format!(
                    "kiln/{} kiln-databricks/{} auth/metadata-service",
                    env!("CARGO_PKG_VERSION"),
                    env!("CARGO_PKG_VERSION")
                ),
            );
            Ok(("metadata-service", Arc::new(source)))
        }
        AuthMethod::Basic { .. } => Err(config.error(
            crate::config::ConfigErrorKind::UnsupportedAuthType(
                "basic (a bearer token is needed: use a PAT, OAuth M2M or a metadata service)"
                    .to_owned(),
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempHome;

    fn write_atomically(home: &TempHome, text: &str) {
        let tmp = home.path().join(".databrickscfg.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, home.path().join(".databrickscfg")).unwrap();
    }

    #[tokio::test]
    async fn a_changed_profile_file_takes_effect_on_the_next_request() {
        let home = TempHome::new();
        home.write_cfg("[DEFAULT]\nhost = https://one.example.com\ntoken = dapi-first\n");
        let env = Environment::new().with_home(home.path());
        let source = ConfigFileSource::new(env, None).unwrap();
        assert_eq!(source.token().await.unwrap().expose(), "dapi-first");
        assert_eq!(source.host(), "https://one.example.com");
        assert_eq!(source.auth_type(), "pat");

        // Same length, rewritten in place: the inode stays, size stays, mtime/ctime move.
        home.write_cfg("[DEFAULT]\nhost = https://one.example.com\ntoken = dapi-other\n");
        assert_eq!(source.token().await.unwrap().expose(), "dapi-other");

        // Replaced by rename (how editors and kiln write files), with a new host.
        write_atomically(
            &home,
            "[DEFAULT]\nhost = two.example.com\ntoken = dapi-second-token\n",
        );
        assert!(source.rejected(&Secret::new("dapi-other")));
        assert_eq!(source.token().await.unwrap().expose(), "dapi-second-token");
        assert_eq!(source.host(), "https://two.example.com");
        assert!(!source.rejected(&Secret::new("dapi-second-token")));
    }

    #[tokio::test]
    async fn named_profile_and_broken_file() {
        let home = TempHome::new();
        home.write_cfg(
            "[DEFAULT]\nhost = https://d.example.com\ntoken = dapi-d\n\n\
             [agents]\nhost = https://a.example.com\ntoken = dapi-a\n",
        );
        let env = Environment::new().with_home(home.path());
        let source = ConfigFileSource::new(env, Some("agents")).unwrap();
        assert_eq!(source.token().await.unwrap().expose(), "dapi-a");

        // The profile disappears: the request fails (no secret in the message), and works
        // again once the file is fixed.
        home.write_cfg("[DEFAULT]\nhost = https://d.example.com\ntoken = dapi-d\n");
        let err = source.token().await.unwrap_err().to_string();
        assert!(err.contains("agents"), "{err}");
        assert!(!err.contains("dapi-d"), "{err}");
        assert_eq!(source.host(), "https://a.example.com");
        home.write_cfg("[agents]\nhost = https://a.example.com\ntoken = dapi-a2\n");
        assert_eq!(source.token().await.unwrap().expose(), "dapi-a2");
    }

    #[test]
    fn environment_wins_and_missing_credentials_fail() {
        let home = TempHome::new();
        let env = Environment::new()
            .with_home(home.path())
            .with_var("DATABRICKS_HOST", "https://env.example.com")
            .with_var("DATABRICKS_TOKEN", "dapi-env");
        let source = ConfigFileSource::new(env, None).unwrap();
        assert_eq!(source.host(), "https://env.example.com");
        let shown = format!("{source:?}");
        assert!(!shown.contains("dapi-env"), "{shown}");

        let empty = Environment::new().with_home(home.path());
        assert!(ConfigFileSource::new(empty, None).is_err());

        let basic = Environment::new()
            .with_var("DATABRICKS_HOST", "https://env.example.com")
            .with_var("DATABRICKS_USERNAME", "u")
            .with_var("DATABRICKS_PASSWORD", "p");
        assert!(ConfigFileSource::new(basic, None).is_err());
    }

    #[tokio::test]
    async fn oauth_m2m_profile_fetches_tokens_from_the_workspace() {
        let emu = kiln_emulator::Emulator::start(kiln_emulator::EmulatorOptions::default())
            .await
            .unwrap();
        let home = TempHome::new();
        home.write_cfg(&format!(
            "[sp]\nhost = {}\nclient_id = {}\nclient_secret = {}\n",
            emu.url(),
            emu.sp_client_id(),
            emu.sp_client_secret()
        ));
        let env = Environment::new().with_home(home.path());
        let source = ConfigFileSource::new(env, Some("sp")).unwrap();
        assert_eq!(source.auth_type(), "oauth-m2m");
        let token = source.token().await.unwrap();
        assert!(!token.is_empty());
        assert!(!format!("{source:?}").contains(emu.sp_client_secret()));
        let status = reqwest::Client::new()
            .get(format!("{}/api/2.0/preview/scim/v2/Me", emu.url()))
            .bearer_auth(token.expose())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    #[test]
    fn config_file_variable_is_watched() {
        let home = TempHome::new();
        let env = Environment::new()
            .with_home(home.path())
            .with_var("DATABRICKS_CONFIG_FILE", "~/custom.cfg");
        assert_eq!(config_path(&env), Some(home.path().join("custom.cfg")));
    }
}
