//! The state of every project, as `GET /api/sync`, `kiln sync status` and the UI show it:
//! synced / pending / syncing / failed / conflict / restoring, the last synced commit and time,
//! what is pending, progress, skipped files and the last error. A short std mutex guards the
//! map (never held across `.await`); a watch channel tells listeners that something changed.

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Where a project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The workspace holds HEAD and its history.
    Synced,
    /// HEAD differs from the last synced commit; a sync is queued.
    #[default]
    Pending,
    /// A sync runs now.
    Syncing,
    /// The last attempt failed; another follows at `next_retry_ms`.
    Failed,
    /// kiln leaves the project alone (local changes against the workspace copy); see `message`.
    Conflict,
    /// Being restored from the workspace.
    Restoring,
    /// A repository without commits: nothing to sync yet.
    Empty,
}

/// A skipped file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// Path inside the project.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// One project's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectStatus {
    /// Directory name under `~/projects`.
    pub name: String,
    /// Where it stands.
    pub state: State,
    /// The local HEAD commit, when known.
    pub head: Option<String>,
    /// The last synced commit.
    pub synced_commit: Option<String>,
    /// When it was synced (epoch ms).
    pub synced_at_ms: Option<i64>,
    /// Files uploaded or deleted so far in the running sync, and how many in all.
    pub done: usize,
    /// See `done`.
    pub total: usize,
    /// Files not uploaded (too large, a user's notebook in the way), with reasons.
    pub skipped: Vec<SkippedFile>,
    /// The last error (failed) or the note for the user (conflict, restore).
    pub message: Option<String>,
    /// Failed attempts in a row.
    pub attempts: u32,
    /// When the next attempt is due (epoch ms), while failed.
    pub next_retry_ms: Option<i64>,
    /// The workspace folder.
    pub workspace_path: Option<String>,
}

/// The statuses of all projects. Cheap to clone.
#[derive(Clone)]
pub struct Board {
    inner: Arc<Mutex<BTreeMap<String, ProjectStatus>>>,
    changed: Arc<watch::Sender<u64>>,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            changed: Arc::new(watch::channel(0).0),
        }
    }
}

impl Board {
    /// Changes one project's status (created when new).
    pub fn update(&self, name: &str, f: impl FnOnce(&mut ProjectStatus)) {
        {
            let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let entry = map.entry(name.to_owned()).or_insert_with(|| ProjectStatus {
                name: name.to_owned(),
                ..ProjectStatus::default()
            });
            f(entry);
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// Forgets a project (its directory is gone and the workspace has nothing of it).
    pub fn remove(&self, name: &str) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        self.changed.send_modify(|n| *n += 1);
    }

    /// One project's status.
    pub fn get(&self, name: &str) -> Option<ProjectStatus> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Every project's status, by name.
    pub fn all(&self) -> Vec<ProjectStatus> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
