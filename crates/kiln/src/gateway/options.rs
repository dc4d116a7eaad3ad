//! [`GatewayOptions`] (listener, state directory, limits, timeouts, retries, upstream
//! overrides) and [`GatewayError`], why a gateway could not start.

use super::{Caller, RetryBounds};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Port tried first (agent configs keep working across restarts when it is free).
pub const DEFAULT_PORT: u16 = 8790;
/// Largest request body by default (32 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 32 << 20;

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
    pub agent_base_urls: BTreeMap<Caller, String>,
    /// Workspace id (`DATABRICKS_WORKSPACE_ID`), for the older AI Gateway host form.
    pub workspace_id: Option<String>,
    /// The older AI Gateway host to probe instead of the derived one.
    pub legacy_gateway_host: Option<String>,
    /// Log request bodies at debug level (`--gateway-log-bodies 1` / `KILN_GATEWAY_LOG_BODIES`);
    /// off by default.
    pub log_bodies: bool,
    /// Send every model call as an OpenTelemetry span to MLflow (`None`: off).
    pub trace: Option<super::trace::TraceSettings>,
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
            trace: None,
        }
    }
}

impl GatewayOptions {
    /// Fills `gateway_host` and `workspace_id` from `DATABRICKS_GATEWAY_HOST` and
    /// `DATABRICKS_WORKSPACE_ID` where not already set (kiln's own settings are clap flags:
    /// [`super::cli::GatewaySettings`]).
    pub fn with_process_env(mut self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if self.gateway_host.is_none() {
            self.gateway_host = var("DATABRICKS_GATEWAY_HOST");
        }
        if self.workspace_id.is_none() {
            self.workspace_id = var("DATABRICKS_WORKSPACE_ID");
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
