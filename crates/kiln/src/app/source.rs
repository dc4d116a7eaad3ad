//! The app source kiln deploys: `app.yaml` (command `python3 launch.py serve`, no shell needed),
//! `launch.py` (reassembles, checks and starts the binary), `kiln-binary.json` (sizes and
//! sha256 of the binary and of its compressed form) and the gzip-compressed kiln binary in
//! parts of at most [`PART_BYTES`] (`bin/kiln.gz.00`, `.01`, …), so no file comes near the
//! Apps limit of 10 MB per file and a lost executable bit does not matter.

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Largest part of the compressed binary (8 MiB; the Apps limit is 10 MB per file).
pub const PART_BYTES: usize = 8 << 20;
/// Largest file the Apps runtime accepts in an app's source (10 MB).
pub const APPS_FILE_LIMIT: usize = 10_000_000;
/// First line of the `app.yaml` kiln writes (how `package` recognises its own file).
pub const APP_YAML_HEADER: &str = "# Written by `kiln app package`";
/// The start script (see its docstring).
pub const LAUNCH_PY: &str = include_str!("launch.py");
/// Name of the binary's description file.
pub const BINARY_JSON: &str = "kiln-binary.json";
/// Folder of the binary's parts.
pub const PARTS_DIR: &str = "bin";

/// One file of the app source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the source root, with `/` separators.
    pub path: String,
    /// Content.
    pub content: Bytes,
}

impl SourceFile {
    /// sha256 of the content, lowercase hex.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.content))
    }
}

/// The whole app source.
#[derive(Debug, Clone)]
pub struct AppSource {
    /// Files, in a stable order (`app.yaml` first).
    pub files: Vec<SourceFile>,
    /// sha256 of the uncompressed binary.
    pub binary_sha256: String,
    /// Size of the uncompressed binary.
    pub binary_size: usize,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `app.yaml`: the command runs without a shell; kiln reads `DATABRICKS_APP_PORT` itself.
pub fn app_yaml() -> String {
    format!(
        "{APP_YAML_HEADER}; `kiln app deploy` replaces it.\n\
         # The Apps runtime runs this command without a shell. launch.py unpacks the kiln binary\n\
         # (bin/, checked against {BINARY_JSON}) into $HOME/.kiln/bin and execs `kiln serve`,\n\
         # which listens on $DATABRICKS_APP_PORT and admits only the app's creator.\n\
         command: [\"python3\", \"launch.py\", \"serve\"]\n"
    )
}

impl AppSource {
    /// Builds the source around `binary` (the bytes of a Linux kiln executable).
    pub fn new(binary: &[u8], version: &str) -> std::io::Result<Self> {
        let mut gz = GzEncoder::new(Vec::with_capacity(binary.len() / 2), Compression::new(6));
        gz.write_all(binary)?;
        let compressed = Bytes::from(gz.finish()?);
        let binary_sha256 = hex(&Sha256::digest(binary));
        let mut files = vec![
            SourceFile {
                path: "app.yaml".into(),
                content: Bytes::from(app_yaml()),
            },
            SourceFile {
                path: "launch.py".into(),
                content: Bytes::from_static(LAUNCH_PY.as_bytes()),
            },
        ];
        let mut parts = Vec::new();
        for (i, start) in (0..compressed.len().max(1)).step_by(PART_BYTES).enumerate() {
            let end = (start + PART_BYTES).min(compressed.len());
            let path = format!("{PARTS_DIR}/kiln.gz.{i:02}");
            parts.push(path.clone());
            files.push(SourceFile {
                path,
                content: compressed.slice(start..end),
            });
        }
        let description = serde_json::json!({
            "version": version,
            "size": binary.len(),
            "sha256": binary_sha256,
            "gzip_sha256": hex(&Sha256::digest(&compressed)),
            "parts": parts,
        });
        let mut text = serde_json::to_string_pretty(&description)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        text.push('\n');
        files.insert(
            2,
            SourceFile {
                path: BINARY_JSON.into(),
                content: Bytes::from(text),
            },
        );
        Ok(Self {
            files,
            binary_sha256,
            binary_size: binary.len(),
        })
    }

    /// Total bytes of all files.
    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|f| f.content.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn parts_reassemble_and_stay_under_the_limit() {
        // Incompressible bytes, so the compressed form needs several parts.
        let mut binary = vec![0u8; 2 * PART_BYTES + 12345];
        let mut x: u32 = 0x1234_5678;
        for b in &mut binary {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let src = AppSource::new(&binary, "0.1.0").unwrap();
        let names: Vec<&str> = src.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            &names[..5],
            &[
                "app.yaml",
                "launch.py",
                "kiln-binary.json",
                "bin/kiln.gz.00",
                "bin/kiln.gz.01"
            ]
        );
        assert!(src.files.iter().all(|f| f.content.len() <= PART_BYTES));
        let joined: Vec<u8> = src
            .files
            .iter()
            .filter(|f| f.path.starts_with("bin/"))
            .flat_map(|f| f.content.to_vec())
            .collect();
        let mut out = Vec::new();
        GzDecoder::new(&joined[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, binary);
        let desc: serde_json::Value = serde_json::from_slice(&src.files[2].content).unwrap();
        assert_eq!(desc["size"], binary.len());
        assert_eq!(desc["sha256"], src.binary_sha256);
        assert_eq!(desc["parts"].as_array().unwrap().len(), names.len() - 3);
    }
}
