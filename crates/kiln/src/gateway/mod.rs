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
//! `upstream` (resolution order), `probe`, `retry`, `sse`, `outcome` (what one call reported,
//! the bounds of the per-agent stores), `usage` (per agent and model, this
//! session), `today` (today's totals, kept across restarts), `trace` (calls as MLflow traces),
//! `discovery` (`~/.kiln/gateway.json`), `options`, `cli` (`kiln gateway`), `serve` (inside
//! `kiln serve`).
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
mod http;
mod options;
pub mod outcome;
pub mod paths;
pub mod probe;
mod relay;
pub mod retry;
pub mod serve;
pub mod sse;
pub mod today;
pub mod trace;
pub mod upstream;
pub mod usage;

pub use auth::LocalKey;
pub use discovery::{Discovery, find_running};
pub use options::{DEFAULT_BODY_LIMIT, DEFAULT_PORT, GatewayError, GatewayOptions};
pub use paths::{Caller, Flavour};
pub use retry::RetryBounds;
pub use trace::{TraceArgs, TraceStatus};
pub use usage::{AgentUsage, UsageSnapshot, format_snapshot};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kiln_databricks::credentials::ConfigFileSource;
use kiln_databricks::{Secret, TokenSource};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use upstream::{Resolver, ResolverConfig};

/// How long shutdown waits for open answers (5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    upstream: Arc<RwLock<Arc<UpstreamRef>>>,
    pub resolver: Resolver,
    pub usage: usage::UsageStore,
    pub today: today::TodayStore,
    pub tracer: trace::Tracer,
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

    /// Counts one finished call in this session's and today's usage.
    pub fn record(&self, outcome: &outcome::Outcome) {
        self.usage.record(outcome);
        self.today.record(outcome);
    }

    fn snapshot(&self) -> UsageSnapshot {
        let host = self.upstream().host();
        UsageSnapshot {
            url: self.url.clone(),
            started_at: crate::time::rfc3339(self.started_at),
            tracing: self.tracer.status(&host),
            host,
            upstreams: self.resolver.statuses(),
            agents: self.usage.entries(),
            today: self.today.snapshot(),
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

    /// The credentials changed (e.g. the first token arrived): upstreams chosen for want of a
    /// probe answer are resolved again on the next request.
    pub fn credentials_changed(&self) {
        self.gw.resolver.clear_inconclusive();
    }

    /// A token that is cancelled when the gateway stops.
    pub fn cancelled(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Stops accepting requests and removes the discovery file, without waiting.
    pub fn stop(&self) {
        self.cancel.cancel();
        self.remove_discovery();
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
    spawn(opts, host, source)
}

/// Like [`start`], for callers that are not async; must run inside a tokio runtime.
pub fn spawn(
    opts: GatewayOptions,
    host: String,
    source: Arc<dyn TokenSource>,
) -> Result<GatewayHandle, GatewayError> {
    let upstream = UpstreamRef {
        host: HostRef::Fixed(host.trim_end_matches('/').to_owned()),
        source,
    };
    spawn_inner(opts, upstream)
}

/// Starts a gateway that follows the standard Databricks configuration: host and token are
/// re-read when the config file changes.
pub async fn start_with_config(
    opts: GatewayOptions,
    config: Arc<ConfigFileSource>,
) -> Result<GatewayHandle, GatewayError> {
    let source: Arc<dyn TokenSource> = config.clone();
    spawn_inner(
        opts,
        UpstreamRef {
            host: HostRef::Config(config),
            source,
        },
    )
}

fn bind(opts: &GatewayOptions) -> Result<tokio::net::TcpListener, GatewayError> {
    if !opts.listen.ip().is_loopback() {
        return Err(GatewayError::NonLoopback(opts.listen));
    }
    let std_listener = match std::net::TcpListener::bind(opts.listen) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && opts.fallback_to_free_port => {
            let free = SocketAddr::new(opts.listen.ip(), 0);
            tracing::warn!(addr = %opts.listen, "gateway port in use; listening on a free port instead");
            std::net::TcpListener::bind(free)
                .map_err(|source| GatewayError::Bind { addr: free, source })?
        }
        Err(source) => {
            return Err(GatewayError::Bind {
                addr: opts.listen,
                source,
            });
        }
    };
    let bound = |source| GatewayError::Bind {
        addr: opts.listen,
        source,
    };
    std_listener.set_nonblocking(true).map_err(bound)?;
    tokio::net::TcpListener::from_std(std_listener).map_err(bound)
}

fn http_client(connect_timeout: Duration) -> Result<reqwest::Client, GatewayError> {
    crate::http::client::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .map_err(|e| GatewayError::Http(crate::http::client::error_chain(&e)))
}

fn spawn_inner(opts: GatewayOptions, upstream: UpstreamRef) -> Result<GatewayHandle, GatewayError> {
    let state_dir = match &opts.state_dir {
        Some(d) => d.clone(),
        None => crate::state::default_dir().ok_or(GatewayError::NoStateDir)?,
    };
    let key = LocalKey::load_or_create(&state_dir).map_err(|source| GatewayError::Key {
        dir: state_dir.display().to_string(),
        source,
    })?;
    let listener = bind(&opts)?;
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
    let cancel = CancellationToken::new();
    let upstream = Arc::new(RwLock::new(Arc::new(upstream)));
    let tracer = match opts.trace.clone() {
        Some(settings) => {
            let current = Arc::clone(&upstream);
            let source: trace::export::SourceFn = Arc::new(move || {
                let u = Arc::clone(&current.read().unwrap_or_else(PoisonError::into_inner));
                (u.host(), Arc::clone(&u.source))
            });
            trace::Tracer::start(settings, source, cancel.clone())
        }
        None => trace::Tracer::off(),
    };
    let today = today::TodayStore::load(&state_dir);
    let gw = Arc::new(Gateway {
        settings: Settings {
            body_limit: opts.body_limit,
            retry: opts.retry.clone(),
            idle_timeout: opts.idle_timeout,
            response_timeout: opts.response_timeout,
            log_bodies: opts.log_bodies,
        },
        key,
        upstream,
        resolver,
        usage: usage::UsageStore::default(),
        today,
        tracer,
        http,
        url: url.clone(),
        started_at,
    });
    let app = router(Arc::clone(&gw));
    let shutdown = cancel.clone();
    today::spawn_saver(Arc::clone(&gw), cancel.clone());
    let task = tokio::spawn(async move {
        let limits = crate::http::conn::Limits::default();
        let served = crate::http::conn::serve(listener, app, limits, shutdown).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "gateway server stopped");
        }
    });
    if opts.write_discovery {
        let d = Discovery {
            url: url.clone(),
            pid: std::process::id(),
            started_at: crate::time::rfc3339(started_at),
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

/// `GET /api/usage` for `kiln serve`. The handler captures the gateway, so the router fits any
/// state type; merge it before the access layers.
pub fn usage_router<S>(handle: &GatewayHandle) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let gw = Arc::clone(&handle.gw);
    Router::new().route(
        "/api/usage",
        get(move || {
            let gw = Arc::clone(&gw);
            async move { Json(gw.snapshot()) }
        }),
    )
}
