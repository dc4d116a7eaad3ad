//! Helpers for unit tests: a temporary home directory removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the system temp dir, deleted on drop.
pub(crate) struct TempHome(PathBuf);

impl TempHome {
    pub(crate) fn new() -> Self {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "kiln-databricks-test-{}-{n}-{}",
            std::process::id(),
            crate::retry::random_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `~/.databrickscfg`.
    pub(crate) fn write_cfg(&self, text: &str) {
        std::fs::write(self.0.join(".databrickscfg"), text).unwrap();
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
