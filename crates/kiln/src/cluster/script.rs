//! The init script: `init.sh.tmpl` (kept in the repository, reviewed like code) with kiln's
//! version, the SHA-256 of the kiln binary that goes next to it, the pinned Node.js release and
//! the agents to install filled in. The agents' versions are those of the manifest built into
//! that binary (`kiln agents install` does the installing).

use crate::agents::Agent;
use anyhow::anyhow;
use sha2::{Digest as _, Sha256};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The template.
pub const TEMPLATE: &str = include_str!("init.sh.tmpl");

/// Node.js installed when the runtime has none (or one older than [`NODE_MIN_MAJOR`]).
pub const NODE_VERSION: &str = "22.14.0";
/// SHA-256 of `node-v22.14.0-linux-x64.tar.xz`.
pub const NODE_SHA256_X64: &str =
    "69b09dba5c8dcb05c4e4273a4340db1005abeafe3927efda2bc5b249e80437ec";
/// SHA-256 of `node-v22.14.0-linux-arm64.tar.xz`.
pub const NODE_SHA256_ARM64: &str =
    "08bfbf538bad0e8cbb0269f0173cca28d705874a67a22f60b57d99dc99e30050";
/// Oldest Node.js major version the agents run on (Gemini CLI needs 20).
pub const NODE_MIN_MAJOR: u32 = 20;

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// SHA-256 of bytes, as lowercase hex.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The script for a kiln binary whose SHA-256 is `binary_sha256`.
pub fn render(binary_sha256: &str) -> String {
    let agents: Vec<&str> = Agent::ALL.iter().map(|a| a.name()).collect();
    let values = [
        ("KILN_VERSION", env!("CARGO_PKG_VERSION").to_owned()),
        ("KILN_SHA256", binary_sha256.to_owned()),
        ("NODE_VERSION", NODE_VERSION.to_owned()),
        ("NODE_SHA256_X64", NODE_SHA256_X64.to_owned()),
        ("NODE_SHA256_ARM64", NODE_SHA256_ARM64.to_owned()),
        ("NODE_MIN_MAJOR", NODE_MIN_MAJOR.to_string()),
        ("AGENTS", agents.join(",")),
    ];
    let mut out = TEMPLATE.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), &value);
    }
    out
}

/// Placeholders left in a rendered script (`{{NAME}}` in capitals), which would be a bug.
pub fn leftover_placeholders(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = script;
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        if let Some(j) = after.find("}}") {
            let name = &after[..j];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                out.push(name.to_owned());
            }
        }
        rest = after;
    }
    out
}

/// Which kiln binary goes onto the cluster, and its check.
#[derive(Debug, Clone, clap::Args)]
pub struct BinaryArgs {
    /// The kiln binary for the cluster: a Linux x86_64 build that needs glibc 2.31 at most
    /// (`./scripts/build-release` makes one). Default: the running kiln.
    #[arg(long, env = "KILN_CLUSTER_BINARY")]
    pub binary: Option<PathBuf>,
    /// Accept a binary that needs a newer glibc than 2.31 (only for a runtime known to have
    /// it; the init script fails at cluster start otherwise).
    #[arg(long)]
    pub skip_glibc_check: bool,
}

impl BinaryArgs {
    /// The binary's path and bytes, once it passed the checks.
    pub fn load(&self) -> anyhow::Result<(PathBuf, Vec<u8>)> {
        let b = crate::app::binary::load_checked(self.binary.as_deref(), !self.skip_glibc_check)
            .map_err(|e| anyhow!("{e}"))?;
        Ok((b.path, b.bytes))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        assert!(!leftover_placeholders(TEMPLATE).is_empty());
        let s = render(&"a".repeat(64));
        assert_eq!(leftover_placeholders(&s), Vec::<String>::new());
        assert!(s.starts_with("#!/bin/bash\n"));
        assert!(s.contains("set -Eeuo pipefail"));
        assert!(s.contains(&format!("KILN_SHA256='{}'", "a".repeat(64))));
        assert!(s.contains("AGENTS='claude,codex,gemini,opencode,hermes'"));
        // The secret-reference syntax in the comments is not a placeholder.
        assert!(s.contains("{{secrets/<scope>/<key>}}"));
    }

    #[test]
    fn sha256_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
