//! The pinned agent versions: `manifest.json` beside this file, built into the binary. A JSON
//! file named by `KILN_AGENTS_MANIFEST` (or `--manifest`) overrides entries field by field, and
//! `KILN_<AGENT>_VERSION` (e.g. `KILN_CODEX_VERSION`) overrides one version.

use super::Agent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The built-in manifest.
pub const BUILT_IN: &str = include_str!("manifest.json");

/// Where a package comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageSource {
    /// npm, installed with `npm install -g --prefix`.
    Npm,
    /// PyPI, installed with pip into a venv of its own.
    Pypi,
}

/// One pinned package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageSpec {
    /// npm or PyPI.
    pub source: PackageSource,
    /// Package name.
    pub package: String,
    /// Exact version.
    pub version: String,
    /// The command it provides.
    pub bin: String,
}

#[derive(Debug, Default, Deserialize)]
struct PartialSpec {
    source: Option<PackageSource>,
    package: Option<String>,
    version: Option<String>,
    bin: Option<String>,
}

/// Every agent's package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Packages by agent name.
    pub agents: BTreeMap<String, PackageSpec>,
}

impl Manifest {
    /// The built-in manifest.
    pub fn built_in() -> Result<Self, String> {
        let agents: BTreeMap<String, PackageSpec> =
            serde_json::from_str(BUILT_IN).map_err(|e| format!("built-in manifest: {e}"))?;
        Ok(Self { agents })
    }

    /// The built-in manifest with an override file (if any) and version variables applied.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut m = Self::built_in()?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read manifest {}: {e}", path.display()))?;
            m.overlay(&text)
                .map_err(|e| format!("manifest {}: {e}", path.display()))?;
        }
        // KILN_<AGENT>_VERSION: one variable per agent, read from `env` (the process
        // environment, or a test's map) and listed in `--manifest`'s help rather than being
        // five clap flags.
        for agent in Agent::ALL {
            let var = format!("KILN_{}_VERSION", agent.name().to_ascii_uppercase());
            if let (Some(v), Some(spec)) = (env.get(&var), m.agents.get_mut(agent.name()))
                && !v.trim().is_empty()
            {
                spec.version = v.trim().to_owned();
            }
        }
        Ok(m)
    }

    /// Applies an override document (`{"<agent>": {"version": "…"}, …}`).
    pub fn overlay(&mut self, text: &str) -> Result<(), String> {
        let over: BTreeMap<String, PartialSpec> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        for (name, p) in over {
            let agent: Agent = name.parse()?;
            let key = agent.name().to_owned();
            let spec = match (self.agents.get(&key).cloned(), p.package.clone()) {
                (Some(s), _) => s,
                (None, Some(package)) => PackageSpec {
                    source: p.source.unwrap_or(PackageSource::Npm),
                    package,
                    version: String::new(),
                    bin: agent.bin().to_owned(),
                },
                (None, None) => return Err(format!("{name}: a new entry needs a package")),
            };
            let spec = PackageSpec {
                source: p.source.unwrap_or(spec.source),
                package: p.package.unwrap_or(spec.package),
                version: p.version.unwrap_or(spec.version),
                bin: p.bin.unwrap_or(spec.bin),
            };
            if spec.version.is_empty() {
                return Err(format!("{name}: no version"));
            }
            self.agents.insert(key, spec);
        }
        Ok(())
    }

    /// The package of `agent`.
    pub fn get(&self, agent: Agent) -> Option<&PackageSpec> {
        self.agents.get(agent.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pins_the_tested_versions() {
        let m = Manifest::built_in().unwrap();
        let v = |a: Agent| m.get(a).unwrap().version.clone();
        assert_eq!(v(Agent::Claude), "2.1.197");
        assert_eq!(v(Agent::Codex), "0.169.0");
        assert_eq!(v(Agent::Gemini), "0.61.0");
        assert_eq!(v(Agent::OpenCode), "1.18.33");
        assert_eq!(v(Agent::Hermes), "0.19.0");
        assert_eq!(m.get(Agent::Hermes).unwrap().source, PackageSource::Pypi);
        for a in Agent::ALL {
            assert_eq!(m.get(a).unwrap().bin, a.bin());
        }
    }

    #[test]
    fn overrides_apply_field_by_field() {
        let dir = std::env::temp_dir().join(format!("kiln-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.json");
        std::fs::write(
            &file,
            r#"{"codex": {"version": "0.170.0"}, "claude-code": {"package": "@corp/claude"}}"#,
        )
        .unwrap();
        let env: BTreeMap<String, String> =
            [("KILN_GEMINI_VERSION".to_owned(), "0.62.0".to_owned())]
                .into_iter()
                .collect();
        let m = Manifest::load(Some(&file), &env).unwrap();
        assert_eq!(m.get(Agent::Codex).unwrap().version, "0.170.0");
        assert_eq!(m.get(Agent::Codex).unwrap().package, "@openai/codex");
        assert_eq!(m.get(Agent::Claude).unwrap().package, "@corp/claude");
        assert_eq!(m.get(Agent::Claude).unwrap().version, "2.1.197");
        assert_eq!(m.get(Agent::Gemini).unwrap().version, "0.62.0");
        std::fs::write(&file, r#"{"emacs": {"version": "1"}}"#).unwrap();
        assert!(
            Manifest::load(Some(&file), &BTreeMap::new())
                .unwrap_err()
                .contains("emacs")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
