//! Which kiln binary goes into the app source (`--binary`, else the running executable) and
//! the checks it must pass first: a Linux x86_64 ELF that needs no glibc newer than
//! [`GLIBC_FLOOR`](super::elf::GLIBC_FLOOR).

use super::elf::{self, ElfError, GLIBC_FLOOR, GlibcVersion};
use std::path::{Path, PathBuf};

/// How to build a binary that meets the floor (repeated in every error that needs it).
pub const BUILD_HINT: &str = "build one with `./scripts/build-release` (it prints the path, \
     target/x86_64-unknown-linux-gnu/release/kiln) and pass it with --binary";

/// A checked binary, read into memory.
#[derive(Debug, Clone)]
pub struct Binary {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The newest glibc it needs (`None`: static, or no glibc at all).
    pub max_glibc: Option<GlibcVersion>,
}

/// Why a binary cannot be deployed.
#[derive(Debug, thiserror::Error)]
pub enum BinaryError {
    /// Not readable.
    #[error("cannot read the kiln binary {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a Linux x86_64 ELF.
    #[error("{path} cannot run on Databricks: {error}; {BUILD_HINT}")]
    NotLinux {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: ElfError,
    },
    /// Needs a newer glibc than the floor.
    #[error(
        "{path} needs glibc {max}, newer than {GLIBC_FLOOR}, the oldest glibc kiln supports \
         (Ubuntu 20.04; the Apps runtime has 2.35): it asks for {symbols}; {BUILD_HINT}"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Newest version needed.
        max: String,
        /// The offending requirements.
        symbols: String,
    },
}

/// Reads `explicit`, or the running executable, and checks it.
pub fn load(explicit: Option<&Path>) -> Result<Binary, BinaryError> {
    load_checked(explicit, true)
}

/// Like [`load`]; with `glibc_floor` false only the Linux x86_64 check applies (a binary for a
/// runtime known to have a newer glibc, e.g. a test's own build).
pub fn load_checked(explicit: Option<&Path>, glibc_floor: bool) -> Result<Binary, BinaryError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe().map_err(|source| BinaryError::Read {
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?,
    };
    let bytes = std::fs::read(&path).map_err(|source| BinaryError::Read {
        path: path.clone(),
        source,
    })?;
    let needs = elf::needs(&bytes).map_err(|error| BinaryError::NotLinux {
        path: path.clone(),
        error,
    })?;
    let above = needs.above(GLIBC_FLOOR);
    if glibc_floor && !above.is_empty() {
        return Err(BinaryError::TooNew {
            path,
            max: needs
                .max_glibc()
                .map_or_else(|| "GLIBC_PRIVATE".into(), |v| v.to_string()),
            symbols: above.join(", "),
        });
    }
    Ok(Binary {
        path,
        bytes,
        max_glibc: needs.max_glibc(),
    })
}
