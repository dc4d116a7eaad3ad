//! The emulated workspace's run-time switches ([`Settings`]) and the lengths of its state
//! machines' steps ([`StateDelays`]): plain data, read by the stores and changed through the
//! admin API (a leaf module).

use serde::{Deserialize, Serialize};

/// Switches that change how the emulated workspace answers; all can be changed at run time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Whether an app's own service principal may `GET /api/2.0/apps/{its name}` (undocumented in
    /// the real product, so switchable). Default `true`.
    pub sp_can_read_own_app: bool,
    /// Personal access tokens per principal before `QUOTA_EXCEEDED` (real workspaces: 600).
    pub token_quota: usize,
    /// Auth errors carry a numeric `error_code` (`403`, `401`) as observed from real
    /// workspaces; `false` gives `PERMISSION_DENIED` / `UNAUTHENTICATED`. Default `true`.
    pub numeric_auth_error_codes: bool,
    /// Lifetime of OAuth access tokens minted by `/oidc/v1/token`, seconds (real: 3600).
    pub oauth_token_lifetime_secs: u64,
    /// OAuth tokens are refused this many seconds before they expire (real: about 30).
    pub oauth_expiry_margin_secs: u64,
    /// Admin cap on new PAT lifetimes, seconds; `None` means no cap.
    pub max_token_lifetime_secs: Option<u64>,
    /// Real seconds an app process gets between SIGTERM and SIGKILL (the platform: 15).
    pub app_stop_grace_secs: u64,
    /// Real seconds a deployed app has to answer on its port before the deployment fails.
    pub app_start_timeout_secs: u64,
    /// Simulates a failing init script: when set, every cluster start whose init scripts
    /// exist fails with `INIT_SCRIPT_FAILURE` and this text as the script's error. Default off.
    pub init_script_failure: Option<String>,
    /// Largest workspace file `import-file` accepts, bytes (reference §6: "recalled 500 MB",
    /// uncertain; default 500 MiB). Larger uploads get 400 `MAX_FILE_SIZE_EXCEEDED`.
    pub max_workspace_file_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            sp_can_read_own_app: true,
            token_quota: 600,
            numeric_auth_error_codes: true,
            oauth_token_lifetime_secs: 3600,
            oauth_expiry_margin_secs: 30,
            max_token_lifetime_secs: None,
            app_stop_grace_secs: 15,
            app_start_timeout_secs: 300,
            init_script_failure: None,
            max_workspace_file_bytes: 500 << 20,
        }
    }
}

/// How long (in emulator-clock seconds) each state-machine step takes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct StateDelays {
    /// Cluster `PENDING`/`RESTARTING` → `RUNNING`.
    pub cluster_start_secs: u64,
    /// Cluster `TERMINATING` → `TERMINATED`.
    pub cluster_terminate_secs: u64,
    /// App compute `STARTING` → `ACTIVE`.
    pub app_start_secs: u64,
    /// App compute `STOPPING` → `STOPPED`.
    pub app_stop_secs: u64,
    /// App deployment `IN_PROGRESS` → `SUCCEEDED`/`FAILED`.
    pub app_deploy_secs: u64,
    /// App `DELETING` → gone.
    pub app_delete_secs: u64,
}

impl Default for StateDelays {
    fn default() -> Self {
        Self {
            cluster_start_secs: 20,
            cluster_terminate_secs: 5,
            app_start_secs: 10,
            app_stop_secs: 5,
            app_deploy_secs: 5,
            app_delete_secs: 5,
        }
    }
}
