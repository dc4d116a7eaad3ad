//! The volumes' files and directories (`Volumes`): what exists, path rules, and the read
//! that cluster init scripts use (`read_file`).

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Bytes;

use crate::error::{ApiError, ApiResult};

/// One file in a volume.
#[derive(Debug, Clone)]
pub struct VolumeFile {
    /// Bytes.
    pub content: Bytes,
    /// Epoch ms.
    pub modified_ms: i64,
}

/// Files and explicit directories in all volumes, keyed by `/Volumes/...` path.
#[derive(Debug, Default)]
pub struct Volumes {
    pub(super) files: BTreeMap<String, VolumeFile>,
    pub(super) dirs: BTreeSet<String>,
    /// Unity Catalog volumes that exist (`/Volumes/c/s/v`). `None` (the default): every
    /// volume exists. Once a test creates one ([`Volumes::create_volume`]), only those do, and
    /// writes into any other answer 404 as the real Files API does.
    registered: Option<BTreeSet<String>>,
}

impl Volumes {
    /// The file at a normalised path.
    pub fn file(&self, path: &str) -> Option<&VolumeFile> {
        self.files.get(path)
    }

    /// Registers a volume root; from then on only registered volumes exist.
    pub fn create_volume(&mut self, root: &str) {
        self.registered
            .get_or_insert_with(BTreeSet::new)
            .insert(root.trim_end_matches('/').to_owned());
    }

    /// The volume root of a normalised path exists.
    pub fn volume_exists(&self, path: &str) -> bool {
        let root: Vec<&str> = path.split('/').take(5).collect();
        self.registered
            .as_ref()
            .is_none_or(|r| r.contains(&root.join("/")))
    }

    /// Whether a directory exists (volume roots, explicit, or implied by a descendant).
    pub fn dir_exists(&self, path: &str) -> bool {
        if !self.volume_exists(path) {
            return false;
        }
        if depth(path) == 3 || self.dirs.contains(path) {
            return true;
        }
        let prefix = format!("{path}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
            || self
                .dirs
                .range(prefix.clone()..)
                .next()
                .is_some_and(|k| k.starts_with(&prefix))
    }

    pub(super) fn ancestors_are_dirs(&self, path: &str) -> Result<(), String> {
        let mut cur = String::new();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for seg in &segs[..segs.len().saturating_sub(1)] {
            cur.push('/');
            cur.push_str(seg);
            if self.files.contains_key(&cur) {
                return Err(cur);
            }
        }
        Ok(())
    }

    /// Direct children: (name, is_directory, file).
    pub(super) fn children(&self, path: &str) -> Vec<(String, Option<VolumeFile>)> {
        let prefix = format!("{path}/");
        let mut out: BTreeMap<String, Option<VolumeFile>> = BTreeMap::new();
        for (k, f) in self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            let rest = &k[prefix.len()..];
            match rest.split_once('/') {
                None => {
                    out.insert(rest.to_string(), Some(f.clone()));
                }
                Some((d, _)) => {
                    out.entry(d.to_string()).or_insert(None);
                }
            }
        }
        for k in self
            .dirs
            .range(prefix.clone()..)
            .take_while(|k| k.starts_with(&prefix))
        {
            let rest = &k[prefix.len()..];
            let d = rest.split('/').next().unwrap_or(rest);
            out.entry(d.to_string()).or_insert(None);
        }
        out.into_iter().collect()
    }
}

/// Components after `Volumes` (3 for a volume root).
pub(super) fn depth(path: &str) -> usize {
    path.split('/')
        .filter(|s| !s.is_empty())
        .count()
        .saturating_sub(1)
}

/// Normalises `Volumes/c/s/v/...` (from the URL) to `/Volumes/c/s/v/...`; `min_depth` is
/// the number of components required after `Volumes` (3 for a directory, 4 for a file).
pub(super) fn volume_path(raw: &str, min_depth: usize) -> ApiResult<String> {
    let segs: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
    if segs.first() != Some(&"Volumes") || segs.iter().any(|s| *s == "." || *s == "..") {
        return Err(ApiError::invalid(format!(
            "Invalid path /{raw}: the Files API supports paths under /Volumes/<catalog>/<schema>/<volume>/."
        )));
    }
    if segs.len() - 1 < min_depth {
        return Err(ApiError::invalid(format!(
            "Invalid path /{raw}: expected /Volumes/<catalog>/<schema>/<volume>{}.",
            if min_depth > 3 { "/<file>" } else { "" }
        )));
    }
    Ok(format!("/{}", segs.join("/")))
}

/// Reads a volume file for init scripts (`/Volumes/...` or `dbfs:/Volumes/...`).
pub fn read_file(v: &Volumes, raw: &str) -> Option<Bytes> {
    let p = raw.strip_prefix("dbfs:").unwrap_or(raw);
    let path = volume_path(p.trim_start_matches('/'), 4).ok()?;
    v.file(&path).map(|f| f.content.clone())
}
