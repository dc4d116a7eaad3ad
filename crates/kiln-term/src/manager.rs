//! The set of sessions: ids, admission (session count and memory), lookup, removal, idle and
//! exited-session reaping, and shutdown.

use crate::capacity::{self, LAUNCH_RESERVE_BYTES};
use crate::ring::Ring;
use crate::session::{self, Session, Start};
use crate::{CapacityInfo, Options, SessionInfo, SpawnError, SpawnRequest, env, pty};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Owns every session; cheap to clone.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    opts: Options,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    in_flight: AtomicUsize,
    next_seq: AtomicU64,
    parent_env: Vec<(String, String)>,
}

/// Counts a launch in flight until dropped.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Manager {
    /// Creates a manager and starts its reaper. Must be called inside a tokio runtime.
    pub fn new(opts: Options) -> Self {
        let inner = Arc::new(Inner {
            opts,
            sessions: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
            next_seq: AtomicU64::new(1),
            parent_env: std::env::vars().collect(),
        });
        tokio::spawn(reaper(Arc::downgrade(&inner)));
        Manager { inner }
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn live_count(&self) -> usize {
        self.sessions()
            .values()
            .filter(|s| s.exit_status().is_none())
            .count()
    }

    pub fn spawn(&self, req: SpawnRequest) -> Result<Arc<Session>, SpawnError> {
        session::check_size(req.cols, req.rows).map_err(SpawnError::Invalid)?;
        let seq = self.inner.next_seq.fetch_add(1, Ordering::Relaxed);
        let label = match &req.label {
            Some(l) => session::validate_label(l).map_err(SpawnError::Invalid)?,
            None => format!("shell {seq}"),
        };
        if req
            .command
            .as_ref()
            .is_some_and(|c| c.first().is_none_or(|p| p.is_empty()))
        {
            return Err(SpawnError::Invalid("the command is empty".into()));
        }

        let in_flight = self.inner.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let _guard = InFlight(&self.inner.in_flight);
        let opts = &self.inner.opts;
        let live = self.live_count();
        if live + in_flight > opts.max_sessions {
            return Err(SpawnError::Capacity(format!(
                "session limit reached: {live} of {} sessions are running; close one to start another",
                opts.max_sessions
            )));
        }
        if let Some(available) = capacity::available_memory() {
            let needed = opts.min_available_memory + in_flight as u64 * LAUNCH_RESERVE_BYTES;
            if available < needed {
                return Err(SpawnError::Capacity(format!(
                    "not enough memory: {} MiB available, {} MiB needed to start another session",
                    available >> 20,
                    needed >> 20
                )));
            }
        }

        let home = self.home();
        let shell = self.shell();
        let cwd = opts.cwd.clone().unwrap_or_else(|| home.join("projects"));
        let cwd = match std::fs::create_dir_all(&cwd) {
            Ok(()) => cwd,
            Err(e) => {
                tracing::warn!(dir = %cwd.display(), error = %e, "cannot create the working directory; using home");
                home.clone()
            }
        };
        let id = new_id()?;
        let mut extra = opts.extra_env.clone();
        extra.push(("KILN_SESSION".into(), id.clone()));
        let shell_s = shell.to_string_lossy().into_owned();
        let environment = env::build(&self.inner.parent_env, &home, &shell_s, &extra);
        let (program, args) = match &req.command {
            Some(cmd) => (cmd[0].clone(), cmd[1..].to_vec()),
            None => (shell_s.clone(), vec!["-l".to_owned()]),
        };
        let ring = Ring::new(opts.ring_bytes)?;
        let spawned = pty::spawn(&pty::Launch {
            program: &program,
            args: &args,
            env: &environment,
            cwd: &cwd,
            cols: req.cols,
            rows: req.rows,
        })?;
        let session = Session::start(
            spawned,
            Start {
                id: id.clone(),
                seq,
                label,
                cols: req.cols,
                rows: req.rows,
                ring,
                scrollback_lines: opts.scrollback_lines,
                kill_grace: opts.kill_grace,
            },
        )?;
        self.sessions().insert(id, session.clone());
        Ok(session)
    }

    fn home(&self) -> PathBuf {
        self.inner
            .opts
            .home
            .clone()
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"))
    }

    fn shell(&self) -> PathBuf {
        self.inner
            .opts
            .shell
            .clone()
            .or_else(|| {
                std::env::var_os("SHELL")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute() && p.exists())
            })
            .unwrap_or_else(|| PathBuf::from("/bin/bash"))
    }

    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions().get(id).cloned()
    }

    /// All sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut all: Vec<Arc<Session>> = self.sessions().values().cloned().collect();
        all.sort_by_key(|s| s.seq());
        all.iter().map(|s| s.info()).collect()
    }

    /// Ends the session's whole process group (hang-up, grace, kill) without blocking, and forgets
    /// it. Idempotent: returns whether it existed.
    pub fn remove(&self, id: &str) -> bool {
        let removed = self.sessions().remove(id);
        match removed {
            Some(s) => {
                s.close();
                tracing::info!(session = %id, "session removed");
                true
            }
            None => false,
        }
    }

    pub fn capacity(&self) -> CapacityInfo {
        let (live, exited) = {
            let map = self.sessions();
            let live = map.values().filter(|s| s.exit_status().is_none()).count();
            (live, map.len() - live)
        };
        CapacityInfo {
            live,
            exited,
            limit: self.inner.opts.max_sessions,
            available_memory: capacity::available_memory(),
            min_available_memory: self.inner.opts.min_available_memory,
        }
    }

    /// Ends every session and waits up to `grace` for them to be reaped.
    pub async fn shutdown(&self, grace: Duration) {
        let all: Vec<Arc<Session>> = self.sessions().drain().map(|(_, s)| s).collect();
        for s in &all {
            s.close();
        }
        let wait_all = async {
            for s in &all {
                s.exited().await;
            }
        };
        if tokio::time::timeout(grace, wait_all).await.is_err() {
            tracing::warn!("some sessions did not end within the shutdown grace period");
        }
    }
}

fn new_id() -> std::io::Result<String> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    Ok(format!(
        "s-{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Ends idle sessions and forgets exited ones after their retention; stops with the manager.
async fn reaper(inner: Weak<Inner>) {
    let tick = match inner.upgrade() {
        Some(i) => (i.opts.idle_timeout.min(i.opts.exited_retention) / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(30)),
        None => return,
    };
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = inner.upgrade() else { return };
        let manager = Manager { inner };
        let candidates: Vec<Arc<Session>> = manager.sessions().values().cloned().collect();
        for s in candidates {
            let opts = manager.options();
            let expired = match s.exited_for() {
                Some(d) => d >= opts.exited_retention,
                None => s.idle() >= opts.idle_timeout,
            };
            if expired {
                tracing::info!(session = %s.id(), "reaping session (idle or exited)");
                manager.remove(s.id());
            }
        }
    }
}
