//! The Apps runtime's registry: per app a slot with its log, its reverse proxy (`proxy`) and
//! at most one current run (a process supervised by `supervisor`), under one private temporary
//! directory. Stop, remove and kill-all act on the runs here; emulator shutdown kills every
//! process.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rustix::process::Signal;
use tokio_util::sync::CancellationToken;

use super::logs::AppLog;
use super::process;
use crate::ids;

/// What a deployment runs: the snapshot's files, the command and the app's own environment
/// (app.yaml `env` and the deploy request's `env_vars`, resources resolved).
pub struct LaunchSpec {
    /// Relative paths; `None` content for directories.
    pub files: Vec<(String, Option<Bytes>)>,
    /// argv, before `$DATABRICKS_APP_PORT` substitution.
    pub command: Vec<String>,
    /// The app's own variables (the platform's are added at start).
    pub env: Vec<(String, String)>,
}

impl fmt::Debug for LaunchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LaunchSpec")
            .field("files", &self.files.len())
            .field("command", &self.command)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// One supervised process.
#[derive(Clone)]
pub struct Run {
    /// Unique per runtime.
    pub id: u64,
    /// Asks the supervisor to stop the process.
    pub stop: CancellationToken,
    /// Cancelled when the supervisor has finished (process gone).
    pub done: CancellationToken,
    /// What the supervisor knows so far.
    pub info: Arc<Mutex<RunInfo>>,
}

/// A run's process, once started.
#[derive(Default, Clone, Copy)]
pub struct RunInfo {
    /// Pid, also the process group id.
    pub pid: Option<u32>,
    /// Loopback port it was given.
    pub port: Option<u16>,
    /// Whether the port has answered.
    pub ready: bool,
}

impl Run {
    /// A snapshot of the run's process info.
    pub fn info(&self) -> RunInfo {
        *self.info.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Updates the run's process info.
    pub fn set(&self, f: impl FnOnce(&mut RunInfo)) {
        f(&mut self.info.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// An app's proxy listener.
pub struct ProxyHandle {
    /// Where it listens.
    pub url: String,
    /// Stops it.
    pub cancel: CancellationToken,
}

/// One app's runtime state.
#[derive(Default)]
pub struct Slot {
    log: Arc<AppLog>,
    proxy: Option<ProxyHandle>,
    /// The current run.
    pub run: Option<Run>,
}

/// Every app's processes, logs and proxies.
pub struct Runtime {
    root: PathBuf,
    /// Address the proxies bind (the emulator's).
    pub bind: IpAddr,
    slots: Mutex<HashMap<String, Slot>>,
    /// Next run id.
    pub next_run: AtomicU64,
    /// Cancelled at emulator shutdown (proxies, upgraded connections).
    pub cancel: CancellationToken,
}

impl Runtime {
    /// A runtime whose files will live in a fresh private temporary directory, created when
    /// the first app runs (an emulator that runs no app leaves nothing behind, even when killed).
    pub fn new(bind: IpAddr) -> Self {
        Self {
            root: std::env::temp_dir().join(format!("kiln-emulator-apps-{}", ids::hex(8))),
            bind,
            slots: Mutex::new(HashMap::new()),
            next_run: AtomicU64::new(1),
            cancel: CancellationToken::new(),
        }
    }

    /// Creates the runtime's directory (mode 0700) unless it exists.
    pub fn ensure_root(&self) -> io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        match std::fs::DirBuilder::new().mode(0o700).create(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// The slots, locked: never across an `.await`; the world may be locked before, never after.
    pub fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The app's log (created empty on first use).
    pub fn log(&self, app: &str) -> Arc<AppLog> {
        self.slots().entry(app.to_string()).or_default().log.clone()
    }

    /// The app's log text, if the app has a slot.
    pub fn logs(&self, app: &str) -> Option<String> {
        self.slots().get(app).map(|s| s.log.text())
    }

    /// Pid (= process group id) of the app's current process.
    pub fn pid(&self, app: &str) -> Option<u32> {
        self.slots().get(app)?.run.as_ref()?.info().pid
    }

    /// Loopback port of the app's process once it answers.
    pub fn upstream(&self, app: &str) -> Option<u16> {
        let info = self.slots().get(app)?.run.as_ref()?.info();
        info.ready.then_some(info.port).flatten()
    }

    /// The app's proxy URL, if open.
    pub fn proxy_url(&self, app: &str) -> Option<String> {
        Some(self.slots().get(app)?.proxy.as_ref()?.url.clone())
    }

    /// Records an app's proxy.
    pub fn set_proxy(&self, app: &str, proxy: ProxyHandle) {
        self.slots().entry(app.to_string()).or_default().proxy = Some(proxy);
    }

    /// Directory of one app's files.
    pub fn app_dir(&self, app: &str) -> PathBuf {
        let safe: String = app
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root.join(safe)
    }

    /// Asks the app's current process to stop; `false` when there is none.
    pub fn stop(&self, app: &str) -> bool {
        match self.slots().get(app).and_then(|s| s.run.as_ref()) {
            Some(run) => {
                run.stop.cancel();
                true
            }
            None => false,
        }
    }

    /// Forgets an app: stops its process, closes its proxy, removes its files afterwards.
    pub fn remove(&self, app: &str) {
        let Some(slot) = self.slots().remove(app) else {
            return;
        };
        if let Some(p) = slot.proxy {
            p.cancel.cancel();
        }
        // Moved aside at once, so an app created again under the same name starts clean.
        let dir = self.root.join(format!(".removed-{}", ids::hex(8)));
        let _ = std::fs::rename(self.app_dir(app), &dir);
        match slot.run {
            Some(run) => {
                run.stop.cancel();
                if let Ok(h) = tokio::runtime::Handle::try_current() {
                    h.spawn(async move {
                        run.done.cancelled().await;
                        let _ = tokio::fs::remove_dir_all(dir).await;
                    });
                }
            }
            None => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    /// Kills every app process (and its descendants) now, closes the proxies and removes
    /// the runtime's files. Used at emulator shutdown and drop.
    pub fn kill_all(&self) {
        self.cancel.cancel();
        let runs: Vec<Run> = self
            .slots()
            .values()
            .filter_map(|s| s.run.clone())
            .collect();
        for run in runs {
            run.stop.cancel();
            if let Some(pid) = run.info().pid {
                let extra = process::descendants(pid);
                process::signal_all(pid, &extra, Signal::KILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
