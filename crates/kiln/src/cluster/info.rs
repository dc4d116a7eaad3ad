//! The cluster's shared description `<root>/etc/kiln/cluster.json` (0644, no secret): the
//! gateway's URL, where its local key is, the access mode, the token's identity and the models
//! chosen from the workspace. `kiln cluster gateway` writes it once it listens; every user's
//! `kiln cluster configure-user` reads it. [`Layout`] names every path under the root.

use super::access::Identity;
use crate::agents::models::Models;
use crate::agents::plan::write_atomic;
use serde::{Deserialize, Serialize};
use std::io;
use std::path::{Path, PathBuf};

/// Paths on the driver, under a root that tests redirect (`/` on a cluster).
#[derive(Clone, Debug)]
pub struct Layout {
    /// The file-system root.
    pub root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn under(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// `<root>/etc/kiln`: the shared description and the gateway key users read.
    pub fn etc(&self) -> PathBuf {
        self.under("etc/kiln")
    }

    /// `<root>/etc/kiln/cluster.json`.
    pub fn info_file(&self) -> PathBuf {
        self.etc().join("cluster.json")
    }

    /// `<root>/etc/kiln/gateway.key`: the gateway's local key for the cluster's users.
    pub fn shared_key_file(&self) -> PathBuf {
        self.etc().join("gateway.key")
    }

    /// `<root>/var/lib/kiln/gateway`: the gateway's own state directory (0700).
    pub fn gateway_state(&self) -> PathBuf {
        self.under("var/lib/kiln/gateway")
    }

    /// `<root>/var/log/kiln`: the init script's and the gateway's logs.
    pub fn log_dir(&self) -> PathBuf {
        self.under("var/log/kiln")
    }
}

/// What `cluster.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `http://127.0.0.1:PORT`.
    pub gateway_url: String,
    /// The key file users read (`<root>/etc/kiln/gateway.key`).
    pub key_file: PathBuf,
    /// Process id of the gateway.
    pub pid: u32,
    /// The cluster's access mode as configured (`KILN_CLUSTER_ACCESS_MODE`).
    pub access_mode: String,
    /// Whose token the gateway uses.
    pub identity: Identity,
    /// The workspace.
    pub host: String,
    /// Models chosen from the workspace's serving endpoints.
    pub models: Models,
    /// RFC 3339 start time.
    pub started_at: String,
}

/// Reads `cluster.json`.
pub fn read(path: &Path) -> io::Result<ClusterInfo> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    })
}

/// Writes `cluster.json` atomically (0644 when new).
pub fn write(path: &Path, info: &ClusterInfo) -> io::Result<()> {
    let mut text = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    text.push(b'\n');
    write_atomic(path, &text, false).map_err(|e| io::Error::other(e.to_string()))
}
