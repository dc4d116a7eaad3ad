//! `kiln serve`: options from the command line and environment, the listener, the printed URL,
//! and signals (SIGTERM/SIGINT: tell viewers, end shells, exit within 10 s; a second one exits
//! at once).

use crate::server::{self, AccessKey};
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
    /// Address to listen on. Anything but loopback needs KILN_ACCESS_KEY set explicitly.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,
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

fn options(args: &ServeArgs) -> Result<server::Options, ServeError> {
    let key = match std::env::var("KILN_ACCESS_KEY") {
        Ok(k) if !k.is_empty() => AccessKey::fixed(&k).map_err(ServeError::Config)?,
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
    opts.upload_limit = args.upload_limit_mib.max(1) << 20;
    Ok(opts)
}

async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let opts = options(&args)?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|source| ServeError::Bind {
            addr: args.bind,
            source,
        })?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    println!("kiln: serving on http://{addr}");
    println!("kiln: open http://{host}/?key={}", opts.key.reveal());
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

/// Runs `kiln serve` to completion.
pub fn main(args: ServeArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln: {e}");
            ExitCode::FAILURE
        }
    }
}
