//! One project's sync and restore. Sync: HEAD's tree against the manifest -> folders, uploads
//! (bounded in parallel), deletions of files kiln wrote, emptied folders -> history bundle ->
//! manifest (in the workspace, then locally). Progress and outcome go to the [`Board`]. A failed
//! file fails the sync (retried later) but never the other files; what succeeded is kept in
//! the local manifest, so the next attempt only does the rest.

use super::git::{self, BlobReader, GitError};
use super::history::{self, HistoryError};
use super::manifest::{Manifest, Skipped, Store};
use super::plan;
use super::remote::Remote;
use super::status::{Board, SkippedFile, State, now_ms};
use super::upload::{Outcome, Uploader};
use futures_util::stream::{self, StreamExt};
use kiln_databricks::Error;
use std::path::{Path, PathBuf};

/// Why a sync or restore did not complete.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The workspace failed (after the retry policy).
    #[error("{0}")]
    Workspace(#[from] Error),
    /// Saving or restoring history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Some files could not be written (the first error, and how many).
    #[error("{failed} of {total} changes could not be written: {first}")]
    Partial {
        /// Failed changes.
        failed: usize,
        /// All changes.
        total: usize,
        /// The first failure.
        first: Error,
    },
    /// kiln leaves the project alone; the message says why and what to do.
    #[error("{0}")]
    Conflict(String),
    /// No such project.
    #[error("{0}")]
    NotFound(String),
    /// A local file could not be written.
    #[error("{0}")]
    Io(String),
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `~/projects`.
    pub projects: PathBuf,
    /// `~/.kiln`.
    pub kiln_dir: PathBuf,
    /// Uploads in flight per project (reference §12: at most 10-20).
    pub concurrency: usize,
    /// Largest file uploaded.
    pub max_file_bytes: u64,
}

/// Syncs and restores projects. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    remote: Remote,
    opts: EngineOptions,
    store: Store,
    board: Board,
}

/// Whether `name` can be a project: a plain directory name, not hidden.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
        && name != ".."
}

impl Engine {
    /// An engine writing status to `board`.
    pub fn new(remote: Remote, opts: EngineOptions, board: Board) -> Self {
        let store = Store::new(&opts.kiln_dir);
        Self {
            remote,
            opts,
            store,
            board,
        }
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// The workspace.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The local manifests.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `~/projects`.
    pub fn projects(&self) -> &Path {
        &self.opts.projects
    }

    fn scratch(&self) -> PathBuf {
        self.opts.kiln_dir.join("sync").join("tmp")
    }

    /// Names of the git repositories directly under the projects folder.
    pub fn local_projects(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir(&self.opts.projects) else {
            return Vec::new();
        };
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| valid_name(n) && git::is_repository(&self.opts.projects.join(n)))
            .collect();
        names.sort();
        names
    }

    /// Whether HEAD of a project differs from its last synced commit (or is unknown).
    pub async fn needs_sync(&self, name: &str) -> bool {
        let dir = self.opts.projects.join(name);
        let Ok(Some(head)) = git::head(&dir).await else {
            return false;
        };
        match self.store.load(name) {
            Some(m) => {
                m.commit.as_deref() != Some(head.as_str())
                    || m.refs.as_ref().is_none_or(|r| r.head != head)
            }
            None => true,
        }
    }

    /// The manifest to continue from when there is no local one: the workspace's, if this
    /// repository contains its commit and is clean (or `force`); a conflict otherwise.
    async fn adopt(
        &self,
        name: &str,
        dir: &Path,
        head: &str,
        force: bool,
    ) -> Result<Manifest, SyncError> {
        let Some(bytes) = self.remote.manifest(name).await? else {
            return Ok(Manifest::new(name));
        };
        let remote = Manifest::parse(&bytes, name).map_err(SyncError::Io)?;
        let Some(commit) = remote.commit.clone() else {
            return Ok(remote);
        };
        if force {
            return Ok(remote);
        }
        let dirty = git::status_lines(dir).await?;
        let contained = git::is_ancestor(dir, &commit, head).await;
        if contained && dirty.is_empty() {
            return Ok(remote);
        }
        let why = if contained {
            format!("it has {} uncommitted change(s)", dirty.len())
        } else {
            "its history does not contain the workspace copy's last commit".to_owned()
        };
        Err(SyncError::Conflict(format!(
            "~/projects/{name} exists here but kiln has no record of syncing it, and {why}; the \
             workspace copy (commit {}) was neither restored over it nor overwritten. Commit, or \
             move the folder away and run `kiln sync restore {name}`, or replace the workspace \
             copy with `kiln sync now --force {name}`.",
            short(&commit)
        )))
    }

    /// Syncs one project; the board follows along.
    pub async fn sync(&self, name: &str, force: bool) -> Result<(), SyncError> {
        if !valid_name(name) {
            return Err(SyncError::NotFound(format!(
                "{name:?} is not a project name"
            )));
        }
        let dir = self.opts.projects.join(name);
        if !git::is_repository(&dir) {
            return Err(SyncError::NotFound(format!(
                "{} is not a git repository",
                dir.display()
            )));
        }
        let Some(head) = git::head(&dir).await? else {
            self.board.update(name, |s| {
                s.state = State::Empty;
                s.message = Some("no commits yet".into());
            });
            return Ok(());
        };
        let root = self.remote.project_root(name).await?;
        self.board.update(name, |s| {
            s.state = State::Syncing;
            s.head = Some(head.clone());
            s.workspace_path = Some(root.clone());
            s.done = 0;
            s.total = 0;
        });
        let mut manifest = match self.store.load(name) {
            Some(m) if !force => m,
            _ => self.adopt(name, &dir, &head, force).await?,
        };
        let refs = git::refs(&dir).await?;
        if manifest.commit.as_deref() == Some(head.as_str())
            && manifest.refs.as_ref() == Some(&refs)
        {
            self.store
                .save(&manifest)
                .map_err(|e| SyncError::Io(e.to_string()))?;
            self.mark_synced(name, &manifest);
            return Ok(());
        }
        let tree = git::ls_tree(&dir, &head).await?;
        for e in &tree {
            if let Some(f) = manifest.files.get_mut(&e.path)
                && f.blob == e.id
            {
                f.mode.clone_from(&e.mode);
            }
        }
        manifest
            .skipped
            .retain(|p, _| tree.iter().any(|e| &e.path == p));
        let plan = plan::plan(&manifest, &tree);
        tracing::info!(project = name, commit = %short(&head), uploads = plan.uploads.len(), deletes = plan.deletes.len(), "syncing");
        let total = plan.uploads.len() + plan.deletes.len();
        self.board.update(name, |s| s.total = total);
        let uploader = Uploader::new(
            self.remote.client().clone(),
            root.clone(),
            BlobReader::start(&dir)?,
            self.opts.max_file_bytes,
        );
        uploader.mkdirs("").await?;
        let n = self.opts.concurrency.max(1);
        let mut failures: Vec<Error> = Vec::new();
        let made: Vec<Result<(), Error>> = stream::iter(plan.mkdirs.clone())
            .map(|d| {
                let up = uploader.clone();
                async move { up.mkdirs(&d).await }
            })
            .buffer_unordered(n)
            .collect()
            .await;
        failures.extend(made.into_iter().filter_map(Result::err));
        let mut deletes = plan.deletes.clone();
        if failures.is_empty() {
            let jobs: Vec<(super::git::TreeEntry, bool)> = plan
                .uploads
                .iter()
                .map(|e| (e.clone(), manifest.files.contains_key(&e.path)))
                .collect();
            let mut results = stream::iter(jobs)
                .map(|(e, known)| {
                    let up = uploader.clone();
                    async move {
                        let outcome = up.upload(&e, known).await;
                        (e, outcome)
                    }
                })
                .buffer_unordered(n);
            while let Some((entry, outcome)) = results.next().await {
                match outcome {
                    Outcome::Written(rec) => {
                        manifest.skipped.remove(&entry.path);
                        manifest.files.insert(entry.path.clone(), rec);
                    }
                    Outcome::Skipped(reason) => {
                        tracing::warn!(project = name, path = %entry.path, %reason, "file skipped");
                        if manifest.files.contains_key(&entry.path) {
                            deletes.push(entry.path.clone());
                        }
                        manifest.skipped.insert(
                            entry.path.clone(),
                            Skipped {
                                blob: entry.id.clone(),
                                reason,
                            },
                        );
                    }
                    Outcome::Failed(e) => failures.push(e),
                }
                self.board.update(name, |s| s.done += 1);
            }
            drop(results);
            let removed: Vec<(String, Result<(), Error>)> = stream::iter(deletes.clone())
                .map(|p| {
                    let up = uploader.clone();
                    async move {
                        let r = up.delete(&p).await;
                        (p, r)
                    }
                })
                .buffer_unordered(n)
                .collect()
                .await;
            for (path, r) in removed {
                match r {
                    Ok(()) => {
                        manifest.files.remove(&path);
                    }
                    Err(e) => failures.push(e),
                }
                self.board.update(name, |s| s.done += 1);
            }
            for d in &plan.rmdirs {
                uploader.remove_empty_dir(d).await;
            }
        }
        self.store
            .save(&manifest)
            .map_err(|e| SyncError::Io(e.to_string()))?;
        if let Some(first) = failures.pop() {
            return Err(SyncError::Partial {
                failed: failures.len() + 1,
                total,
                first,
            });
        }
        let history_root = self.remote.history_root(name).await?;
        history::push(
            &dir,
            self.remote.client(),
            &history_root,
            &self.scratch(),
            &refs,
            &mut manifest,
        )
        .await?;
        manifest.commit = Some(head.clone());
        manifest.synced_at_ms = Some(now_ms());
        manifest.refs = Some(refs);
        // The workspace's manifest first, the local one after: a kiln killed in between finds its
        // local manifest one commit behind and syncs again, instead of calling the commit synced
        // while the workspace still names the one before.
        Uploader::put_file(
            self.remote.client(),
            &format!("{history_root}/{}", super::remote::MANIFEST_FILE),
            manifest.to_json().into(),
        )
        .await?;
        self.store
            .save(&manifest)
            .map_err(|e| SyncError::Io(e.to_string()))?;
        history::remove_unnamed(self.remote.client(), &history_root, &manifest).await;
        tracing::info!(project = name, commit = %short(&head), skipped = manifest.skipped.len(), "synced");
        self.mark_synced(name, &manifest);
        Ok(())
    }

    fn mark_synced(&self, name: &str, m: &Manifest) {
        self.board.update(name, |s| {
            s.state = State::Synced;
            s.synced_commit.clone_from(&m.commit);
            s.synced_at_ms = m.synced_at_ms;
            s.skipped = m
                .skipped
                .iter()
                .map(|(p, k)| SkippedFile {
                    path: p.clone(),
                    reason: k.reason.clone(),
                })
                .collect();
            s.message = None;
            s.attempts = 0;
            s.next_retry_ms = None;
            s.done = s.total;
        });
    }

    /// Names of the projects that have history in the workspace.
    pub async fn remote_projects(&self) -> Result<Vec<String>, Error> {
        let root = format!(
            "{}/{}",
            self.remote.projects_root().await?,
            super::remote::HISTORY_DIR
        );
        let listed = match self.remote.client().workspace().list(&root).await {
            Ok(l) => l,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names: Vec<String> = listed
            .into_iter()
            .filter(|o| o.is_directory())
            .filter_map(|o| o.path.rsplit('/').next().map(str::to_owned))
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Restores a project that is missing locally, with its history. A project that exists
    /// locally is never touched.
    pub async fn restore(&self, name: &str) -> Result<(), SyncError> {
        if !valid_name(name) {
            return Err(SyncError::NotFound(format!(
                "{name:?} is not a project name"
            )));
        }
        let target = self.opts.projects.join(name);
        if target.exists() {
            return Err(SyncError::Conflict(format!(
                "~/projects/{name} already exists; kiln never restores over a local folder (move it \
                 away first)"
            )));
        }
        let Some(bytes) = self.remote.manifest(name).await? else {
            return Err(SyncError::NotFound(format!(
                "the workspace has no kiln history for {name:?}"
            )));
        };
        let manifest = Manifest::parse(&bytes, name).map_err(SyncError::Io)?;
        self.board.update(name, |s| {
            s.state = State::Restoring;
            s.message = None;
        });
        std::fs::create_dir_all(&self.opts.projects).map_err(|e| {
            SyncError::Io(format!(
                "cannot create {}: {e}",
                self.opts.projects.display()
            ))
        })?;
        let history_root = self.remote.history_root(name).await?;
        history::restore(
            self.remote.client(),
            &history_root,
            &manifest,
            &self.scratch(),
            &target,
        )
        .await?;
        self.store
            .save(&manifest)
            .map_err(|e| SyncError::Io(e.to_string()))?;
        tracing::info!(project = name, commit = ?manifest.commit.as_deref().map(short), "restored");
        self.board.update(name, |s| {
            s.head.clone_from(&manifest.commit);
            s.workspace_path = None;
        });
        self.mark_synced(name, &manifest);
        Ok(())
    }
}

/// The first 12 characters of a commit id.
pub fn short(id: &str) -> String {
    id.chars().take(12).collect()
}
