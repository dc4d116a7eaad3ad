//! `kiln gateway`: runs the gateway on its own, with the token from the standard Databricks
//! configuration (environment or a `~/.databrickscfg` profile, re-read when the file changes),
//! until SIGTERM / SIGINT; `kiln gateway status` shows a running gateway's upstreams and usage
//! ([`fetch_usage`] is the same call for `kiln agents status`).

use super::{Caller, GatewayOptions, LocalKey, UsageSnapshot, discovery, format_snapshot};
use anyhow::{Context as _, anyhow, bail};
use kiln_databricks::credentials::ConfigFileSource;
use kiln_databricks::{Secret, TokenSource as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `kiln gateway`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct GatewayArgs {
    /// What to do (default: run the gateway).
    #[command(subcommand)]
    pub command: Option<GatewayCommand>,
    /// Options of the gateway itself.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands of `kiln gateway`.
#[derive(Debug, clap::Subcommand)]
pub enum GatewayCommand {
    /// Show the running gateway's upstreams and usage per agent and model.
    Status(StatusArgs),
}

/// Options of a gateway run.
#[derive(Debug, Default, clap::Args)]
pub struct RunArgs {
    /// Loopback address to listen on [default: 127.0.0.1:8790, or a free port if taken].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to take the workspace and token from.
    #[arg(long)]
    pub profile: Option<String>,
    /// Upstream base URL for one agent, AGENT=URL (claude, codex, gemini, opencode, hermes, other); repeatable.
    #[arg(long = "base-url", value_name = "AGENT=URL")]
    pub base_urls: Vec<String>,
    /// Do not probe the AI Gateway: use /serving-endpoints unless an override applies.
    #[arg(long)]
    pub no_probe: bool,
    /// Tracing of model calls as MLflow traces (see docs/observability.md).
    #[command(flatten)]
    pub trace: super::TraceArgs,
    #[command(flatten)]
    pub settings: GatewaySettings,
}

/// Settings of every gateway kiln runs (`kiln serve`'s, `kiln gateway`, `kiln cluster gateway`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GatewaySettings {
    /// Log model request bodies (prompts) at debug level: `1` or `true` turns it on. Off by
    /// default.
    #[arg(
        long = "gateway-log-bodies",
        env = "KILN_GATEWAY_LOG_BODIES",
        value_name = "1|0"
    )]
    pub log_bodies: Option<String>,
}

impl GatewaySettings {
    /// `opts` with these settings and the process environment's (see
    /// [`GatewayOptions::with_process_env`]).
    pub fn apply(&self, opts: GatewayOptions) -> GatewayOptions {
        let mut opts = opts.with_process_env();
        if self
            .log_bodies
            .as_deref()
            .is_some_and(|v| v == "1" || v == "true")
        {
            opts.log_bodies = true;
        }
        opts
    }
}

/// Arguments of `kiln gateway status`.
#[derive(Debug, Default, clap::Args)]
pub struct StatusArgs {
    /// Gateway URL (default: the one in ~/.kiln/gateway.json).
    #[arg(long)]
    pub gateway: Option<String>,
    /// Print the JSON of /api/usage.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kiln gateway …` to completion.
pub async fn run(args: GatewayArgs) -> ExitCode {
    let result = match args.command {
        Some(GatewayCommand::Status(s)) => status(s).await,
        None => run_gateway(args.run).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln gateway: {e:#}");
            ExitCode::from(e.downcast_ref::<ConfigProblem>().map_or(1, |_| 2))
        }
    }
}

/// A configuration problem (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct ConfigProblem(String);

/// Parses `AGENT=URL` pairs.
pub fn parse_base_urls(
    pairs: &[String],
) -> anyhow::Result<std::collections::BTreeMap<Caller, String>> {
    let mut out = std::collections::BTreeMap::new();
    for pair in pairs {
        let (agent, url) = pair.split_once('=').ok_or_else(|| {
            anyhow!(ConfigProblem(format!(
                "--base-url {pair:?}: expected AGENT=URL"
            )))
        })?;
        let agent = Caller::from_name(agent.trim()).ok_or_else(|| {
            anyhow!(ConfigProblem(format!(
                "--base-url {pair:?}: unknown agent (claude, codex, gemini, opencode, hermes, other)"
            )))
        })?;
        if url.trim().is_empty() {
            bail!(ConfigProblem(format!("--base-url {pair:?}: empty URL")));
        }
        out.insert(agent, url.trim().to_owned());
    }
    Ok(out)
}

async fn run_gateway(args: RunArgs) -> anyhow::Result<()> {
    let source = ConfigFileSource::from_process(args.profile.as_deref())
        .map_err(|e| anyhow!(ConfigProblem(e.to_string())))?;
    let mut opts = args.settings.apply(GatewayOptions::default());
    if let Some(listen) = args.listen {
        opts.listen = listen;
        opts.fallback_to_free_port = false;
    }
    if !opts.listen.ip().is_loopback() {
        bail!(ConfigProblem(format!(
            "refusing to listen on {}: the gateway only listens on loopback (127.0.0.1 or ::1)",
            opts.listen
        )));
    }
    opts.agent_base_urls = parse_base_urls(&args.base_urls)?;
    opts.probe = !args.no_probe;
    opts.trace = args
        .trace
        .settings()
        .map_err(|e| anyhow!(ConfigProblem(e.to_string())))?;
    let host = source.host();
    let auth = source.auth_type().to_owned();
    let source = Arc::new(source);
    let handle = super::start_with_config(opts, source).await?;
    println!("kiln gateway: listening on {}", handle.url());
    println!("kiln gateway: workspace {host} (auth {auth})");
    println!("kiln gateway: local key in {}", handle.key_path().display());
    println!("KILN_GATEWAY_URL={}", handle.url());
    wait_for_signal(handle.cancelled()).await;
    tracing::info!("signal received; stopping the gateway");
    handle.shutdown().await;
    Ok(())
}

async fn wait_for_signal(cancelled: tokio_util::sync::CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        cancelled.cancelled().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
        _ = cancelled.cancelled() => {},
    }
}

/// `GET <url>/api/usage` with the local key.
pub async fn fetch_usage(url: &str, key: &Secret) -> anyhow::Result<UsageSnapshot> {
    crate::http::client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let url = format!("{}/api/usage", url.trim_end_matches('/'));
    let response = client
        .get(&url)
        .bearer_auth(key.expose())
        .send()
        .await
        .with_context(|| format!("cannot reach the gateway at {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("the gateway at {url} answered {status}");
    }
    response
        .json()
        .await
        .with_context(|| format!("unexpected answer from {url}"))
}

/// The usage of the gateway running for `state_dir` (default `~/.kiln`), or of `url`.
pub async fn running_usage(
    state_dir: Option<&Path>,
    url: Option<&str>,
) -> anyhow::Result<UsageSnapshot> {
    let dir = match state_dir {
        Some(d) => d.to_path_buf(),
        None => {
            crate::state::default_dir().ok_or_else(|| anyhow!("no home directory (set HOME)"))?
        }
    };
    let url = match url {
        Some(u) => u.to_owned(),
        None => discovery::find_running(&dir)
            .map(|d| d.url)
            .ok_or_else(|| anyhow!("no running gateway found in {} (start one with `kiln gateway`, or pass --gateway URL)", dir.display()))?,
    };
    let key = LocalKey::read(&dir)
        .with_context(|| format!("reading the gateway key in {}", dir.display()))?
        .ok_or_else(|| anyhow!("no gateway key in {}", dir.display()))?;
    fetch_usage(&url, key.secret()).await
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let snapshot = running_usage(None, args.gateway.as_deref()).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
    } else {
        print!("{}", format_snapshot(&snapshot));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_pairs() {
        let m = parse_base_urls(&["claude=https://x/serving-endpoints/anthropic".into()]).unwrap();
        assert_eq!(
            m.get(&Caller::Agent(crate::agent::Agent::Claude))
                .map(String::as_str),
            Some("https://x/serving-endpoints/anthropic")
        );
        for bad in ["claude", "nobody=https://x", "codex= "] {
            let e = parse_base_urls(&[bad.to_owned()]).unwrap_err();
            assert!(e.downcast_ref::<ConfigProblem>().is_some(), "{bad}");
        }
    }
}
