//! An emulated Databricks workspace, faithful to `shared/reference/databricks-api.md`, for
//! tests and local trials. Never linked into the product binary.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_emulator::EmulatorError> {
//! use std::time::Duration;
//! use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction};
//!
//! let emu = Emulator::start(EmulatorOptions::default()).await?;
//! let host = emu.url();              // http://127.0.0.1:PORT
//! let pat = emu.user_token();        // the first user's PAT
//! emu.add_fault(Fault::new("/api/2.0/preview/scim/v2/Me", FaultAction::RateLimit { retry_after_secs: 1 }).times(2));
//! emu.advance(Duration::from_secs(3600)); // an hour passes for tokens and state machines
//! # let _ = (host, pat); Ok(()) }
//! ```
//!
//! Rooms: `world` (the workspace's state, composed of the stores below, and the handlers'
//! `Shared`), `principals` and `settings` (plain data every store and handler reads), `auth` +
//! `oidc` (credentials), `scim`, `tokens`, `apps`, `workspace`, `files` (volumes), `secrets`,
//! `clusters`, `serving_control` + `serving` (model serving), `faults`, `reqlog`, `admin`
//! (HTTP controls), `control` (controls shared with this handle), `net` (resettable
//! connections), `server` (router assembly).
//!
//! Layering (no module cycles, checked by `scripts/module-cycles`): a store's state lives in a
//! `model` module that never imports `world`; `world` composes the stores; the routes and
//! middleware (`routes`, `layer`) import `world`, and nothing `world` imports imports them.

mod admin;
mod apps;
mod auth;
mod clock;
mod clusters;
mod control;
mod error;
mod extract;
mod faults;
mod files;
mod ids;
mod net;
mod oidc;
mod otel;
mod principals;
mod reqlog;
mod scim;
mod secrets;
mod server;
pub mod serving;
mod serving_control;
mod settings;
mod tokens;
mod workspace;
mod world;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use clusters::RecordedInitScript;
pub use faults::{Fault, FaultAction};
pub use reqlog::RequestRecord;
pub use serving::{EndpointSpec, ServingState};
pub use settings::{Settings, StateDelays};
pub use world::{Identities, SeededUser};

use world::{Shared, World};

/// The first user when none is given.
pub const DEFAULT_USER: &str = "alice@example.com";
/// The app name when none is given.
pub const DEFAULT_APP: &str = "kiln";
/// The workspace id when none is given.
pub const DEFAULT_WORKSPACE_ID: u64 = 1_234_567_890_123_456;

/// Errors starting or controlling the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding or serving failed.
    #[error("emulator I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The emulator only listens on loopback.
    #[error(
        "refusing to listen on {0}: the emulator only binds loopback addresses (127.0.0.1, ::1)"
    )]
    NonLoopback(IpAddr),
    /// A bad option value.
    #[error("invalid emulator option: {0}")]
    InvalidOption(String),
    /// No such user or service principal.
    #[error("no principal named {0:?}")]
    UnknownPrincipal(String),
}

/// How to start an emulator. `Default` gives a loopback workspace on a free port with one
/// user (`alice@example.com`) who created the app `kiln`.
#[derive(Clone)]
pub struct EmulatorOptions {
    /// Address to bind; must be loopback.
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Users by email; the first is the app's creator. Empty means [`DEFAULT_USER`].
    pub users: Vec<String>,
    /// Fixed PAT values per user email (others get random `dapi…` tokens).
    pub user_tokens: Vec<(String, String)>,
    /// Name of the seeded app.
    pub app_name: String,
    /// Client id of the app's service principal (random UUID when `None`).
    pub sp_client_id: Option<String>,
    /// OAuth secret of the app's service principal (random when `None`).
    pub sp_client_secret: Option<String>,
    /// Workspace id (`X-Databricks-Org-Id`).
    pub workspace_id: u64,
    /// Run-time switches.
    pub settings: Settings,
    /// State-machine step lengths.
    pub delays: StateDelays,
    /// Served model endpoints (`ServingState::default_catalog()` when `None`).
    pub serving_endpoints: Option<Vec<EndpointSpec>>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            users: vec![DEFAULT_USER.to_string()],
            user_tokens: Vec::new(),
            app_name: DEFAULT_APP.to_string(),
            sp_client_id: None,
            sp_client_secret: None,
            workspace_id: DEFAULT_WORKSPACE_ID,
            settings: Settings::default(),
            delays: StateDelays::default(),
            serving_endpoints: None,
        }
    }
}

impl fmt::Debug for EmulatorOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorOptions")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("users", &self.users)
            .field(
                "user_tokens",
                &format!("<{} redacted>", self.user_tokens.len()),
            )
            .field("app_name", &self.app_name)
            .field("sp_client_id", &self.sp_client_id)
            .field(
                "sp_client_secret",
                &self.sp_client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("workspace_id", &self.workspace_id)
            .field("settings", &self.settings)
            .field("delays", &self.delays)
            .finish()
    }
}

/// Starts emulators.
pub struct Emulator;

impl Emulator {
    /// Binds `opts.bind:opts.port` (loopback only) and starts serving.
    pub async fn start(opts: EmulatorOptions) -> Result<RunningEmulator, EmulatorError> {
        if !opts.bind.is_loopback() {
            return Err(EmulatorError::NonLoopback(opts.bind));
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(opts.bind, opts.port)).await?;
        Self::start_on(listener, opts).await
    }

    /// Starts serving on an already bound loopback listener (`opts.bind`/`port` are ignored).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        opts: EmulatorOptions,
    ) -> Result<RunningEmulator, EmulatorError> {
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            return Err(EmulatorError::NonLoopback(addr.ip()));
        }
        if opts.app_name.is_empty() {
            return Err(EmulatorError::InvalidOption("app name is empty".into()));
        }
        let base_url = format!("http://{addr}");
        let clock = clock::Clock::default();
        let now = clock.now_ms();
        let mut world = World::new(opts.settings.clone(), opts.delays.clone(), now);
        let identities = control::seed(&mut world, &opts, &base_url, opts.workspace_id, now)?;
        let serving = Arc::new(ServingState::new(
            opts.serving_endpoints
                .clone()
                .unwrap_or_else(ServingState::default_catalog),
        ));
        let shared = Arc::new(Shared {
            clock,
            world: Mutex::new(world),
            faults: faults::Faults::default(),
            log: reqlog::RequestLog::default(),
            serving,
            workspace_id: opts.workspace_id,
            base_url: base_url.clone(),
            identities: identities.clone(),
            runtime: apps::runtime::Runtime::new(addr.ip()),
        });
        let app_url = apps::proxy::open(&shared, &opts.app_name)?;
        if let Some(app) = shared.world().apps.by_name.get_mut(&opts.app_name) {
            app.url = app_url;
        }
        let cancel = CancellationToken::new();
        let app = server::router(shared.clone());
        let task = tokio::spawn(server::serve(listener, app, cancel.clone()));
        tracing::info!(url = %base_url, "kiln-emulator listening");
        Ok(RunningEmulator {
            shared,
            identities,
            addr,
            cancel,
            task: Some(task),
        })
    }
}

/// A running emulator: its URL, seeded identities and test controls. Dropping it stops the
/// server.
pub struct RunningEmulator {
    shared: Arc<Shared>,
    identities: Identities,
    addr: SocketAddr,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("identities", &self.identities)
            .finish()
    }
}

impl RunningEmulator {
    /// Workspace URL, `http://127.0.0.1:PORT` (use as `DATABRICKS_HOST`).
    pub fn url(&self) -> &str {
        &self.identities.workspace_url
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the workspace was seeded with.
    pub fn identities(&self) -> &Identities {
        &self.identities
    }

    /// Email of the first user (the app's creator).
    pub fn user_email(&self) -> &str {
        self.identities
            .users
            .first()
            .map(|u| u.email.as_str())
            .unwrap_or(DEFAULT_USER)
    }

    /// Non-expiring PAT of the first user.
    pub fn user_token(&self) -> &str {
        self.identities
            .users
            .first()
            .map(|u| u.token.as_str())
            .unwrap_or_default()
    }

    /// Name of the seeded app.
    pub fn app_name(&self) -> &str {
        &self.identities.app_name
    }

    /// Client id of the seeded app's service principal.
    pub fn sp_client_id(&self) -> &str {
        &self.identities.sp_client_id
    }

    /// OAuth secret of the seeded app's service principal.
    pub fn sp_client_secret(&self) -> &str {
        &self.identities.sp_client_secret
    }

    /// Workspace id.
    pub fn workspace_id(&self) -> u64 {
        self.identities.workspace_id
    }

    /// Emulator time, epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.shared.now_ms()
    }

    /// Moves the emulator clock forward (token expiry, state machines, outage windows).
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Installs a fault rule; returns its id.
    pub fn add_fault(&self, fault: Fault) -> u64 {
        self.shared.faults.add(fault, self.shared.now_ms())
    }

    /// Removes one fault rule.
    pub fn remove_fault(&self, id: u64) -> bool {
        self.shared.faults.remove(id)
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// The request log, oldest first (admin requests excluded; no token values).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.entries()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Adds a user (not an admin) and returns a new non-expiring PAT for it.
    pub fn create_user(&self, email: &str) -> Result<String, EmulatorError> {
        self.shared.create_user(email, false)
    }

    /// Adds a workspace admin and returns a new non-expiring PAT for it.
    pub fn create_admin(&self, email: &str) -> Result<String, EmulatorError> {
        self.shared.create_user(email, true)
    }

    /// Creates a PAT for a user (email) or service principal (client id). `None` lifetime
    /// means the API default (two years).
    pub fn create_token(
        &self,
        principal: &str,
        lifetime: Option<Duration>,
    ) -> Result<String, EmulatorError> {
        let secs = lifetime.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.shared.create_token(principal, secs, None, None)
    }

    /// Whether an app's service principal may read its own app object.
    pub fn set_sp_can_read_own_app(&self, allowed: bool) {
        self.shared.world().settings.sp_can_read_own_app = allowed;
    }

    /// Current settings.
    pub fn settings(&self) -> Settings {
        self.shared.world().settings.clone()
    }

    /// Changes settings.
    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.shared.world().settings);
    }

    /// Changes the state-machine step lengths (for transitions started afterwards).
    pub fn set_delays(&self, delays: StateDelays) {
        self.shared.world().delays = delays;
    }

    /// The model-serving data plane (endpoints, scripted answers, recorded requests).
    pub fn serving(&self) -> Arc<ServingState> {
        self.shared.serving.clone()
    }

    /// Init scripts recorded at the latest start of a cluster (`None`: unknown cluster).
    pub fn init_scripts(&self, cluster_id: &str) -> Option<Vec<RecordedInitScript>> {
        self.shared.init_scripts(cluster_id)
    }

    /// Client id and secret of an app's service principal.
    pub fn app_credentials(&self, app: &str) -> Option<(String, String)> {
        self.shared.app_credentials(app)
    }

    /// The environment Databricks Apps gives the seeded app's process (reference §5.3).
    pub fn app_env(&self, port: u16) -> Vec<(String, String)> {
        vec![
            ("DATABRICKS_APP_NAME".into(), self.app_name().into()),
            (
                "DATABRICKS_WORKSPACE_ID".into(),
                self.workspace_id().to_string(),
            ),
            ("DATABRICKS_HOST".into(), self.url().into()),
            ("DATABRICKS_APP_PORT".into(), port.to_string()),
            ("DATABRICKS_CLIENT_ID".into(), self.sp_client_id().into()),
            (
                "DATABRICKS_CLIENT_SECRET".into(),
                self.sp_client_secret().into(),
            ),
            (
                "DATABRICKS_APP_URL".into(),
                self.app_url(self.app_name()).unwrap_or_default(),
            ),
        ]
    }

    /// The headers the Apps reverse proxy adds for a signed-in user (reference §5.4).
    pub fn proxy_headers(&self, email: &str) -> Vec<(String, String)> {
        vec![
            ("X-Forwarded-Host".into(), "localhost".into()),
            (
                "X-Forwarded-Preferred-Username".into(),
                principals::display_name_from_email(email),
            ),
            (
                "X-Forwarded-User".into(),
                format!(
                    "{}@{}",
                    self.shared
                        .world()
                        .principal_by_name(email)
                        .map(|p| p.id)
                        .unwrap_or_default(),
                    self.workspace_id()
                ),
            ),
            ("X-Forwarded-Email".into(), email.into()),
            ("X-Real-Ip".into(), "127.0.0.1".into()),
            ("X-Request-Id".into(), ids::uuid4()),
        ]
    }

    /// Content of a workspace file or notebook (`/Users/...` or `/Workspace/Users/...`).
    pub fn workspace_file(&self, path: &str) -> Option<Vec<u8>> {
        let p = workspace::tree::normalize(path).ok()?;
        let w = self.shared.world();
        let n = w.tree.get(&p)?;
        (!n.is_dir()).then(|| n.content.to_vec())
    }

    /// Whether a workspace path exists (file, notebook or directory).
    pub fn workspace_exists(&self, path: &str) -> bool {
        workspace::tree::normalize(path)
            .ok()
            .is_some_and(|p| self.shared.world().tree.get(&p).is_some())
    }

    /// Every object at or below a workspace path, sorted by path (normalised, without the
    /// `/Workspace` prefix): `(path, kind, content)`, kind `"DIRECTORY"`, `"FILE"` or `"NOTEBOOK"`.
    pub fn workspace_tree(&self, path: &str) -> Vec<(String, &'static str, Vec<u8>)> {
        let Ok(p) = workspace::tree::normalize(path) else {
            return Vec::new();
        };
        let w = self.shared.world();
        w.tree
            .subtree(&p)
            .into_iter()
            .map(|(k, n)| {
                let kind = match n.kind {
                    workspace::tree::Kind::Directory => "DIRECTORY",
                    workspace::tree::Kind::File => "FILE",
                    workspace::tree::Kind::Notebook { .. } => "NOTEBOOK",
                };
                (k, kind, n.content.to_vec())
            })
            .collect()
    }

    /// Content of a volume file (`/Volumes/c/s/v/...`).
    pub fn volume_file(&self, path: &str) -> Option<Vec<u8>> {
        files::read_file(&self.shared.world().volumes, path).map(|b| b.to_vec())
    }

    /// The app's URL (its reverse proxy on loopback), if the app exists.
    pub fn app_url(&self, app: &str) -> Option<String> {
        self.shared
            .world()
            .apps
            .by_name
            .get(app)
            .map(|a| a.url.clone())
    }

    /// What the app's processes wrote (stdout and stderr) plus the runtime's `[SYSTEM]` lines,
    /// kept across crashes and redeploys (last 1 MiB).
    pub fn app_logs(&self, app: &str) -> Option<String> {
        self.shared.runtime.logs(app)
    }

    /// Pid (and process group id) of the app's current process.
    pub fn app_pid(&self, app: &str) -> Option<u32> {
        self.shared.runtime.pid(app)
    }

    /// Signs a user (email) or service principal (application id) in to the app proxies;
    /// returns the `Cookie` header value to send (`kiln_emulator_session=…`).
    pub fn app_cookie(&self, principal: &str) -> Result<String, EmulatorError> {
        let sid = apps::admin::new_session(&self.shared, principal)?;
        Ok(format!("{}={sid}", apps::proxy::SESSION_COOKIE))
    }

    /// Creates a Unity Catalog volume (`/Volumes/c/s/v`). Until the first call every volume
    /// exists; afterwards only created ones do (writes elsewhere answer 404).
    pub fn create_volume(&self, root: &str) {
        self.shared.world().volumes.create_volume(root);
    }

    /// Stops the server and every app process, and waits (up to 5 s) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.runtime.kill_all();
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    /// Resolves when the server stops (it runs until [`Self::shutdown`] or drop).
    pub async fn wait(&mut self) {
        if let Some(task) = self.task.as_mut() {
            let _ = task.await;
            self.task = None;
        }
    }
}

impl Drop for RunningEmulator {
    /// Kills every app process (no orphans), stops accepting connections and closes idle ones
    /// (graceful shutdown in the background; streams still in flight finish on their own).
    fn drop(&mut self) {
        self.shared.runtime.kill_all();
        self.cancel.cancel();
    }
}
