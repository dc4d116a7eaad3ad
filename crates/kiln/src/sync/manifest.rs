//! The manifest: what kiln wrote into a project's workspace folder (path -> blob id), what it
//! skipped and why, the last synced commit, and the history bundles. One JSON document, kept
//! locally in `~/.kiln/sync/state/` (0600, written atomically) and beside the history in the
//! workspace, so a restored project continues incrementally and kiln only ever deletes objects
//! it wrote.

use super::git::Refs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Manifest format version.
pub const VERSION: u32 = 1;

/// A file kiln wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// The git blob id of the content uploaded.
    pub blob: String,
    /// The git mode (`100644`, `100755`, `120000`).
    pub mode: String,
}

/// A file kiln did not upload, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The blob that was not uploaded (a new version is tried again).
    pub blob: String,
    /// Why, for the user.
    pub reason: String,
}

/// One git bundle, stored in parts (`<name>.0`, `<name>.1`, …) so that no workspace file
/// exceeds the size limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Name (`000001.bundle`).
    pub name: String,
    /// Number of parts.
    pub parts: u32,
}

/// The history kept beside the files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Bundles in the order they must be applied (first: a full bundle).
    pub bundles: Vec<Bundle>,
    /// Commits the bundles hold (the tips at the last bundle); the next bundle excludes them.
    pub tips: Vec<String>,
    /// Number for the next bundle's name.
    pub next_seq: u64,
}

/// What kiln knows about one project's workspace copy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version.
    pub version: u32,
    /// Project (directory) name.
    pub project: String,
    /// The last commit whose tree and history were completely synced.
    pub commit: Option<String>,
    /// When that happened (epoch ms).
    pub synced_at_ms: Option<i64>,
    /// Files kiln wrote, by path inside the project.
    pub files: BTreeMap<String, FileRecord>,
    /// Files kiln skipped, by path.
    pub skipped: BTreeMap<String, Skipped>,
    /// The history bundles.
    pub history: History,
    /// HEAD, branches, tags and remotes at the last sync.
    pub refs: Option<Refs>,
}

impl Manifest {
    /// An empty manifest for `project`.
    pub fn new(project: &str) -> Self {
        Self {
            version: VERSION,
            project: project.to_owned(),
            ..Self::default()
        }
    }

    /// Parses a manifest; refuses other versions and other projects.
    pub fn parse(bytes: &[u8], project: &str) -> Result<Self, String> {
        let m: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("damaged manifest: {e}"))?;
        if m.version != VERSION {
            return Err(format!("manifest version {} is not {VERSION}", m.version));
        }
        if m.project != project {
            return Err(format!("manifest names project {:?}", m.project));
        }
        Ok(m)
    }

    /// The JSON form.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// Where the local manifests live: `~/.kiln/sync/state/`.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under a kiln state directory (`~/.kiln`).
    pub fn new(kiln_dir: &Path) -> Self {
        Self {
            dir: kiln_dir.join("sync").join("state"),
        }
    }

    fn path(&self, project: &str) -> PathBuf {
        let hex: String = project.bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// The manifest of `project`; `None` when there is none (or it is damaged: logged).
    pub fn load(&self, project: &str) -> Option<Manifest> {
        let path = self.path(project);
        let bytes = std::fs::read(&path).ok()?;
        match Manifest::parse(&bytes, project) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(project, path = %path.display(), error = %e, "ignoring the local sync manifest");
                None
            }
        }
    }

    /// Saves the manifest of its project (0600, atomically).
    pub fn save(&self, m: &Manifest) -> io::Result<()> {
        crate::state::ensure_private_dir(&self.dir)?;
        crate::state::write_private(&self.path(&m.project), &m.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::new(home.path());
        assert!(store.load("a b ü").is_none());
        let mut m = Manifest::new("a b ü");
        m.files.insert(
            "x".into(),
            FileRecord {
                blob: "1".into(),
                mode: "100644".into(),
            },
        );
        store.save(&m).unwrap();
        assert_eq!(store.load("a b ü").unwrap(), m);
        assert!(Manifest::parse(&m.to_json(), "other").is_err());
        assert!(Manifest::parse(b"{not json", "a b ü").is_err());
        std::fs::write(store.path("a b ü"), b"garbage").unwrap();
        assert!(store.load("a b ü").is_none());
    }
}
