//! Who may use `kiln serve` on Databricks Apps, and the Databricks token it works with
//! (design.md §5; `docs/security.md` explains the rules, `docs/architecture.md` the shape).
//!
//! Rooms: `apps` (runtime detection), `sp_secret` (the service principal secret, read once and
//! dropped from the environment), `owner` (who owns the app; fail closed until known), `cell`
//! (the current token: one source of truth, a `TokenSource`), `remote` (token and identity calls),
//! `bootstrap` (a pasted token becomes kiln's own short-lived token), `rotation` (the state
//! machine), `state_file` (non-secret state for orphan revocation), `broker` (the loopback
//! broker for terminals; the `[kiln]` profile it installs is [`crate::profile`]'s), `stale`
//! (the broker files and profile a killed kiln left behind, removed at start), `clock`
//! (time, movable in tests). Files under `~/.kiln` are written through [`crate::state`].

pub mod apps;
pub mod bootstrap;
pub mod broker;
pub mod cell;
pub mod cli;
pub mod clock;
pub mod owner;
pub mod remote;
pub mod rotation;
pub mod sp_secret;
pub mod stale;
pub mod state_file;

pub use apps::AppsEnv;
pub use bootstrap::{BootstrapError, Bootstrapped, PastedFate};
pub use cell::TokenCell;
pub use clock::{Clock, OffsetClock, SharedClock, SystemClock};
pub use owner::{Owner, OwnerSource, OwnerState};
pub use rotation::{Phase, RotationStatus};

use broker::BrokerFiles;
use kiln_databricks::{
    Attr, Client, ClientOptions, ConfigLoader, Environment, Secret, TokenSource,
};
use remote::Remote;
use rotation::{Plan, Rotation};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Lifetime of the tokens kiln mints (15 min; `KILN_TOKEN_LIFETIME_SECONDS`).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Shortest lifetime accepted (10 s, for trials and tests).
pub const MIN_LIFETIME: Duration = Duration::from_secs(10);
/// Longest lifetime accepted (1 day: kiln's point is short-lived tokens).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Rotation continues this long after the owner's last activity (24 h).
pub const ACTIVITY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// Longest grace period of a replaced token (60 s; a tenth of the lifetime when shorter).
pub const MAX_GRACE: Duration = Duration::from_secs(60);
/// Time allowed at shutdown for revoking kiln's tokens (3 s).
const SHUTDOWN_REVOKE: Duration = Duration::from_secs(3);
/// Where the workspace's UI creates personal access tokens (relative to the workspace URL).
pub const TOKEN_PAGE_PATH: &str = "/settings/user/developer/access-tokens";

/// `first`, doubling per attempt (1-based), capped at `max`.
pub(crate) fn backoff(attempt: u32, first: Duration, max: Duration) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    first.saturating_mul(1 << exp).min(max)
}

/// Databricks Apps settings of a server.
#[derive(Debug, Clone)]
pub struct AppsSettings {
    /// What the runtime's environment said.
    pub env: AppsEnv,
    /// The service principal's secret (see [`sp_secret`]).
    pub sp_secret: Option<Secret>,
}

/// The Databricks configuration's token (outside Databricks Apps).
#[derive(Clone)]
pub struct ConfigSource {
    /// Hands out the configuration's current token.
    pub source: Arc<dyn TokenSource>,
    /// Redacted description of where it comes from (shown in the status).
    pub description: String,
}

/// Settings of the credential machinery.
#[derive(Clone)]
pub struct CredentialsOptions {
    /// On Databricks Apps: owner-only access, pasted then rotated tokens.
    pub apps: Option<AppsSettings>,
    /// The workspace URL outside Apps (on Apps, `DATABRICKS_HOST` wins).
    pub host: Option<String>,
    /// Workspace id for the `X-Databricks-Workspace-Id` header (outside Apps).
    pub workspace_id: Option<String>,
    /// Outside Apps: the configuration's token, used instead of pasted ones.
    pub config_source: Option<ConfigSource>,
    /// Lifetime of minted tokens.
    pub lifetime: Duration,
    /// Grace period of a replaced token (default: a tenth of the lifetime, at most 60 s).
    pub grace: Option<Duration>,
    /// How long after the owner's last activity rotation continues without terminals.
    pub activity_window: Duration,
    /// Time (tests move it).
    pub clock: SharedClock,
    /// Whether to run the broker and write the `[kiln]` profile.
    pub broker: bool,
}

impl Default for CredentialsOptions {
    fn default() -> Self {
        Self {
            apps: None,
            host: None,
            workspace_id: None,
            config_source: None,
            lifetime: DEFAULT_LIFETIME,
            grace: None,
            activity_window: ACTIVITY_WINDOW,
            clock: Arc::new(SystemClock),
            broker: true,
        }
    }
}

impl std::fmt::Debug for CredentialsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsOptions")
            .field("apps", &self.apps)
            .field("host", &self.host)
            .field(
                "config_source",
                &self.config_source.as_ref().map(|c| &c.description),
            )
            .field("lifetime", &self.lifetime)
            .field("grace", &self.grace)
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

/// The running credential machinery of one server. Cheap to clone.
#[derive(Clone)]
pub struct Credentials(Arc<Inner>);

struct Inner {
    apps: Option<AppsEnv>,
    owner: Owner,
    cell: Arc<TokenCell>,
    rotation: Option<Arc<Rotation>>,
    host: Option<String>,
    config_description: Option<String>,
    unavailable: Option<String>,
    clock: SharedClock,
    home: PathBuf,
    broker: Option<BrokerFiles>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("apps", &self.0.apps)
            .field("host", &self.0.host)
            .field("cell", &self.0.cell)
            .finish_non_exhaustive()
    }
}

fn instance_comment(apps: Option<&AppsEnv>) -> String {
    // 48 random bits: the comment identifies this instance's tokens after a crash.
    let id = crate::state::random_hex(6).unwrap_or_else(|_| "000000000000".into());
    match apps {
        Some(a) => format!(
            "kiln app {} instance {id}: short-lived, rotated by kiln",
            a.app_name
        ),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_default();
            format!("kiln serve on {host} instance {id}: short-lived, rotated by kiln")
        }
    }
}

fn sp_client(apps: &AppsSettings, host: &str) -> Option<Client> {
    let id = apps.env.client_id.as_deref()?;
    let secret = apps.sp_secret.as_ref()?;
    let mut loader = ConfigLoader::new(Environment::new())
        .set_from(Attr::Host, host, "DATABRICKS_HOST")
        .set_from(Attr::ClientId, id, "DATABRICKS_CLIENT_ID")
        .set_from(
            Attr::ClientSecret,
            secret.expose(),
            "DATABRICKS_CLIENT_SECRET",
        );
    if let Some(ws) = &apps.env.workspace_id {
        loader = loader.set_from(Attr::WorkspaceId, ws, "DATABRICKS_WORKSPACE_ID");
    }
    let built = loader
        .load()
        .map_err(kiln_databricks::Error::from)
        .and_then(|c| Client::with_options(&c, ClientOptions::default()));
    match built {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the service principal's client");
            None
        }
    }
}

impl Credentials {
    /// Starts the machinery (must run inside a tokio runtime): owner resolution, the token cell
    /// and its rotation, the broker and the `[kiln]` profile in `home`. Problems are logged and
    /// shown in the status; they never stop the server.
    pub fn start(opts: CredentialsOptions, home: &Path, shutdown: CancellationToken) -> Self {
        let clock = opts.clock.clone();
        let lifetime = opts.lifetime.clamp(MIN_LIFETIME, MAX_LIFETIME);
        let grace = opts
            .grace
            .unwrap_or_else(|| (lifetime / 10).min(MAX_GRACE))
            .max(Duration::from_millis(500));
        let refresh_hint = (grace / 2).clamp(Duration::from_millis(500), Duration::from_secs(30));
        let cell = Arc::new(TokenCell::new(clock.clone(), refresh_hint));
        let apps_env = opts.apps.as_ref().map(|a| a.env.clone());
        let host = match &apps_env {
            Some(a) => a.host.clone().or(opts.host.clone()),
            None => opts.host.clone(),
        };
        let workspace_id = apps_env
            .as_ref()
            .and_then(|a| a.workspace_id.clone())
            .or(opts.workspace_id.clone());
        let mut unavailable = None;
        let remote = match &host {
            Some(h) => match Remote::new(h, workspace_id.as_deref(), clock.clone()) {
                Ok(r) => Some(r),
                Err(e) => {
                    unavailable = Some(format!("the workspace URL is not usable: {e}"));
                    None
                }
            },
            None => {
                unavailable = Some(
                    "no Databricks workspace is configured (set DATABRICKS_HOST, or run kiln \
                     serve with --profile)"
                        .into(),
                );
                None
            }
        };
        let host = remote.as_ref().map(|r| r.host().to_owned());
        let kiln_dir = match crate::state::kiln_dir(home) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = %e, "cannot create ~/.kiln; no broker and no state file");
                None
            }
        };
        if let Some(dir) = &kiln_dir {
            stale::clear(dir, home);
        }
        let owner = match &opts.apps {
            None => Owner::new(OwnerState::NotApplicable),
            Some(a) => match &a.env.owner_override {
                Some(email) => {
                    tracing::info!(owner = %email, "owner set by KILN_OWNER");
                    Owner::new(OwnerState::Known {
                        email: email.clone(),
                        source: OwnerSource::KilnOwner,
                    })
                }
                None => {
                    let owner = Owner::new(OwnerState::Resolving {
                        message: "reading the app's creator".into(),
                        attempts: 0,
                        next_retry_ms: None,
                    });
                    let client = host.as_deref().and_then(|h| sp_client(a, h));
                    owner::spawn_resolver(
                        owner.clone(),
                        client,
                        a.env.app_name.clone(),
                        clock.clone(),
                        shutdown.clone(),
                    );
                    owner
                }
            },
        };
        let config_description = opts.config_source.as_ref().map(|c| c.description.clone());
        let rotation = match (&opts.config_source, remote) {
            (Some(config), _) => {
                cell.set_delegate(config.source.clone());
                None
            }
            (None, Some(remote)) => {
                let plan = Plan {
                    lifetime,
                    grace,
                    activity_window: opts.activity_window,
                    comment: instance_comment(apps_env.as_ref()),
                };
                let state_file = kiln_dir.as_deref().map(state_file::StateFile::new);
                let r = Rotation::new(cell.clone(), remote, clock.clone(), plan, state_file);
                r.spawn(shutdown.clone());
                Some(r)
            }
            (None, None) => None,
        };
        let broker = match (&host, &kiln_dir, opts.broker) {
            (Some(host), Some(dir), true) => start_broker(dir, home, host, &cell, &shutdown),
            _ => None,
        };
        Self(Arc::new(Inner {
            apps: apps_env,
            owner,
            cell,
            rotation,
            host,
            config_description,
            unavailable,
            clock,
            home: home.to_path_buf(),
            broker,
        }))
    }

    /// Whether kiln runs as a Databricks App (owner check instead of the access key).
    pub fn is_apps(&self) -> bool {
        self.0.apps.is_some()
    }

    /// The owner (Databricks Apps).
    pub fn owner(&self) -> &Owner {
        &self.0.owner
    }

    /// The current token, for every consumer (the gateway, Databricks calls for the owner).
    pub fn token_source(&self) -> Arc<dyn TokenSource> {
        self.0.cell.clone()
    }

    /// The token cell itself.
    pub fn cell(&self) -> &Arc<TokenCell> {
        &self.0.cell
    }

    /// The normalised workspace URL, if one is configured.
    pub fn host(&self) -> Option<&str> {
        self.0.host.as_deref()
    }

    /// The broker's URL, while it runs.
    pub fn broker_url(&self) -> Option<&str> {
        self.0.broker.as_ref().map(|b| b.url.as_str())
    }

    /// Variables for terminals: the `[kiln]` profile when the broker runs.
    pub fn terminal_env(&self) -> Vec<(String, String)> {
        match &self.0.broker {
            Some(_) => vec![(
                "DATABRICKS_CONFIG_PROFILE".to_owned(),
                crate::profile::PROFILE.to_owned(),
            )],
            None => Vec::new(),
        }
    }

    /// Tells the rotation how many terminal sessions are alive (rotation continues while any is).
    pub fn set_session_probe(&self, probe: Arc<dyn Fn() -> usize + Send + Sync>) {
        if let Some(r) = &self.0.rotation {
            r.set_session_probe(probe);
        }
    }

    /// The owner did something (rotation continues for another activity window).
    pub fn touch(&self) {
        if let Some(r) = &self.0.rotation {
            r.touch();
        }
    }

    /// Takes a pasted token: see [`bootstrap`]. Nothing changes on refusal.
    pub async fn bootstrap(&self, raw: &str) -> Result<Bootstrapped, BootstrapError> {
        let pasted = bootstrap::check_shape(raw)?;
        if let Some(config) = &self.0.config_description {
            return Err(BootstrapError::NotAccepting(format!(
                "kiln uses the Databricks configuration ({config}); change the token there"
            )));
        }
        let Some(rotation) = &self.0.rotation else {
            return Err(BootstrapError::NotAccepting(
                self.0
                    .unavailable
                    .clone()
                    .unwrap_or_else(|| "kiln cannot take a token".into()),
            ));
        };
        let owner = match (&self.0.apps, self.0.owner.state()) {
            (None, _) => None,
            (Some(_), OwnerState::Known { email, .. }) => Some(email),
            (Some(_), OwnerState::Resolving { message, .. }) => {
                return Err(BootstrapError::OwnerUnknown(message));
            }
            (Some(_), OwnerState::NotApplicable) => None,
        };
        bootstrap::bootstrap(rotation, pasted, owner.as_deref()).await
    }

    /// The rotation's status, when kiln mints its own tokens.
    pub fn rotation_status(&self) -> Option<RotationStatus> {
        self.0.rotation.as_ref().map(|r| r.status())
    }

    /// Everything `/api/status` and the UI show about access and the token.
    pub fn status(&self) -> Value {
        let now = self.0.clock.now_ms();
        let owner = match self.0.owner.state() {
            OwnerState::NotApplicable => json!({"state": "not_applicable"}),
            OwnerState::Known { email, source } => {
                json!({"state": "known", "email": email, "source": source})
            }
            OwnerState::Resolving {
                message,
                attempts,
                next_retry_ms,
            } => json!({
                "state": "resolving",
                "message": message,
                "attempts": attempts,
                "next_retry_in_seconds": next_retry_ms.map(|t| ((t - now).max(0) + 999) / 1000),
            }),
        };
        let (source, token) = if let Some(r) = &self.0.rotation {
            (
                "pasted",
                serde_json::to_value(r.status()).unwrap_or(Value::Null),
            )
        } else if self.0.config_description.is_some() {
            ("config", json!({"state": "delegated"}))
        } else {
            (
                "none",
                json!({"state": "unavailable", "reason": self.0.unavailable}),
            )
        };
        json!({
            "mode": if self.is_apps() { "databricks_apps" } else { "local" },
            "app_name": self.0.apps.as_ref().map(|a| a.app_name.clone()),
            "owner": owner,
            "workspace": self.0.host,
            "token_page_url": self.0.host.as_ref().map(|h| format!("{h}{TOKEN_PAGE_PATH}")),
            "source": source,
            "config": self.0.config_description,
            "token": token,
            "broker": self.0.broker.is_some(),
            "non_dumpable": is_non_dumpable(),
        })
    }

    /// Resolves once the rotation has nothing due at the clock's current time (tests).
    pub async fn settled(&self) {
        if let Some(r) = &self.0.rotation {
            r.settled().await;
        }
    }

    /// At shutdown: revokes kiln's tokens (a few seconds at most; what is left is revoked by the
    /// next start), removes the broker's files and the `[kiln]` profile.
    pub async fn shutdown(&self) {
        if let Some(r) = &self.0.rotation
            && tokio::time::timeout(SHUTDOWN_REVOKE, r.revoke_all())
                .await
                .is_err()
        {
            tracing::warn!("revoking kiln's tokens took too long; the next start will finish");
        }
        if let Some(b) = &self.0.broker {
            b.remove();
            if let Err(e) = crate::profile::remove(&self.0.home) {
                tracing::warn!(error = %e, "cannot remove the [kiln] profile from ~/.databrickscfg");
            }
        }
    }
}

fn start_broker(
    kiln_dir: &Path,
    home: &Path,
    host: &str,
    cell: &Arc<TokenCell>,
    shutdown: &CancellationToken,
) -> Option<BrokerFiles> {
    let started = broker::bind(kiln_dir).and_then(|(listener, files)| {
        broker::serve(
            listener,
            &files,
            cell.clone(),
            host.to_owned(),
            shutdown.clone(),
        )?;
        Ok(files)
    });
    let files = match started {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the token broker");
            return None;
        }
    };
    if let Err(e) = crate::profile::install(home, host, &files.metadata_url()) {
        tracing::error!(error = %e, "cannot write the [kiln] profile to ~/.databrickscfg");
    }
    tracing::info!(url = %files.url, "token broker listening");
    Some(files)
}

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0): processes of the same user (code in a
/// terminal) can then not read its memory, environment or file descriptors through `/proc`, nor
/// attach a debugger. Call once at the start of `kiln serve`.
pub fn make_non_dumpable() -> std::io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(std::io::Error::from)
}

/// Whether this process is non-dumpable.
pub fn is_non_dumpable() -> bool {
    matches!(
        rustix::process::dumpable_behavior(),
        Ok(rustix::process::DumpableBehavior::NotDumpable)
    )
}
