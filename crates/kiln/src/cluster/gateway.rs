//! `kiln cluster gateway`: the model gateway of a cluster's driver, started by the init script.
//! It takes the workspace and token from its environment (`KILN_DATABRICKS_HOST`,
//! `KILN_DATABRICKS_TOKEN`: spark_env_vars, the token a secret reference), asks SCIM `Me` whose
//! token it is, applies the access policy (`access`: a user's token is refused on a shared
//! cluster), chooses the models from the workspace's serving endpoints, listens on
//! `127.0.0.1:<port>` with its key in `<root>/var/lib/kiln/gateway` (0700), publishes the key
//! for the cluster's users as `<root>/etc/kiln/gateway.key` and describes itself in
//! `<root>/etc/kiln/cluster.json`. The token is never written anywhere.

use super::access::{self, AccessMode, Identity};
use super::info::{self, ClusterInfo, Layout};
use super::{ACCESS_MODE_ENV, HOST_ENV, TOKEN_ENV};
use crate::agents::{plan, resolve};
use crate::gateway::{self, GatewayOptions};
use anyhow::{Context as _, anyhow};
use kiln_databricks::{
    Attr, Client, ConfigLoader, Environment, Error as ApiError, Secret, StaticToken, TokenSource,
};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

/// Options of `kiln cluster gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// File-system root (tests use a scratch directory).
    #[arg(long, env = "KILN_CLUSTER_ROOT", default_value = "/")]
    pub root: PathBuf,
    /// Read the token from the first line of standard input instead of KILN_DATABRICKS_TOKEN
    /// (the init script does this, so the token is in no environment or command line).
    #[arg(long)]
    pub token_stdin: bool,
    /// Loopback port (0: a free one, for tests).
    #[arg(long, env = "KILN_CLUSTER_GATEWAY_PORT", default_value_t = super::DEFAULT_GATEWAY_PORT)]
    pub port: u16,
    /// Tracing of model calls (see docs/observability.md).
    #[command(flatten)]
    pub trace: crate::gateway::TraceArgs,
    /// The workspace URL (the init script has it from the cluster's spark_env_vars).
    #[arg(long, env = HOST_ENV, value_name = "URL")]
    pub host: Option<String>,
    /// The token (in spark_env_vars, a secret reference). Prefer the environment or
    /// --token-stdin: a command line can be read by other users of the machine.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
    /// The cluster's access mode (`SINGLE_USER`, `USER_ISOLATION`, …): decides whose token is
    /// accepted (docs/cluster.md).
    #[arg(long, env = ACCESS_MODE_ENV, value_name = "MODE")]
    pub access_mode: Option<String>,
    #[command(flatten)]
    pub settings: crate::gateway::cli::GatewaySettings,
}

/// A Databricks client for `host` with a fixed token.
pub fn client_for(host: &str, token: Secret) -> anyhow::Result<Client> {
    let config = ConfigLoader::new(Environment::new())
        .set(Attr::Host, host)
        .load()
        .map_err(|e| anyhow!("{HOST_ENV}={host:?}: {e}"))?;
    let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token));
    Client::with_token_source(&config, source, resolve::client_options())
        .map_err(|e| anyhow!("{e}"))
}

/// A flag's value unless it is blank.
fn given(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.trim().is_empty())
}

/// Runs the gateway until SIGTERM / SIGINT.
pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    if let Err(e) = crate::credentials::make_non_dumpable() {
        tracing::warn!(error = %e, "cannot make the gateway non-dumpable");
    }
    let layout = Layout::new(&args.root);
    let host = given(&args.host)
        .ok_or_else(|| anyhow!("{HOST_ENV} is not set (the workspace URL, in spark_env_vars)"))?;
    let token = if args.token_stdin {
        read_token_line()?
    } else {
        given(&args.token).ok_or_else(|| {
            anyhow!("{TOKEN_ENV} is not set (a {{{{secrets/<scope>/<key>}}}} reference in spark_env_vars)")
        })?
    };
    let token = Secret::new(token.trim().to_owned());
    let mode_value = given(&args.access_mode).unwrap_or_default();
    let mode = AccessMode::parse(&mode_value);
    let client = client_for(&host, token.clone())?;

    let me = client.scim().me().await.map_err(|e| match e {
        ApiError::PermissionDenied(_) | ApiError::Unauthenticated(_) => anyhow!(
            "{host} does not accept the token in {TOKEN_ENV} ({e}): put a valid token in the \
             secret the cluster's spark_env_vars reference, then restart the cluster"
        ),
        other => anyhow!("cannot ask {host} whose token this is (SCIM Me): {other}"),
    })?;
    let identity = if me.is_service_principal() {
        Identity {
            kind: "service_principal".into(),
            name: me.user_name.clone(),
        }
    } else {
        Identity {
            kind: "user".into(),
            name: me.email().unwrap_or(&me.user_name).to_owned(),
        }
    };
    access::check(&mode, &identity)?;
    tracing::info!(%host, access_mode = %mode, identity = %identity.name, kind = %identity.kind, "token accepted");

    let ws = resolve::workspace(Some(&client), &resolve::process_env()).await;
    for n in &ws.notes {
        tracing::warn!(note = %n, "workspace");
    }

    let opts = GatewayOptions {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        fallback_to_free_port: false,
        state_dir: Some(layout.gateway_state()),
        write_discovery: true,
        trace: args.trace.settings()?,
        ..GatewayOptions::default()
    };
    let opts = args.settings.apply(opts);
    let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(token));
    let handle = gateway::start(opts, host.clone(), source).await?;

    // The key for the cluster's users (see `access` for who that is).
    let key = format!("{}\n", handle.key().expose());
    let shared_key = layout.shared_key_file();
    plan::write_atomic(&shared_key, key.as_bytes(), false)
        .map_err(|e| anyhow!("{e}"))
        .with_context(|| format!("publishing the gateway key as {}", shared_key.display()))?;
    let info = ClusterInfo {
        gateway_url: handle.url().to_owned(),
        key_file: shared_key,
        pid: std::process::id(),
        access_mode: mode_value,
        identity,
        host,
        models: ws.models,
        started_at: crate::time::rfc3339(std::time::SystemTime::now()),
    };
    let info_path = layout.info_file();
    info::write(&info_path, &info).with_context(|| format!("writing {}", info_path.display()))?;
    println!("kiln cluster gateway: listening on {}", handle.url());
    println!(
        "kiln cluster gateway: model calls act as {} ({}), access mode {mode}",
        info.identity.name, info.identity.kind
    );

    wait_for_signal().await;
    tracing::info!("signal received; stopping the gateway");
    if info::read(&info_path).is_ok_and(|i| i.pid == info.pid) {
        let _ = std::fs::remove_file(&info_path);
    }
    handle.shutdown().await;
    Ok(())
}

/// The first line of standard input (at most 64 KiB), for `--token-stdin`.
fn read_token_line() -> anyhow::Result<String> {
    use std::io::{BufRead as _, Read as _};
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(64 << 10)
        .read_line(&mut line)
        .context("reading the token from standard input")?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(anyhow!("--token-stdin: standard input held no token"));
    }
    Ok(line)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; running until killed");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
