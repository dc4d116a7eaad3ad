//! `kiln serve`: options from the command line and environment, the listener, the printed URL,
//! and signals (SIGTERM/SIGINT: tell viewers, end shells, exit within 10 s; a second one exits
//! at once). On Databricks Apps (`DATABRICKS_APP_NAME` and `DATABRICKS_APP_PORT` set) it binds
//! `0.0.0.0:$DATABRICKS_APP_PORT` and checks the owner instead of an access key; elsewhere the
//! Databricks token comes from the usual configuration (environment or `--profile`).

use crate::credentials::{self, AppsEnv, AppsSettings, ConfigSource, CredentialsOptions};
use crate::server::{self, AccessKey};
use kiln_databricks::credentials::ConfigFileSource;
use kiln_databricks::{Attr, ConfigLoader, Environment};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest time from a signal to exit (8 s, within the 10 s promised).
const EXIT_DEADLINE: Duration = Duration::from_secs(8);

/// Arguments of `kiln serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs an explicit access key.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
    /// The access key browsers sign in with (at least 16 characters: letters, digits, - _ . ~).
    /// Default: a random one, printed at start. Prefer the environment variable: a command
    /// line can be read by other users of the machine.
    #[arg(
        long,
        env = "KILN_ACCESS_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub access_key: Option<String>,
    /// Lifetime of the Databricks tokens kiln mints, in seconds (10 to 86400) [default: 900].
    #[arg(long, env = "KILN_TOKEN_LIFETIME_SECONDS", value_name = "SECONDS")]
    pub token_lifetime_seconds: Option<String>,
    /// On Databricks Apps: the owner's email, for when the app's service principal cannot read
    /// its own app (default: the app's creator).
    #[arg(long, env = "KILN_OWNER", value_name = "EMAIL")]
    pub owner: Option<String>,
    /// Bytes of output kept per session for reconnects.
    #[arg(long, default_value_t = 4 << 20)]
    pub ring_bytes: usize,
    /// Most terminal sessions at once.
    #[arg(long, default_value_t = 20)]
    pub max_sessions: usize,
    /// Shell to start (default: $SHELL, else /bin/bash).
    #[arg(long)]
    pub shell: Option<PathBuf>,
    /// Largest upload, in MiB.
    #[arg(long, default_value_t = 32)]
    pub upload_limit_mib: usize,
    /// Hours without user activity before a session is ended.
    #[arg(long, default_value_t = 24)]
    pub idle_hours: u64,
    /// Seconds between the keep-alive pings of a terminal WebSocket (1 to 3600). A browser that
    /// answers nothing for three intervals (it slept, its network dropped) is disconnected; it
    /// reconnects where it left off when it wakes.
    #[arg(long, env = "KILN_WS_PING_SECONDS", default_value_t = 20, value_name = "SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ws_ping_seconds: u64,
    /// Databricks configuration profile to take the token from (outside Databricks Apps).
    /// Default: the environment (`DATABRICKS_HOST`, `DATABRICKS_TOKEN`, …), then the config
    /// file's default profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Sync git projects under ~/projects to the workspace on every commit and restore missing
    /// ones at start (on when a workspace is configured; see docs/sync.md).
    #[arg(long, env = "KILN_SYNC", default_value_t = true, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub sync: bool,
    /// Seconds one workspace request of the sync may spend on retries (429/503/connection)
    /// before the sync is marked failed and retried later.
    #[arg(long, env = "KILN_SYNC_REQUEST_BUDGET_SECONDS", default_value_t = 60)]
    pub sync_request_budget_seconds: u64,
    /// Tracing of the agents' model calls as MLflow traces (see docs/observability.md).
    #[command(flatten)]
    pub trace: crate::gateway::TraceArgs,
    /// Serve the web UI from this directory (a built web/dist) instead of the embedded bundle,
    /// for UI development.
    #[arg(long, env = "KILN_UI_DIR", value_name = "DIR")]
    pub ui_dir: Option<std::ffi::OsString>,
    /// The coding agents' setup at start (`--agents-setup 1`, `--agents`, `--manifest`).
    #[command(flatten)]
    pub agents: crate::agents::args::ServeSetupArgs,
    /// The model gateway's settings.
    #[command(flatten)]
    pub gateway: crate::gateway::cli::GatewaySettings,
}

/// Why `kiln serve` could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn options(args: &ServeArgs, apps: Option<AppsSettings>) -> Result<server::Options, ServeError> {
    let key = match args.access_key.as_deref() {
        Some(k) if !k.is_empty() => AccessKey::fixed(k).map_err(ServeError::Config)?,
        // On Databricks Apps the owner check replaces the key (the proxy is the only way in).
        _ if apps.is_some() => AccessKey::random()?,
        _ if !args.bind.ip().is_loopback() => {
            return Err(ServeError::Config(format!(
                "refusing to listen on {} (not loopback) with a random access key: set KILN_ACCESS_KEY \
                 to a key of at least 16 characters, or bind 127.0.0.1",
                args.bind
            )));
        }
        _ => AccessKey::random()?,
    };
    let mut opts = server::Options::new(key);
    opts.term.ring_bytes = args.ring_bytes.max(64 << 10);
    opts.term.max_sessions = args.max_sessions.max(1);
    opts.term.shell = args.shell.clone();
    opts.term.idle_timeout = Duration::from_secs(args.idle_hours.max(1) * 3600);
    opts.ui_dir = args
        .ui_dir
        .clone()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    opts.upload_limit = args.upload_limit_mib.max(1) << 20;
    opts.limits.ws_ping_every = Duration::from_secs(args.ws_ping_seconds);
    let in_apps = apps.is_some();
    opts.credentials = credential_options(args, apps)?;
    let mut gateway = args
        .gateway
        .apply(crate::gateway::GatewayOptions::default());
    gateway.trace = args
        .trace
        .settings()
        .map_err(|e| ServeError::Config(e.to_string()))?;
    opts.gateway = Some(gateway);
    opts.agents = crate::agents::serve::options_for_serve(in_apps, &args.agents);
    if args.sync
        && let Some(home) = std::env::var_os("HOME")
    {
        let mut sync = crate::sync::SyncOptions::new(PathBuf::from(home));
        sync.request_budget = Duration::from_secs(args.sync_request_budget_seconds.max(1));
        opts.sync = Some(sync);
    }
    Ok(opts)
}

/// `--token-lifetime-seconds` / `KILN_TOKEN_LIFETIME_SECONDS`, checked against the accepted range.
fn token_lifetime(raw: Option<&str>) -> Result<Duration, ServeError> {
    let Some(raw) = raw else {
        return Ok(credentials::DEFAULT_LIFETIME);
    };
    let range = credentials::MIN_LIFETIME.as_secs()..=credentials::MAX_LIFETIME.as_secs();
    match raw.trim().parse::<u64>() {
        Ok(secs) if range.contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(ServeError::Config(format!(
            "KILN_TOKEN_LIFETIME_SECONDS is {raw:?}; it must be a number of seconds from {} to {}",
            range.start(),
            range.end()
        ))),
    }
}

fn credential_options(
    args: &ServeArgs,
    apps: Option<AppsSettings>,
) -> Result<CredentialsOptions, ServeError> {
    let mut opts = CredentialsOptions {
        lifetime: token_lifetime(args.token_lifetime_seconds.as_deref())?,
        ..CredentialsOptions::default()
    };
    if apps.is_some() {
        opts.apps = apps;
        return Ok(opts);
    }
    let mut loader = ConfigLoader::new(Environment::from_process());
    if let Some(p) = &args.profile {
        loader = loader.set_from(Attr::Profile, p, "--profile");
    }
    let config = match loader.load() {
        Ok(c) => c,
        Err(e) if args.profile.is_some() => return Err(ServeError::Config(e.to_string())),
        Err(e) => {
            tracing::info!(error = %e, "no usable Databricks configuration; Databricks features are off");
            return Ok(opts);
        }
    };
    opts.host = config.host().map(str::to_owned);
    opts.workspace_id = config.workspace_id().map(str::to_owned);
    // The token follows the configuration: an edited profile file takes effect without a restart.
    match ConfigFileSource::from_process(args.profile.as_deref()) {
        Ok(source) => {
            let description = source.describe();
            opts.host = Some(source.host());
            opts.config_source = Some(ConfigSource {
                source: std::sync::Arc::new(source),
                description,
            });
        }
        Err(e) => tracing::info!(
            error = %e,
            "the Databricks configuration has no usable credentials; paste a token in the UI"
        ),
    }
    Ok(opts)
}

async fn serve(args: ServeArgs, apps: Option<AppsSettings>) -> Result<(), ServeError> {
    let bind = match &apps {
        Some(a) => SocketAddr::from(([0, 0, 0, 0], a.env.port)),
        None => args.bind,
    };
    let in_apps = apps.is_some();
    let opts = options(&args, apps)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError::Bind { addr: bind, source })?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("kiln: serving on http://{addr}");
    if in_apps {
        println!(
            "kiln: Databricks Apps mode: only the app's owner gets in, through the Apps proxy"
        );
    } else {
        let code = opts.login.issue()?;
        println!(
            "kiln: open http://{host}{}",
            server::login::link_path(&code)
        );
        println!(
            "kiln: (a one-time sign-in link; the browser then keeps the key for this address. \
             Another browser asks for the access key: {})",
            opts.key.reveal()
        );
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    let served = tokio::spawn(server::listen(listener, opts, shutdown.clone()));
    shutdown.cancelled().await;
    match tokio::time::timeout(EXIT_DEADLINE, served).await {
        Ok(Ok(result)) => result?,
        Ok(Err(e)) => tracing::error!(error = %e, "server task failed"),
        Err(_) => tracing::warn!("shutdown took too long; exiting anyway"),
    }
    Ok(())
}

async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("signal received; shutting down (send it again to exit at once)");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    eprintln!("kiln: second signal; exiting now");
    std::process::exit(130);
}

/// What `kiln serve` does before the runtime (and so any other thread) exists: on Databricks
/// Apps the service principal secret is taken (this may re-execute kiln without it in the
/// environment; see [`credentials::sp_secret`]), then the process is made non-dumpable. `Err`
/// carries the exit status when kiln cannot go on.
pub fn prepare(args: &ServeArgs) -> Result<Option<AppsSettings>, ExitCode> {
    let apps = match AppsEnv::from_process() {
        Ok(Some(env)) => Some(AppsSettings {
            env: env.with_owner(args.owner.as_deref()),
            sp_secret: credentials::sp_secret::take(),
        }),
        Ok(None) => None,
        Err(e) => {
            eprintln!("kiln: {e}");
            return Err(ExitCode::FAILURE);
        }
    };
    if let Err(e) = credentials::make_non_dumpable() {
        tracing::warn!(error = %e, "cannot make the process non-dumpable");
    }
    Ok(apps)
}

/// Runs `kiln serve` to completion, with what [`prepare`] returned.
pub async fn run(args: ServeArgs, apps: Option<AppsSettings>) -> ExitCode {
    match serve(args, apps).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln: {e}");
            ExitCode::FAILURE
        }
    }
}
