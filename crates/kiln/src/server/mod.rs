//! The HTTP server of `kiln serve`: router, access checks, terminal transports, uploads, status.
//!
//! Connections are served by `conn.rs` (head, body and idle timeouts, a connection cap).
//! Layers, outermost first: request log -> security headers -> no repeated identity header
//! (`guard.rs`) -> access check (the access key, or
//! on Databricks Apps the owner check of `owner.rs`) -> same-origin rule -> owner activity ->
//! routes. `/health`, the UI's static files and the sign-in (`POST /api/login`) are the only
//! routes the access check lets through without the key (`access.rs`).

pub mod access;
pub mod assets;
pub mod cli;
mod credentials_api;
mod guard;
pub mod login;
pub mod owner;
mod poll;
mod sessions;
mod settings;
mod status;
mod uploads;
mod ws;

/// Parsers of outside input, public for the property tests (`tests/integration/fuzz.rs`).
pub use uploads::sanitise;
pub use ws::parse_offset;

use crate::http::conn;
pub use crate::http::{ApiJson, AppError};
pub use access::AccessKey;
pub use guard::CSP;
pub use login::LoginCodes;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kiln_term::Manager;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Largest JSON body (64 KiB) and largest long-poll input body (1 MiB: a session's whole input
/// queue, so a POST is queued whole or not at all).
const JSON_LIMIT_BYTES: usize = 64 << 10;
const INPUT_LIMIT_BYTES: usize = kiln_term::INPUT_QUEUE_BYTES;
/// How long shutdown waits for shells to end (5 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Settings of a server.
#[derive(Debug, Clone)]
pub struct Options {
    pub key: AccessKey,
    /// One-time browser sign-in codes (`kiln serve` issues the printed one).
    pub login: LoginCodes,
    pub term: kiln_term::Options,
    /// Largest upload (32 MiB).
    pub upload_limit: usize,
    /// How long `POST …/input` waits for room in a session's input queue before it answers 503
    /// with nothing written (10 s).
    pub input_wait: Duration,
    /// Where uploads go; `None` means `$HOME/uploads` of the shells.
    pub uploads_dir: Option<PathBuf>,
    /// Serve the UI from this directory instead of the embedded bundle (development).
    pub ui_dir: Option<PathBuf>,
    /// Program to run instead of the login shell (tests).
    pub command: Option<Vec<String>>,
    /// Databricks Apps owner check, the Databricks token, its rotation and broker.
    pub credentials: crate::credentials::CredentialsOptions,
    /// The local model gateway (`None`: not started).
    pub gateway: Option<crate::gateway::GatewayOptions>,
    /// Agents setup at start (`None`: off; `GET /api/agents` then answers `{"enabled": false}`).
    pub agents: Option<crate::agents::SetupOptions>,
    /// Workspace sync of `~/projects` (`None`: off; started only when a workspace is configured).
    pub sync: Option<crate::sync::SyncOptions>,
    /// Connection bounds: head, body and idle timeouts, the connection cap.
    pub limits: conn::Limits,
}

impl Options {
    pub fn new(key: AccessKey) -> Self {
        Self {
            key,
            login: LoginCodes::default(),
            term: kiln_term::Options::default(),
            upload_limit: 32 << 20,
            input_wait: Duration::from_secs(10),
            uploads_dir: None,
            ui_dir: None,
            command: None,
            credentials: crate::credentials::CredentialsOptions::default(),
            gateway: None,
            agents: None,
            sync: None,
            limits: conn::Limits::default(),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub manager: Manager,
    pub key: AccessKey,
    pub login: LoginCodes,
    pub started: Instant,
    pub shutdown: CancellationToken,
    pub upload_limit: usize,
    pub input_wait: Duration,
    /// See [`conn::Limits::ws_ping_every`].
    pub ws_ping_every: Duration,
    pub uploads_dir: PathBuf,
    /// See [`Options::ui_dir`].
    pub ui_dir: Option<PathBuf>,
    pub command: Option<Vec<String>>,
    pub credentials: crate::credentials::Credentials,
    /// The model gateway, when one runs (`GET /api/usage`).
    pub gateway: Option<Arc<crate::gateway::GatewayHandle>>,
    /// The agents setup runner, when setup is on (`GET /api/agents`).
    pub agents: Option<crate::agents::SetupRunner>,
    /// The web UI's settings file (`GET/PUT /api/settings`).
    pub settings_file: PathBuf,
    /// The workspace sync task, when it runs (`GET /api/sync`).
    pub sync: Option<crate::sync::SyncHandle>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The full router with every layer.
pub fn router(state: AppState) -> Router {
    let usage = match &state.gateway {
        Some(g) => crate::gateway::usage_router(g),
        // No gateway: say so (a 404 would be a console error in every browser without one).
        None => Router::new().route(
            "/api/usage",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"gateway": false})) }),
        ),
    };
    let agents = match &state.agents {
        Some(r) => crate::agents::setup_router(r.clone()),
        // Setup is off: say so with a 200, so a page that asks logs no failed request.
        None => Router::new().route(
            "/api/agents",
            get(|| async { axum::Json(serde_json::json!({"enabled": false})) }),
        ),
    };
    let api = Router::new()
        .route("/api/status", get(status::status))
        .route("/api/sessions", get(sessions::list).post(sessions::create))
        .route(
            "/api/sessions/{id}",
            get(sessions::get)
                .patch(sessions::rename)
                .delete(sessions::delete),
        )
        .route("/api/sessions/{id}/ws", get(ws::upgrade))
        .route("/api/sessions/{id}/output", get(poll::output))
        .route(
            "/api/sessions/{id}/input",
            post(poll::input).layer(DefaultBodyLimit::max(INPUT_LIMIT_BYTES)),
        )
        .route("/api/sessions/{id}/resize", post(poll::resize))
        .route("/api/uploads", post(uploads::upload))
        .route(login::LOGIN_PATH, post(login::login))
        .route("/api/login-links", post(login::new_link))
        .merge(credentials_api::router())
        .merge(settings::router())
        .merge(usage)
        .merge(agents)
        .merge(crate::sync::api::router(state.sync.clone()))
        .layer(DefaultBodyLimit::max(JSON_LIMIT_BYTES));
    Router::new()
        .route("/health", get(status::health))
        .merge(api)
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            state.clone(),
            credentials_api::note_activity,
        ))
        .layer(from_fn(guard::same_origin_only))
        .layer(from_fn_with_state(state.clone(), owner::require_access))
        .layer(from_fn(guard::single_valued_headers))
        .layer(from_fn(guard::security_headers))
        .layer(from_fn(guard::log_requests))
        .with_state(state)
}

async fn fallback(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if (method == Method::GET || method == Method::HEAD) && !uri.path().starts_with("/api/") {
        return assets::fallback(state.ui_dir.as_deref(), uri, headers).await;
    }
    AppError::not_found("route").into_response()
}

async fn method_not_allowed() -> Response {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
    .into_response()
}

/// Builds the state for `opts`; must run inside a tokio runtime.
pub fn state(mut opts: Options, shutdown: CancellationToken) -> AppState {
    let home = opts
        .term
        .home
        .clone()
        .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/"));
    let uploads_dir = opts
        .uploads_dir
        .clone()
        .unwrap_or_else(|| home.join("uploads"));
    let credentials =
        crate::credentials::Credentials::start(opts.credentials, &home, shutdown.clone());
    opts.term.extra_env.extend(credentials.terminal_env());
    let manager = Manager::new(opts.term);
    let probe = manager.clone();
    credentials.set_session_probe(Arc::new(move || probe.capacity().live));
    let gateway = opts
        .gateway
        .take()
        .and_then(|g| crate::gateway::serve::spawn_for_server(g, &credentials, shutdown.clone()));
    let agents = opts.agents.take().map(|a| {
        crate::agents::serve::spawn_for_server(
            a,
            &credentials,
            gateway.as_deref(),
            shutdown.clone(),
        )
    });
    let sync = opts
        .sync
        .take()
        .and_then(|s| start_sync(s, &credentials, shutdown.clone()));
    AppState(Arc::new(Inner {
        manager,
        key: opts.key,
        login: opts.login,
        started: Instant::now(),
        shutdown,
        upload_limit: opts.upload_limit,
        input_wait: opts.input_wait,
        ws_ping_every: opts.limits.ws_ping_every,
        uploads_dir,
        ui_dir: opts.ui_dir,
        command: opts.command,
        credentials,
        gateway,
        agents,
        settings_file: settings::path_for(&home),
        sync,
    }))
}

/// Starts the sync task and its control listener when a workspace is configured.
fn start_sync(
    opts: crate::sync::SyncOptions,
    credentials: &crate::credentials::Credentials,
    shutdown: CancellationToken,
) -> Option<crate::sync::SyncHandle> {
    let Some(host) = credentials.host() else {
        tracing::info!("no Databricks workspace configured: projects are not synced");
        return None;
    };
    let remote = match crate::sync::Remote::with_token_source(
        host,
        credentials.token_source(),
        opts.request_budget,
    ) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "workspace sync is off");
            return None;
        }
    };
    let kiln_dir = opts.kiln_dir.clone();
    let handle = crate::sync::service::spawn(
        opts,
        remote,
        Some(credentials.cell().subscribe()),
        shutdown.clone(),
    );
    if let Err(e) = crate::state::ensure_private_dir(&kiln_dir)
        .and_then(|()| crate::sync::control::start(handle.clone(), &kiln_dir, shutdown))
    {
        tracing::warn!(error = %e, "`kiln sync` cannot reach this server (control listener)");
    }
    Some(handle)
}

/// Serves on `listener` until `shutdown` is cancelled, then tells every viewer, ends every
/// session and returns.
pub async fn listen(
    listener: tokio::net::TcpListener,
    opts: Options,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let limits = opts.limits;
    let state = state(opts, shutdown.clone());
    let manager = state.manager.clone();
    let credentials = state.credentials.clone();
    let gateway = state.gateway.clone();
    let app = router(state);
    conn::serve(listener, app, limits, shutdown.clone()).await?;
    if let Some(gw) = &gateway {
        gw.stop();
    }
    tokio::join!(manager.shutdown(SHUTDOWN_GRACE), credentials.shutdown());
    Ok(())
}
