//! The local model gateway: a loopback listener every agent points at with a local key. Per
//! flavour (Anthropic Messages, OpenAI Responses, Chat Completions, Gemini) it forwards to the
//! upstream chosen for the workspace, adding `Authorization: Bearer <current token>` asked from
//! the [`TokenSource`] on every request, so agents never hold a Databricks token and a rotation
//! never breaks a running agent. Answers stream through chunk by chunk; usage is counted per
//! agent and model.
//!
//! Rooms: `paths` (URL layout, flavours), `auth` (local key), `forward` (one call: limits,
//! filters, retries before the first byte), `relay` (streaming the answer, usage, errors after
//! the first byte), `errors` (each protocol's error shape), `filters` (compatibility fixes),
//! `upstream` (resolution order and probes), `retry`, `sse`, `usage`, `discovery`
//! (`~/.kiln/gateway.json`), `cli` (`kiln gateway`).
//!
//! ```no_run
//! # async fn demo(source: std::sync::Arc<dyn kiln_databricks::TokenSource>) -> anyhow::Result<()> {
//! use kiln::gateway::{self, GatewayOptions};
//! let handle = gateway::start(GatewayOptions::default(), "https://dbc-1.cloud.databricks.com".into(), source).await?;
//! println!("agents use {}/claude with the key in {}", handle.url(), handle.key_path().display());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod cli;
pub mod discovery;
pub mod errors;
pub mod filters;
mod forward;
pub mod paths;
mod relay;
pub mod retry;
pub mod sse;
pub mod upstream;
pub mod usage;

pub use auth::LocalKey;
pub use discovery::{Discovery, find_running};
pub use paths::{Agent, Flavour};
pub use retry::RetryBounds;
pub use usage::{AgentUsage, UsageSnapshot, format_snapshot};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use kiln_databricks::credentials::ConfigFileSource;
use kiln_databricks::{Secret, TokenSource};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use upstream::{Resolver, ResolverConfig};

/// Port tried first (agent configs keep working across restarts when it is free).
pub const DEFAULT_PORT: u16 = 8790;
/// Largest request body by default (32 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 32 << 20;
/// How long shutdown waits for open answers (5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of a gateway.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Loopback address to listen on (127.0.0.1:8790).
    pub listen: SocketAddr,
    /// If the port is taken, listen on a free one instead of failing.
    pub fallback_to_free_port: bool,
    /// Where `gateway.key` and `gateway.json` live (`None`: `$HOME/.kiln`).
    pub state_dir: Option<PathBuf>,
    /// Write `gateway.json` for `kiln agents configure` to find.
    pub write_discovery: bool,
    /// Largest request body (32 MiB).
    pub body_limit: usize,
    /// Retries before the first byte.
    pub retry: RetryBounds,
    /// Longest silence of an upstream answer once it started (300 s).
    pub idle_timeout: Duration,
    /// Longest wait for the upstream's response headers (600 s).
    pub response_timeout: Duration,
    /// Timeout of one upstream probe (5 s).
    pub probe_timeout: Duration,
    /// Probe the AI Gateway routes (off: serving endpoints unless overridden).
    pub probe: bool,
    /// Resolve every flavour's upstream in the background at start.
    pub warm_up: bool,
    /// `DATABRICKS_GATEWAY_HOST`: send every flavour to this AI Gateway host.
    pub gateway_host: Option<String>,
    /// Per-agent upstream base URLs (override everything else for that agent).
    pub agent_base_urls: BTreeMap<Agent, String>,
    /// Workspace id (`DATABRICKS_WORKSPACE_ID`), for the older AI Gateway host form.
    pub workspace_id: Option<String>,
    /// The older AI Gateway host to probe instead of the derived one.
    pub legacy_gateway_host: Option<String>,
    /// Log request bodies at debug level (`KILN_GATEWAY_LOG_BODIES=1`); off by default.
    pub log_bodies: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            fallback_to_free_port: true,
            state_dir: None,
            write_discovery: true,
            body_limit: DEFAULT_BODY_LIMIT,
            retry: RetryBounds::default(),
            idle_timeout: Duration::from_secs(300),
            response_timeout: Duration::from_secs(600),
            probe_timeout: Duration::from_secs(5),
            probe: true,
            warm_up: true,
            gateway_host: None,
            agent_base_urls: BTreeMap::new(),
            workspace_id: None,
            legacy_gateway_host: None,
            log_bodies: false,
        }
    }
}

impl GatewayOptions {
    /// Fills `gateway_host`, `workspace_id` and `log_bodies` from `DATABRICKS_GATEWAY_HOST`,
    /// `DATABRICKS_WORKSPACE_ID` and `KILN_GATEWAY_LOG_BODIES` where not already set.
    pub fn with_process_env(mut self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if self.gateway_host.is_none() {
            self.gateway_host = var("DATABRICKS_GATEWAY_HOST");
        }
        if self.workspace_id.is_none() {
            self.workspace_id = var("DATABRICKS_WORKSPACE_ID");
        }
        if var("KILN_GATEWAY_LOG_BODIES").is_some_and(|v| v == "1" || v == "true") {
            self.log_bodies = true;
        }
        self
    }
}

/// Why a gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Only loopback addresses are allowed.
    #[error("refusing to listen on {0}: the gateway only listens on loopback (127.0.0.1 or ::1)")]
    NonLoopback(SocketAddr),
    /// Binding failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// No state directory.
    #[error("no home directory for ~/.kiln (set HOME)")]
    NoStateDir,
    /// The key file could not be read or created.
    #[error("gateway key file in {dir}: {source}")]
    Key {
        /// State directory.
        dir: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Http(String),
}

/// Limits and switches used per request.
#[derive(Debug)]
pub(crate) struct Settings {
    pub body_limit: usize,
    pub retry: RetryBounds,
    pub idle_timeout: Duration,
    pub response_timeout: Duration,
    pub log_bodies: bool,
}

/// Where the workspace URL comes from.
pub(crate) enum HostRef {
    Fixed(String),
    /// Follows the config file (`kiln gateway`).
    Config(Arc<ConfigFileSource>),
}

/// The current workspace and token source.
pub(crate) struct UpstreamRef {
    pub host: HostRef,
    pub source: Arc<dyn TokenSource>,
}

impl UpstreamRef {
    pub fn host(&self) -> String {
        match &self.host {
            HostRef::Fixed(h) => h.clone(),
            HostRef::Config(c) => c.host(),
        }
    }
}

/// Shared state of one gateway.
pub(crate) struct Gateway {
    pub settings: Settings,
    pub key: LocalKey,
    upstream: RwLock<Arc<UpstreamRef>>,
    pub resolver: Resolver,
    pub usage: usage::UsageStore,
    pub http: reqwest::Client,
    pub url: String,
    pub started_at: SystemTime,
}

impl Gateway {
    pub fn upstream(&self) -> Arc<UpstreamRef> {
        Arc::clone(&self.upstream.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set_upstream(&self, u: UpstreamRef) {
        *self
            .upstream
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(u);
        self.resolver.clear();
    }

    fn snapshot(&self) -> UsageSnapshot {
        UsageSnapshot {
            url: self.url.clone(),
            started_at: crate::server::time::rfc3339(self.started_at),
            host: self.upstream().host(),
            upstreams: self.resolver.statuses(),
            agents: self.usage.entries(),
        }
    }

    /// Resolves every flavour's upstream (concurrently).
    async fn resolve_all(self: &Arc<Self>) {
        let upstream = self.upstream();
        let host = upstream.host();
        let flavours = Flavour::ALL.map(|f| {
            let gw = Arc::clone(self);
            let source = Arc::clone(&upstream.source);
            let host = host.clone();
            async move { gw.resolver.for_flavour(f, &host, &source).await }
        });
        futures_util::future::join_all(flavours).await;
    }
}

/// A running gateway. Dropping it stops the server (without waiting) and removes the
/// discovery file; [`GatewayHandle::shutdown`] does the same and waits.
pub struct GatewayHandle {
    gw: Arc<Gateway>,
    addr: SocketAddr,
    state_dir: PathBuf,
    discovery: bool,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle")
            .field("url", &self.gw.url)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

impl GatewayHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.gw.url
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Path of the local key file.
    pub fn key_path(&self) -> &Path {
        self.gw.key.path()
    }

    /// The local key (for agent configs; never for logs).
    pub fn key(&self) -> &Secret {
        self.gw.key.secret()
    }

    /// Usage so far, with the upstream chosen per flavour.
    pub fn usage(&self) -> UsageSnapshot {
        self.gw.snapshot()
    }

    /// Swaps the workspace and token source; the next request uses them (answers already
    /// streaming are not touched). Upstreams are resolved again.
    pub fn set_source(&self, host: String, source: Arc<dyn TokenSource>) {
        tracing::info!(%host, auth_type = source.auth_type(), "gateway token source replaced");
        self.gw.set_upstream(UpstreamRef {
            host: HostRef::Fixed(host.trim_end_matches('/').to_owned()),
            source,
        });
    }

    /// Resolves every flavour's upstream now (probing where needed) and returns the choices.
    pub async fn resolve_upstreams(&self) -> Vec<upstream::UpstreamStatus> {
        self.gw.resolve_all().await;
        self.gw.resolver.statuses()
    }

    /// A token that is cancelled when the gateway stops.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting requests, waits up to 5 s for open answers, removes the discovery file.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        self.remove_discovery();
    }

    fn remove_discovery(&self) {
        if self.discovery {
            discovery::remove_if_ours(&self.state_dir, std::process::id(), &self.gw.url);
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
        self.remove_discovery();
    }
}

/// Starts a gateway for `host` whose token comes from `source` (asked on every request).
pub async fn start(
    opts: GatewayOptions,
    host: String,
    source: Arc<dyn TokenSource>,
) -> Result<GatewayHandle, GatewayError> {
    let upstream = UpstreamRef {
        host: HostRef::Fixed(host.trim_end_matches('/').to_owned()),
        source,
    };
    start_inner(opts, upstream).await
}

/// Starts a gateway that follows the standard Databricks configuration: host and token are
/// re-read when the config file changes.
pub async fn start_with_config(
    opts: GatewayOptions,
    config: Arc<ConfigFileSource>,
) -> Result<GatewayHandle, GatewayError> {
    let source: Arc<dyn TokenSource> = config.clone();
    start_inner(
        opts,
        UpstreamRef {
            host: HostRef::Config(config),
            source,
        },
    )
    .await
}

async fn bind(opts: &GatewayOptions) -> Result<tokio::net::TcpListener, GatewayError> {
    if !opts.listen.ip().is_loopback() {
        return Err(GatewayError::NonLoopback(opts.listen));
    }
    match tokio::net::TcpListener::bind(opts.listen).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && opts.fallback_to_free_port => {
            let free = SocketAddr::new(opts.listen.ip(), 0);
            tracing::warn!(addr = %opts.listen, "gateway port in use; listening on a free port instead");
            tokio::net::TcpListener::bind(free)
                .await
                .map_err(|source| GatewayError::Bind { addr: free, source })
        }
        Err(source) => Err(GatewayError::Bind {
            addr: opts.listen,
            source,
        }),
    }
}

fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, GatewayError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| GatewayError::Http(forward::error_chain(&e)))
}

async fn start_inner(
    opts: GatewayOptions,
    upstream: UpstreamRef,
) -> Result<GatewayHandle, GatewayError> {
    let state_dir = match &opts.state_dir {
        Some(d) => d.clone(),
        None => discovery::default_state_dir().ok_or(GatewayError::NoStateDir)?,
    };
    let key = LocalKey::load_or_create(&state_dir).map_err(|source| GatewayError::Key {
        dir: state_dir.display().to_string(),
        source,
    })?;
    let listener = bind(&opts).await?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Bind {
        addr: opts.listen,
        source,
    })?;
    let url = format!("http://{addr}");
    let http = http_client(Duration::from_secs(10))?;
    let resolver = Resolver::new(
        ResolverConfig {
            gateway_host: opts.gateway_host.clone(),
            agent_base_urls: opts.agent_base_urls.clone(),
            workspace_id: opts.workspace_id.clone(),
            legacy_gateway_host: opts.legacy_gateway_host.clone(),
            probe: opts.probe,
            probe_timeout: opts.probe_timeout,
        },
        http.clone(),
    );
    let started_at = SystemTime::now();
    let gw = Arc::new(Gateway {
        settings: Settings {
            body_limit: opts.body_limit,
            retry: opts.retry.clone(),
            idle_timeout: opts.idle_timeout,
            response_timeout: opts.response_timeout,
            log_bodies: opts.log_bodies,
        },
        key,
        upstream: RwLock::new(Arc::new(upstream)),
        resolver,
        usage: usage::UsageStore::default(),
        http,
        url: url.clone(),
        started_at,
    });
    let cancel = CancellationToken::new();
    let app = router(Arc::clone(&gw));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let shutdown = cancel.clone();
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "gateway server stopped");
        }
    });
    if opts.write_discovery {
        let d = Discovery {
            url: url.clone(),
            pid: std::process::id(),
            started_at: crate::server::time::rfc3339(started_at),
        };
        if let Err(e) = discovery::write(&state_dir, &d) {
            tracing::warn!(dir = %state_dir.display(), error = %e, "cannot write the gateway discovery file");
        }
    }
    if opts.warm_up {
        let gw = Arc::clone(&gw);
        tokio::spawn(async move { gw.resolve_all().await });
    }
    tracing::info!(%url, key_file = %gw.key.path().display(), "kiln gateway listening");
    Ok(GatewayHandle {
        gw,
        addr,
        state_dir,
        discovery: opts.write_discovery,
        cancel,
        task: Some(task),
    })
}

/// The gateway's own router: `/health`, `/api/usage` (local key) and every model path.
fn router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/usage", get(usage_with_key))
        .fallback(forward::handle)
        .with_state(gw)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "service": "kiln-gateway"}))
}

async fn usage_with_key(
    State(gw): State<Arc<Gateway>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    if !gw.key.accepts(&headers, uri.query()) {
        let body =
            serde_json::json!({"error": "unauthorized", "message": "missing or wrong local key"});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    Json(gw.snapshot()).into_response()
}

/// `GET /api/usage` for `kiln serve` (state applied; merge it before the access layers).
pub fn usage_router(handle: &GatewayHandle) -> Router {
    Router::new()
        .route("/api/usage", get(usage_plain))
        .with_state(Arc::clone(&handle.gw))
}

async fn usage_plain(State(gw): State<Arc<Gateway>>) -> Json<UsageSnapshot> {
    Json(gw.snapshot())
}
