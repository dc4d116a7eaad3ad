//! What a sync must do, computed from the manifest (what kiln wrote) and the tree of HEAD: the
//! files to upload (new or changed blobs; a rename is an upload of the new path and a deletion
//! of the old one, as the Workspace API has no move), the files to delete, the folders to
//! create first and the folders that became empty. Pure: no I/O.

use super::git::TreeEntry;
use super::manifest::Manifest;
use std::collections::BTreeSet;

/// The work of one sync.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Entries to upload.
    pub uploads: Vec<TreeEntry>,
    /// Paths kiln wrote that HEAD no longer has.
    pub deletes: Vec<String>,
    /// Folders to create (deepest only: `mkdirs` creates parents), relative to the project.
    pub mkdirs: Vec<String>,
    /// Folders that held deleted files and hold nothing of HEAD, deepest first.
    pub rmdirs: Vec<String>,
}

impl Plan {
    /// Whether the workspace already matches.
    pub fn is_empty(&self) -> bool {
        self.uploads.is_empty() && self.deletes.is_empty()
    }
}

/// Every ancestor folder of a relative path (`a/b/c.txt` -> `a`, `a/b`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Computes the plan.
pub fn plan(manifest: &Manifest, tree: &[TreeEntry]) -> Plan {
    let blobs: Vec<&TreeEntry> = tree.iter().filter(|e| e.is_blob()).collect();
    let wanted: BTreeSet<&str> = blobs.iter().map(|e| e.path.as_str()).collect();
    let uploads: Vec<TreeEntry> = blobs
        .iter()
        .filter(|e| match manifest.files.get(&e.path) {
            Some(f) => f.blob != e.id,
            None => manifest.skipped.get(&e.path).is_none_or(|s| s.blob != e.id),
        })
        .map(|e| (*e).clone())
        .collect();
    let deletes: Vec<String> = manifest
        .files
        .keys()
        .filter(|p| !wanted.contains(p.as_str()))
        .cloned()
        .collect();
    let existing: BTreeSet<&str> = manifest
        .files
        .keys()
        .filter(|p| wanted.contains(p.as_str()))
        .flat_map(|p| ancestors(p))
        .collect();
    let needed: BTreeSet<&str> = uploads
        .iter()
        .flat_map(|e| ancestors(&e.path))
        .filter(|d| !existing.contains(d))
        .collect();
    let mkdirs = needed
        .iter()
        .filter(|d| {
            let prefix = format!("{d}/");
            !needed.iter().any(|o| o.starts_with(&prefix))
        })
        .map(|d| (*d).to_owned())
        .collect();
    let kept: BTreeSet<&str> = blobs.iter().flat_map(|e| ancestors(&e.path)).collect();
    let mut rmdirs: Vec<String> = deletes
        .iter()
        .flat_map(|p| ancestors(p))
        .filter(|d| !kept.contains(d))
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(str::to_owned)
        .collect();
    rmdirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    Plan {
        uploads,
        deletes,
        mkdirs,
        rmdirs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::manifest::{FileRecord, Skipped};

    fn entry(path: &str, id: &str) -> TreeEntry {
        TreeEntry {
            mode: "100644".into(),
            id: id.into(),
            size: 1,
            path: path.into(),
        }
    }

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        let mut m = Manifest::new("p");
        for (p, b) in files {
            m.files.insert(
                (*p).into(),
                FileRecord {
                    blob: (*b).into(),
                    mode: "100644".into(),
                },
            );
        }
        m
    }

    #[test]
    fn first_sync_uploads_everything_with_leaf_folders() {
        let tree = vec![
            entry("a/b/c.txt", "1"),
            entry("a/d.txt", "2"),
            entry("top.txt", "3"),
            TreeEntry {
                mode: "160000".into(),
                id: "9".into(),
                size: 0,
                path: "submodule".into(),
            },
        ];
        let p = plan(&Manifest::new("p"), &tree);
        assert_eq!(p.uploads.len(), 3);
        assert_eq!(p.mkdirs, vec!["a/b".to_string()]);
        assert!(p.deletes.is_empty() && p.rmdirs.is_empty());
    }

    #[test]
    fn edits_renames_and_deletions() {
        let m = manifest(&[("a/b/c.txt", "1"), ("a/d.txt", "2"), ("old/x.txt", "3")]);
        let tree = vec![
            entry("a/b/c.txt", "1"),      // unchanged
            entry("a/d.txt", "22"),       // edited
            entry("new/deep/x.txt", "3"), // renamed from old/x.txt
        ];
        let p = plan(&m, &tree);
        let up: Vec<_> = p.uploads.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(up, vec!["a/d.txt", "new/deep/x.txt"]);
        assert_eq!(p.deletes, vec!["old/x.txt".to_string()]);
        assert_eq!(p.mkdirs, vec!["new/deep".to_string()]);
        assert_eq!(p.rmdirs, vec!["old".to_string()]);
        assert!(plan(&manifest(&[("a", "1")]), &[entry("a", "1")]).is_empty());
    }

    #[test]
    fn skipped_blobs_are_not_retried_but_new_versions_are() {
        let mut m = Manifest::new("p");
        m.skipped.insert(
            "big.bin".into(),
            Skipped {
                blob: "7".into(),
                reason: "too large".into(),
            },
        );
        assert!(plan(&m, &[entry("big.bin", "7")]).is_empty());
        assert_eq!(plan(&m, &[entry("big.bin", "8")]).uploads.len(), 1);
    }

    #[test]
    fn deepest_folders_are_removed_first() {
        let m = manifest(&[("x/y/z/f", "1"), ("x/g", "2")]);
        let p = plan(&m, &[]);
        assert_eq!(p.rmdirs, vec!["x/y/z", "x/y", "x"]);
    }
}
