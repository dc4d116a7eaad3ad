//! The history beside the files: git bundles in `projects/.kiln/<name>/bundles/` of the
//! workspace. The first bundle holds everything (HEAD, branches, tags); each later sync adds a
//! small bundle of only the commits since the tips the earlier bundles hold (`--not <tips>`), so
//! a commit costs an upload of its own objects, not of the whole history. After
//! [`MAX_BUNDLES`] bundles the next sync writes one full bundle again and the old ones are
//! deleted once the manifest names the new one. Parts no manifest names (a kiln killed during an
//! upload, a delete that failed) are deleted after the next sync ([`remove_unnamed`]). Restore
//! applies the bundles in order into a fresh repository, sets the refs from the manifest and
//! checks HEAD out.

use super::git::{self, GitError, Refs};
use super::manifest::{Bundle, Manifest};
use super::upload::{Uploader, too_large};
use bytes::Bytes;
use kiln_databricks::api::workspace::ObjectType;
use kiln_databricks::{Client, Error};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Bundles kept before the history is compacted into one.
pub const MAX_BUNDLES: usize = 16;
/// Largest part of a bundle (32 MiB), or less when the workspace refuses a part as too large.
const PART_BYTES: usize = 32 << 20;
/// Smallest part size tried (1 MiB).
const MIN_PART_BYTES: usize = 1 << 20;

/// Why history could not be saved or restored.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// git failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The workspace failed.
    #[error(transparent)]
    Workspace(#[from] Error),
    /// A local file operation failed.
    #[error("{0}")]
    Io(String),
}

/// A scratch directory under `~/.kiln/sync/tmp`, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh private directory under `base`.
    pub fn new(base: &Path) -> Result<Self, HistoryError> {
        let name = crate::state::random_hex(8).map_err(|e| HistoryError::Io(e.to_string()))?;
        let dir = base.join(name);
        crate::state::ensure_private_dir(&dir)
            .map_err(|e| HistoryError::Io(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tips a new bundle must hold: HEAD, branches and tags.
fn tips(refs: &Refs) -> Vec<String> {
    let mut t: Vec<String> = refs.refs.values().cloned().collect();
    t.push(refs.head.clone());
    t.sort();
    t.dedup();
    t
}

/// Saves the history of the repository at `dir` up to `refs` into `history_root` and updates
/// `manifest.history`. Bundles the manifest no longer names stay until [`remove_unnamed`] runs
/// after the manifest is uploaded.
pub async fn push(
    dir: &Path,
    client: &Client,
    history_root: &str,
    scratch_base: &Path,
    refs: &Refs,
    manifest: &mut Manifest,
) -> Result<(), HistoryError> {
    let compact = manifest.history.bundles.len() >= MAX_BUNDLES;
    let mut known = Vec::new();
    if !compact {
        for t in &manifest.history.tips {
            if git::has_object(dir, t).await {
                known.push(t.clone());
            }
        }
        if known.is_empty() && !manifest.history.bundles.is_empty() {
            // None of the saved tips exists here any more: start over with a full bundle.
            return push_full(dir, client, history_root, scratch_base, refs, manifest).await;
        }
    }
    if compact || manifest.history.bundles.is_empty() {
        return push_full(dir, client, history_root, scratch_base, refs, manifest).await;
    }
    let scratch = Scratch::new(scratch_base)?;
    let file = scratch.path().join("b.bundle");
    if git::bundle_create(dir, &file, &known).await? {
        let name = upload_bundle(client, history_root, &file, manifest).await?;
        manifest.history.bundles.push(name);
    }
    manifest.history.tips = tips(refs);
    Ok(())
}

async fn push_full(
    dir: &Path,
    client: &Client,
    history_root: &str,
    scratch_base: &Path,
    refs: &Refs,
    manifest: &mut Manifest,
) -> Result<(), HistoryError> {
    let scratch = Scratch::new(scratch_base)?;
    let file = scratch.path().join("b.bundle");
    git::bundle_create(dir, &file, &[]).await?;
    let name = upload_bundle(client, history_root, &file, manifest).await?;
    manifest.history.bundles = vec![name];
    manifest.history.tips = tips(refs);
    Ok(())
}

async fn upload_bundle(
    client: &Client,
    history_root: &str,
    file: &Path,
    manifest: &mut Manifest,
) -> Result<Bundle, HistoryError> {
    let bytes = Bytes::from(
        tokio::fs::read(file)
            .await
            .map_err(|e| HistoryError::Io(format!("cannot read the bundle: {e}")))?,
    );
    let seq = manifest.history.next_seq;
    let name = format!("{seq:06}.bundle");
    let mut part_bytes = PART_BYTES;
    'sizes: loop {
        let chunks: Vec<Bytes> = (0..bytes.len().div_ceil(part_bytes).max(1))
            .map(|k| bytes.slice(k * part_bytes..((k + 1) * part_bytes).min(bytes.len())))
            .collect();
        for (k, chunk) in chunks.iter().enumerate() {
            let path = format!("{history_root}/bundles/{name}.{k}");
            match Uploader::put_file(client, &path, chunk.clone()).await {
                Ok(()) => {}
                Err(e) if too_large(&e) && part_bytes > MIN_PART_BYTES => {
                    part_bytes /= 2;
                    continue 'sizes;
                }
                Err(e) => return Err(e.into()),
            }
        }
        manifest.history.next_seq = seq + 1;
        return Ok(Bundle {
            name,
            parts: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        });
    }
}

/// Deletes every bundle part in `history_root` that `manifest` (just uploaded) does not name:
/// bundles a compaction replaced, and parts left by an upload cut short (a kiln killed half-way
/// leaves parts the next attempt, with fewer of them, does not overwrite). Only parts of
/// bundles numbered below the manifest's next one: a newer part is nothing this manifest knows
/// of. Files not named like a part are left alone. Failures are logged; the next sync tries
/// again.
pub async fn remove_unnamed(client: &Client, history_root: &str, manifest: &Manifest) {
    let folder = format!("{history_root}/bundles");
    let listed = match client.workspace().list(&folder).await {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the history bundles");
            return;
        }
    };
    let named: HashSet<String> = manifest
        .history
        .bundles
        .iter()
        .flat_map(|b| (0..b.parts).map(move |k| format!("{}.{k}", b.name)))
        .collect();
    for object in listed {
        // Only files, and only in this folder, whatever path the listing says.
        if object.object_type != Some(ObjectType::File) {
            continue;
        }
        let file = object.path.rsplit('/').next().unwrap_or_default();
        let Some(seq) = part_seq(file) else { continue };
        if seq >= manifest.history.next_seq || named.contains(file) {
            continue;
        }
        let path = format!("{folder}/{file}");
        if let Err(e) = client.workspace().delete(&path, false).await
            && !e.is_not_found()
        {
            tracing::warn!(part = file, error = %e, "cannot delete an unnamed history part");
        }
    }
}

/// The bundle number of a part's file name (`000012.bundle.3`: 12); `None` for other names.
fn part_seq(file: &str) -> Option<u64> {
    let (seq, part) = file.split_once(".bundle.")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(seq) || !digits(part) {
        return None;
    }
    seq.parse().ok()
}

/// Rebuilds the repository of `manifest` in `target` (which must not exist; a fresh
/// directory on the same file system is used, then renamed).
pub async fn restore(
    client: &Client,
    history_root: &str,
    manifest: &Manifest,
    scratch_base: &Path,
    target: &Path,
) -> Result<(), HistoryError> {
    let refs = manifest
        .refs
        .as_ref()
        .ok_or_else(|| HistoryError::Io("the workspace copy has no history yet".into()))?;
    if manifest.history.bundles.is_empty() {
        return Err(HistoryError::Io(
            "the workspace copy has no history yet".into(),
        ));
    }
    let scratch = Scratch::new(scratch_base)?;
    let parent = target.parent().unwrap_or(Path::new("."));
    let building = parent.join(format!(
        ".kiln-restore-{}",
        crate::state::random_hex(6).map_err(|e| HistoryError::Io(e.to_string()))?
    ));
    let result = async {
        git::run(parent, &["init", "-q", &building.to_string_lossy()]).await?;
        for bundle in &manifest.history.bundles {
            let mut bytes = Vec::new();
            for k in 0..bundle.parts {
                let part = client
                    .workspace()
                    .export_raw(&format!("{history_root}/bundles/{}.{k}", bundle.name))
                    .await?;
                bytes.extend_from_slice(&part);
            }
            let file = scratch.path().join(&bundle.name);
            tokio::fs::write(&file, &bytes)
                .await
                .map_err(|e| HistoryError::Io(format!("cannot write {}: {e}", file.display())))?;
            git::run(&building, &["bundle", "unbundle", &file.to_string_lossy()]).await?;
        }
        for (name, id) in &refs.refs {
            git::run(&building, &["update-ref", name, id]).await?;
        }
        match &refs.head_ref {
            Some(r) => {
                git::run(&building, &["update-ref", r, &refs.head]).await?;
                git::run(&building, &["symbolic-ref", "HEAD", r]).await?;
            }
            None => {
                git::run(&building, &["update-ref", "--no-deref", "HEAD", &refs.head]).await?;
            }
        }
        git::run(&building, &["reset", "-q", "--hard", "HEAD"]).await?;
        for (name, url) in &refs.remotes {
            git::run(&building, &["remote", "add", name, url]).await?;
        }
        let dirty = git::status_lines(&building).await?;
        if !dirty.is_empty() {
            return Err(HistoryError::Io(format!(
                "the rebuilt repository is not clean ({} entries)",
                dirty.len()
            )));
        }
        if target.exists() {
            return Err(HistoryError::Io(format!(
                "{} appeared meanwhile; left as it is",
                target.display()
            )));
        }
        std::fs::rename(&building, target).map_err(|e| {
            HistoryError::Io(format!("cannot move the restored project into place: {e}"))
        })
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::part_seq;

    #[test]
    fn only_part_names_have_a_bundle_number() {
        assert_eq!(part_seq("000012.bundle.3"), Some(12));
        assert_eq!(part_seq("1234567.bundle.0"), Some(1_234_567));
        for other in [
            "manifest.json",
            "000012.bundle",
            "000012.bundle.",
            ".bundle.1",
            "12a.bundle.1",
            "000012.bundle.1.tmp",
            "000012.bundle.-1",
            "99999999999999999999999.bundle.0",
        ] {
            assert_eq!(part_seq(other), None, "{other}");
        }
    }
}
