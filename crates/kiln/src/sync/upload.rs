//! Writing files into the workspace byte for byte. Plain files go through the raw
//! `workspace-files/import-file` upload; files the workspace would turn into notebooks
//! (`.ipynb`, and `.py`/`.sql`/`.scala`/`.r` that may start with the `Databricks notebook source`
//! header: reference §6) go through `workspace/import` with `format=RAW`, which keeps them files
//! (10 MB limit). A path kiln has not written before is uploaded without `overwrite` first, so an
//! object the user made there (a notebook, a folder) is found and left alone. Files over the
//! size limit are skipped with a reason; nothing here fails the other files.

use super::git::{BlobReader, TreeEntry};
use super::manifest::FileRecord;
use bytes::Bytes;
use kiln_databricks::api::workspace::{Format, Import, ObjectType};
use kiln_databricks::{Client, Error};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Largest `workspace/import` content (10 MB, reference §6).
pub const IMPORT_LIMIT_BYTES: usize = 10 << 20;
/// Default largest workspace file (500 MiB; the real limit is uncertain, reference §6).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 500 << 20;
/// Memory for file contents held by uploads in flight (256 MiB, in 1 MiB permits).
const MEMORY_PERMITS: u32 = 256;

/// Extensions whose files may become notebooks through `import-file` / `AUTO`.
const NOTEBOOK_EXTENSIONS: &[&str] = &["py", "sql", "scala", "r", "ipynb"];

/// The result for one file.
#[derive(Debug)]
pub enum Outcome {
    /// Written; the manifest records it.
    Written(FileRecord),
    /// Not written, for a reason that a retry would not change.
    Skipped(String),
    /// Not written; the sync as a whole failed and is retried later.
    Failed(Error),
}

/// Uploads files of one project.
#[derive(Clone)]
pub struct Uploader {
    client: Client,
    root: String,
    blobs: BlobReader,
    max_file_bytes: u64,
    memory: Arc<Semaphore>,
}

fn extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// Whether the workspace could turn this file into a notebook.
pub fn may_become_notebook(path: &str) -> bool {
    extension(path).is_some_and(|e| NOTEBOOK_EXTENSIONS.contains(&e.as_str()))
}

/// Whether content looks like an exported notebook (header in the first line) or is an
/// `.ipynb`: such a file must not go through `import-file`.
fn would_convert(path: &str, content: &[u8]) -> bool {
    if extension(path).as_deref() == Some("ipynb") {
        return true;
    }
    let head = &content[..content.len().min(200)];
    String::from_utf8_lossy(head).contains("Databricks notebook source")
}

fn exists_error(e: &Error) -> bool {
    e.is_already_exists()
        || e.status() == Some(409)
        || e.api_error()
            .is_some_and(|a| a.message.trim_end().ends_with("already exists."))
}

/// Extra attempts of a first upload after a transient failure.
const RESENDS: u32 = 3;

fn transient(e: &Error) -> bool {
    matches!(
        e.root(),
        Error::Transport { .. } | Error::Unavailable { .. } | Error::RateLimited { .. }
    )
}

/// Whether the workspace refused an upload for its size.
pub fn too_large(e: &Error) -> bool {
    e.status() == Some(413)
        || e.error_code()
            .is_some_and(|c| c.contains("SIZE_EXCEEDED") || c.contains("TOO_LARGE"))
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
}

impl Uploader {
    /// An uploader into the project folder `root` (absolute workspace path).
    pub fn new(client: Client, root: String, blobs: BlobReader, max_file_bytes: u64) -> Self {
        Self {
            client,
            root,
            blobs,
            max_file_bytes,
            memory: Arc::new(Semaphore::new(MEMORY_PERMITS as usize)),
        }
    }

    /// The workspace path of a project path.
    pub fn remote(&self, rel: &str) -> String {
        if rel.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{rel}", self.root)
        }
    }

    /// Creates a folder and its parents.
    pub async fn mkdirs(&self, rel: &str) -> Result<(), Error> {
        self.client.workspace().mkdirs(&self.remote(rel)).await
    }

    /// Uploads one entry; `known` when kiln wrote this path before (then it is overwritten).
    pub async fn upload(&self, entry: &TreeEntry, known: bool) -> Outcome {
        if entry.size > self.max_file_bytes {
            return Outcome::Skipped(format!(
                "{} is over the workspace file size limit ({})",
                mib(entry.size),
                mib(self.max_file_bytes)
            ));
        }
        let need = u32::try_from((entry.size >> 20).max(1))
            .unwrap_or(MEMORY_PERMITS)
            .min(MEMORY_PERMITS);
        let Ok(_memory) = self.memory.acquire_many(need).await else {
            return Outcome::Skipped("upload stopped".into());
        };
        let content = match self.blobs.read(&entry.id).await {
            Ok(c) => c,
            Err(e) => {
                return Outcome::Failed(Error::InvalidInput(format!(
                    "cannot read it from git: {e}"
                )));
            }
        };
        let size = content.len() as u64;
        let raw_import = may_become_notebook(&entry.path);
        if raw_import && content.len() > IMPORT_LIMIT_BYTES && would_convert(&entry.path, &content)
        {
            return Outcome::Skipped(format!(
                "{} is over the 10 MB limit of the upload that keeps notebook sources as files",
                mib(size)
            ));
        }
        let raw_import = raw_import && content.len() <= IMPORT_LIMIT_BYTES;
        let path = self.remote(&entry.path);
        let mut overwrite = known;
        let mut made_parent = false;
        let mut resent = 0u32;
        loop {
            let result = if raw_import {
                self.client
                    .workspace()
                    .import(&Import {
                        path: path.clone(),
                        content: content.clone(),
                        format: Format::Raw,
                        language: None,
                        overwrite,
                    })
                    .await
            } else {
                self.client
                    .workspace()
                    .import_file(&path, content.clone(), overwrite)
                    .await
            };
            match result {
                Ok(()) => {
                    return Outcome::Written(FileRecord {
                        blob: entry.id.clone(),
                        mode: entry.mode.clone(),
                    });
                }
                Err(e) if e.is_not_found() && !made_parent => {
                    made_parent = true;
                    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or(&self.root);
                    if let Err(e) = self.client.workspace().mkdirs(parent).await {
                        return Outcome::Failed(e);
                    }
                }
                Err(e) if !overwrite && exists_error(&e) => {
                    match self.client.workspace().get_status(&path).await {
                        Ok(info) if info.object_type == Some(ObjectType::File) => overwrite = true,
                        Ok(info) => {
                            return Outcome::Skipped(format!(
                                "a {} that kiln did not write is at this path; kiln leaves it",
                                match info.object_type {
                                    Some(ObjectType::Notebook) => "notebook",
                                    Some(ObjectType::Directory | ObjectType::Repo) => "folder",
                                    _ => "workspace object",
                                }
                            ));
                        }
                        Err(e) => return Outcome::Failed(e),
                    }
                }
                // A first upload (no overwrite) is not repeated by the client after the server
                // may have acted; here that is safe: if it did, the repeat meets the file and
                // the branch above overwrites kiln's own upload.
                Err(e) if !overwrite && resent < RESENDS && transient(&e) => {
                    resent += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(u64::from(resent))).await;
                }
                Err(e) if too_large(&e) => {
                    let why = e
                        .api_error()
                        .map(|a| a.message.clone())
                        .unwrap_or_else(|| e.to_string());
                    return Outcome::Skipped(format!(
                        "the workspace refused it as too large: {why}"
                    ));
                }
                Err(e) => return Outcome::Failed(e),
            }
        }
    }

    /// Deletes a file kiln wrote (already gone is fine).
    pub async fn delete(&self, rel: &str) -> Result<(), Error> {
        match self
            .client
            .workspace()
            .delete(&self.remote(rel), false)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            // Something else took the path over (a folder with content): not kiln's to remove.
            Err(e) if e.error_code() == Some("DIRECTORY_NOT_EMPTY") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes a folder if it is empty; anything in it (a user's notebook) keeps it.
    pub async fn remove_empty_dir(&self, rel: &str) {
        if let Err(e) = self
            .client
            .workspace()
            .delete(&self.remote(rel), false)
            .await
            && !e.is_not_found()
        {
            tracing::debug!(folder = rel, error = %e, "folder kept");
        }
    }

    /// Uploads a kiln file (manifest, bundle) with overwrite.
    pub async fn put_file(client: &Client, path: &str, content: Bytes) -> Result<(), Error> {
        match client
            .workspace()
            .import_file(path, content.clone(), true)
            .await
        {
            Err(e) if e.is_not_found() => {
                let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or(path);
                client.workspace().mkdirs(parent).await?;
                client.workspace().import_file(path, content, true).await
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_candidates() {
        for p in ["a.py", "dir/b.SQL", "c.scala", "d.r", "e.R", "n.ipynb"] {
            assert!(may_become_notebook(p), "{p}");
        }
        for p in [".py", "dir/.ipynb", "a.txt", "py", "a.py.txt", "dir.py/x"] {
            assert!(!may_become_notebook(p), "{p}");
        }
        assert!(would_convert("a.ipynb", b"{}"));
        assert!(would_convert("a.py", b"# Databricks notebook source\nx"));
        assert!(!would_convert("a.py", b"print(1)"));
    }
}
