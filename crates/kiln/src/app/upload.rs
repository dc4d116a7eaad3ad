//! Writing the app source into a Workspace folder, uploading only what changed. Beside the
//! files lives [`STATE_FILE`]: the sha256 and size of every file kiln uploaded there. A file is
//! skipped when the state names the same sha256 and the Workspace lists the same size; files a
//! previous deploy uploaded that the new source lacks are deleted (nothing else in the folder is
//! touched). Before changing anything, the state is rewritten without the entries about to
//! change, so a deploy stopped half-way never leaves a state that vouches for a file it did not
//! finish: the next deploy uploads those again.

use super::source::{AppSource, SourceFile};
use bytes::Bytes;
use kiln_databricks::api::workspace::{Format, ObjectInfo};
use kiln_databricks::{Client, Error};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The deploy state file, in the source folder.
pub const STATE_FILE: &str = "kiln-deploy-state.json";

/// One uploaded file as recorded in the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// sha256, hex.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    files: BTreeMap<String, Recorded>,
}

/// What an upload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files uploaded.
    pub uploaded: Vec<String>,
    /// Bytes uploaded.
    pub uploaded_bytes: usize,
    /// Files left as they were.
    pub unchanged: usize,
    /// Files of an earlier deploy removed.
    pub deleted: Vec<String>,
}

/// Which step of the upload failed.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The folder path is a file or notebook.
    #[error("{0} exists and is not a folder: choose another --source-code-path")]
    NotAFolder(String),
    /// A call failed.
    #[error("{what}: {error}")]
    Call {
        /// What was being done.
        what: String,
        /// The failure.
        error: Error,
    },
}

impl UploadError {
    /// The client error, if any.
    pub fn client_error(&self) -> Option<&Error> {
        match self {
            UploadError::Call { error, .. } => Some(error),
            UploadError::NotAFolder(_) => None,
        }
    }
}

fn call(what: impl Into<String>) -> impl FnOnce(Error) -> UploadError {
    let what = what.into();
    move |error| UploadError::Call { what, error }
}

fn join(root: &str, rel: &str) -> String {
    format!("{}/{rel}", root.trim_end_matches('/'))
}

/// Sizes of the files under `root` by relative path (two levels: the source is flat plus `bin/`).
async fn remote_sizes(client: &Client, root: &str) -> Result<BTreeMap<String, u64>, UploadError> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![(root.to_owned(), String::new(), 0)];
    while let Some((dir, prefix, depth)) = dirs.pop() {
        let objects: Vec<ObjectInfo> = client
            .workspace()
            .list(&dir)
            .await
            .map_err(call(format!("listing {dir}")))?;
        for o in objects {
            let name = o.path.rsplit('/').next().unwrap_or_default().to_owned();
            let rel = format!("{prefix}{name}");
            if o.is_directory() {
                if depth < 3 {
                    dirs.push((join(&dir, &name), format!("{rel}/"), depth + 1));
                }
            } else {
                out.insert(rel, o.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0));
            }
        }
    }
    Ok(out)
}

async fn read_state(client: &Client, root: &str) -> State {
    match client
        .workspace()
        .export(&join(root, STATE_FILE), Format::Source)
        .await
    {
        Ok(e) => serde_json::from_slice(&e.content).unwrap_or_else(|err| {
            tracing::warn!(error = %err, "unreadable deploy state; uploading everything");
            State::default()
        }),
        Err(e) => {
            if !e.is_not_found() {
                tracing::warn!(error = %e, "cannot read the deploy state; uploading everything");
            }
            State::default()
        }
    }
}

async fn write_state(client: &Client, root: &str, state: &State) -> Result<(), UploadError> {
    let mut text = serde_json::to_vec_pretty(state).unwrap_or_default();
    text.push(b'\n');
    let path = join(root, STATE_FILE);
    client
        .workspace()
        .import_file(&path, Bytes::from(text), true)
        .await
        .map_err(call(format!("writing {path}")))
}

async fn upload_one(client: &Client, root: &str, file: &SourceFile) -> Result<(), UploadError> {
    let path = join(root, &file.path);
    let ws = client.workspace();
    match ws.import_file(&path, file.content.clone(), true).await {
        Err(e) if e.is_not_found() => {
            let parent = path.rsplit_once('/').map_or(root, |(p, _)| p).to_owned();
            ws.mkdirs(&parent)
                .await
                .map_err(call(format!("creating {parent}")))?;
            ws.import_file(&path, file.content.clone(), true)
                .await
                .map_err(call(format!("uploading {path}")))
        }
        other => other.map_err(call(format!("uploading {path}"))),
    }
}

/// Makes `root` hold exactly `source` (plus anything else already there that kiln did not put
/// there), uploading only changed files.
pub async fn sync(client: &Client, root: &str, source: &AppSource) -> Result<Report, UploadError> {
    let ws = client.workspace();
    match ws.get_status(root).await {
        Ok(o) if o.is_directory() => {}
        Ok(_) => return Err(UploadError::NotAFolder(root.to_owned())),
        Err(e) if e.is_not_found() => ws
            .mkdirs(root)
            .await
            .map_err(call(format!("creating {root}")))?,
        Err(e) => return Err(call(format!("reading {root}"))(e)),
    }
    let old = read_state(client, root).await;
    let sizes = remote_sizes(client, root).await?;
    let mut report = Report::default();
    let mut keep = State::default();
    let mut changed = Vec::new();
    for f in &source.files {
        let rec = Recorded {
            sha256: f.sha256(),
            size: f.content.len() as u64,
        };
        let same = old.files.get(&f.path) == Some(&rec) && sizes.get(&f.path) == Some(&rec.size);
        if same {
            report.unchanged += 1;
            keep.files.insert(f.path.clone(), rec);
        } else {
            changed.push((f, rec));
        }
    }
    let wanted: BTreeSet<&str> = source.files.iter().map(|f| f.path.as_str()).collect();
    let stale: Vec<String> = old
        .files
        .keys()
        .filter(|p| !wanted.contains(p.as_str()))
        .cloned()
        .collect();
    if changed.is_empty() && stale.is_empty() && !old.files.is_empty() {
        return Ok(report);
    }
    write_state(client, root, &keep).await?;
    for (f, rec) in changed {
        upload_one(client, root, f).await?;
        report.uploaded.push(f.path.clone());
        report.uploaded_bytes += f.content.len();
        keep.files.insert(f.path.clone(), rec);
    }
    for rel in stale {
        let path = join(root, &rel);
        match ws.delete(&path, false).await {
            Ok(()) => report.deleted.push(rel),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(call(format!("deleting {path}"))(e)),
        }
    }
    write_state(client, root, &keep).await?;
    Ok(report)
}
