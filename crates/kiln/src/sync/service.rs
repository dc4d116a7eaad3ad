//! The sync task inside `kiln serve`. At start: install the git hooks, wait for a token,
//! restore the projects that are in the workspace but missing under `~/projects`, then sync
//! every repository whose HEAD differs from its last synced commit. Afterwards it wakes on a
//! notice from a hook (the inbox, read every [`SyncOptions::inbox_interval`]), on a periodic
//! scan (catches repositories whose hooks do not run kiln's, and commits made while kiln was
//! down), on a request (`kiln sync now`, the UI's retry), and when a failed project's retry
//! is due (backoff doubling up to [`SyncOptions::backoff_max`]). One project syncs at a time.

use super::engine::{Engine, EngineOptions, SyncError, valid_name};
use super::hooks;
use super::remote::Remote;
use super::status::{Board, ProjectStatus, State, now_ms};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Settings of the sync task.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// HOME (hooks, `~/.gitconfig`).
    pub home: PathBuf,
    /// `~/projects`.
    pub projects: PathBuf,
    /// `~/.kiln`.
    pub kiln_dir: PathBuf,
    /// Uploads in flight per project (8).
    pub concurrency: usize,
    /// Largest file uploaded (500 MiB).
    pub max_file_bytes: u64,
    /// Retry budget of one workspace request (60 s); the sync is retried after that.
    pub request_budget: Duration,
    /// How often the hooks' inbox is read (1 s).
    pub inbox_interval: Duration,
    /// How often every repository's HEAD is compared with its last sync (30 s).
    pub scan_interval: Duration,
    /// First retry delay of a failed sync (5 s), doubling.
    pub backoff_first: Duration,
    /// Longest retry delay (5 min).
    pub backoff_max: Duration,
    /// Restore missing projects at start.
    pub restore_at_start: bool,
}

impl SyncOptions {
    /// Defaults for a HOME.
    pub fn new(home: PathBuf) -> Self {
        Self {
            projects: home.join("projects"),
            kiln_dir: home.join(".kiln"),
            home,
            concurrency: 8,
            max_file_bytes: super::upload::DEFAULT_MAX_FILE_BYTES,
            request_budget: Duration::from_secs(60),
            inbox_interval: Duration::from_secs(1),
            scan_interval: Duration::from_secs(30),
            backoff_first: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            restore_at_start: true,
        }
    }

    /// The engine's part.
    pub fn engine(&self) -> EngineOptions {
        EngineOptions {
            projects: self.projects.clone(),
            kiln_dir: self.kiln_dir.clone(),
            concurrency: self.concurrency,
            max_file_bytes: self.max_file_bytes,
        }
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sync (force: replace a workspace copy kiln has no record of syncing from here).
    Sync {
        /// See above.
        force: bool,
    },
    /// Restore missing projects.
    Restore,
}

/// Outcome per project of a request.
pub type Results = Vec<(String, Result<(), String>)>;

struct Request {
    action: Action,
    names: Vec<String>,
    reply: Option<oneshot::Sender<Results>>,
}

/// The running sync task. Cheap to clone.
#[derive(Clone)]
pub struct SyncHandle {
    board: Board,
    tx: mpsc::Sender<Request>,
    note: Arc<Mutex<Option<String>>>,
    workspace: Arc<Mutex<Option<String>>>,
}

impl SyncHandle {
    /// The statuses.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The `GET /api/sync` document.
    pub fn status_json(&self) -> Value {
        let projects: Vec<ProjectStatus> = self.board.all();
        json!({
            "enabled": true,
            "workspace": *self.workspace.lock().unwrap_or_else(PoisonError::into_inner),
            "note": *self.note.lock().unwrap_or_else(PoisonError::into_inner),
            "projects": projects,
        })
    }

    /// Queues a request and waits for its results (`names` empty: every project).
    pub async fn request(&self, action: Action, names: Vec<String>) -> Result<Results, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Request {
                action,
                names,
                reply: Some(reply),
            })
            .await
            .map_err(|_| "the sync task has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the sync task has stopped".to_owned())
    }

    /// Queues a sync without waiting (the UI's retry). False when the queue is full.
    pub fn nudge(&self, names: Vec<String>) -> bool {
        self.tx
            .try_send(Request {
                action: Action::Sync { force: false },
                names,
                reply: None,
            })
            .is_ok()
    }
}

/// Starts the sync task; `token_changes` wakes it when a token first appears.
pub fn spawn(
    opts: SyncOptions,
    remote: Remote,
    token_changes: Option<watch::Receiver<u64>>,
    shutdown: CancellationToken,
) -> SyncHandle {
    let board = Board::default();
    let (tx, rx) = mpsc::channel(32);
    let handle = SyncHandle {
        board: board.clone(),
        tx,
        note: Arc::default(),
        workspace: Arc::default(),
    };
    let engine = Engine::new(remote, opts.engine(), board);
    let task = Task {
        engine,
        opts,
        handle: handle.clone(),
        failures: BTreeMap::new(),
    };
    tokio::spawn(task.run(rx, token_changes, shutdown));
    handle
}

struct Task {
    engine: Engine,
    opts: SyncOptions,
    handle: SyncHandle,
    /// Failed projects: attempts so far and when the next is due.
    failures: BTreeMap<String, (u32, Instant)>,
}

impl Task {
    fn set_note(&self, note: Option<String>) {
        *self
            .handle
            .note
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = note;
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Request>,
        mut token_changes: Option<watch::Receiver<u64>>,
        shutdown: CancellationToken,
    ) {
        if let Err(e) = self.install_hooks().await {
            tracing::warn!(error = %e, "cannot install kiln's git hooks; commits are found by the periodic scan");
        }
        for name in self.engine.local_projects() {
            let m = self.engine.store().load(&name);
            self.engine.board().update(&name, |s| {
                s.synced_commit = m.as_ref().and_then(|m| m.commit.clone());
                s.synced_at_ms = m.as_ref().and_then(|m| m.synced_at_ms);
            });
        }
        // Wait for the workspace (a token may not be configured yet).
        let mut delay = Duration::from_secs(1);
        let root = loop {
            match self.engine.remote().projects_root().await {
                Ok(root) => break root,
                Err(e) => {
                    self.set_note(Some(format!("waiting for the workspace: {e}")));
                    tracing::info!(error = %e, "sync waits for the workspace");
                }
            }
            let changed = async {
                match token_changes.as_mut() {
                    Some(rx) => {
                        if rx.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
                _ = changed => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        };
        self.set_note(None);
        *self
            .handle
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(root);
        if self.opts.restore_at_start {
            self.restore(&[]).await;
        }
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        self.scan(&mut dirty).await;
        let mut inbox = tokio::time::interval(self.opts.inbox_interval);
        let mut scan = tokio::time::interval(self.opts.scan_interval);
        scan.reset();
        loop {
            while let Some(name) = dirty.pop_first() {
                if shutdown.is_cancelled() {
                    return;
                }
                let _ = self.sync_one(&name, false).await;
            }
            let due = self.failures.values().map(|(_, at)| *at).min();
            let retry = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                req = rx.recv() => match req {
                    Some(req) => self.handle_request(req).await,
                    None => return,
                },
                _ = inbox.tick() => self.read_inbox(&mut dirty),
                _ = scan.tick() => {
                    if let Err(e) = self.install_hooks().await {
                        tracing::debug!(error = %e, "hooks check failed");
                    }
                    self.scan(&mut dirty).await;
                }
                _ = retry => {
                    let now = Instant::now();
                    dirty.extend(self.failures.iter().filter(|(_, (_, at))| *at <= now).map(|(n, _)| n.clone()));
                }
            }
        }
    }

    /// [`hooks::install`] (files and `git config --global`) on a blocking thread, off the
    /// runtime.
    async fn install_hooks(&self) -> std::io::Result<()> {
        let (home, kiln_dir) = (self.opts.home.clone(), self.opts.kiln_dir.clone());
        tokio::task::spawn_blocking(move || hooks::install(&home, &kiln_dir))
            .await
            .map_err(std::io::Error::other)?
    }

    fn read_inbox(&self, dirty: &mut BTreeSet<String>) {
        for repo in hooks::drain_inbox(&self.opts.kiln_dir) {
            let canonical_projects = std::fs::canonicalize(&self.opts.projects)
                .unwrap_or_else(|_| self.opts.projects.clone());
            let parent = repo
                .parent()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()));
            match (parent, repo.file_name().and_then(|n| n.to_str())) {
                (Some(p), Some(name)) if p == canonical_projects && valid_name(name) => {
                    tracing::debug!(project = name, "commit notice");
                    self.engine.board().update(name, |s| {
                        if s.state != State::Syncing {
                            s.state = State::Pending;
                        }
                    });
                    dirty.insert(name.to_owned());
                }
                _ => {
                    tracing::debug!(repo = %repo.display(), "notice for a repository outside ~/projects; ignored")
                }
            }
        }
    }

    async fn scan(&self, dirty: &mut BTreeSet<String>) {
        for name in self.engine.local_projects() {
            if self.failures.contains_key(&name) || dirty.contains(&name) {
                continue;
            }
            if self.engine.needs_sync(&name).await {
                let conflict = self
                    .engine
                    .board()
                    .get(&name)
                    .is_some_and(|s| s.state == State::Conflict);
                if !conflict {
                    self.engine
                        .board()
                        .update(&name, |s| s.state = State::Pending);
                }
                dirty.insert(name);
            } else if self
                .engine
                .board()
                .get(&name)
                .is_none_or(|s| s.state == State::Pending)
                && let Some(m) = self.engine.store().load(&name)
            {
                self.engine.board().update(&name, |s| {
                    s.state = State::Synced;
                    s.synced_commit = m.commit.clone();
                    s.synced_at_ms = m.synced_at_ms;
                });
            }
        }
    }

    async fn sync_one(&mut self, name: &str, force: bool) -> Result<(), String> {
        match self.engine.sync(name, force).await {
            Ok(()) => {
                self.failures.remove(name);
                Ok(())
            }
            Err(SyncError::Conflict(msg)) => {
                self.failures.remove(name);
                tracing::warn!(project = name, "{msg}");
                self.engine.board().update(name, |s| {
                    s.state = State::Conflict;
                    s.message = Some(msg.clone());
                    s.next_retry_ms = None;
                });
                Err(msg)
            }
            Err(SyncError::NotFound(msg)) => {
                self.failures.remove(name);
                self.engine.board().remove(name);
                Err(msg)
            }
            Err(e) => {
                let msg = e.to_string();
                let attempts = self.failures.get(name).map_or(0, |(a, _)| *a) + 1;
                let exp = attempts.saturating_sub(1).min(16);
                let delay = self
                    .opts
                    .backoff_first
                    .saturating_mul(1 << exp)
                    .min(self.opts.backoff_max);
                self.failures
                    .insert(name.to_owned(), (attempts, Instant::now() + delay));
                tracing::warn!(project = name, attempts, retry_in_s = delay.as_secs(), error = %msg, "sync failed");
                self.engine.board().update(name, |s| {
                    s.state = State::Failed;
                    s.message = Some(msg.clone());
                    s.attempts = attempts;
                    s.next_retry_ms =
                        Some(now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                });
                Err(msg)
            }
        }
    }

    async fn restore(&mut self, names: &[String]) -> Results {
        let wanted: Vec<String> = if names.is_empty() {
            match self.engine.remote_projects().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list the workspace's projects");
                    self.set_note(Some(format!("cannot list the workspace's projects: {e}")));
                    return vec![(String::new(), Err(e.to_string()))];
                }
            }
        } else {
            names.to_vec()
        };
        let mut results = Vec::new();
        for name in wanted {
            if names.is_empty() && self.opts.projects.join(&name).exists() {
                continue; // present locally: the sync decides (and says so on a conflict)
            }
            let r = match self.engine.restore(&name).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let msg = e.to_string();
                    tracing::warn!(project = %name, error = %msg, "restore failed");
                    if !self.opts.projects.join(&name).exists() {
                        self.engine.board().update(&name, |s| {
                            s.state = State::Failed;
                            s.message = Some(format!("restore failed: {msg}"));
                        });
                    }
                    Err(msg)
                }
            };
            results.push((name, r));
        }
        results
    }

    async fn handle_request(&mut self, req: Request) {
        let results = match req.action {
            Action::Restore => self.restore(&req.names).await,
            Action::Sync { force } => {
                let names = if req.names.is_empty() {
                    self.engine.local_projects()
                } else {
                    req.names.clone()
                };
                let mut results = Vec::new();
                for name in names {
                    self.failures.remove(&name);
                    let r = self.sync_one(&name, force).await;
                    results.push((name, r));
                }
                results
            }
        };
        if let Some(reply) = req.reply {
            let _ = reply.send(results);
        }
    }
}
