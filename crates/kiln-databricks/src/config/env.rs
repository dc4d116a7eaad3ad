//! [`Environment`]: the environment variables and home directory configuration is resolved
//! from, as a value, so tests never touch the process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables and home directory used to resolve configuration.
#[derive(Clone, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    home: Option<PathBuf>,
}

impl Environment {
    /// An empty environment with no home directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current process's `DATABRICKS_*` variables and `$HOME`.
    /// Only `DATABRICKS_*` variables are captured, so nothing unrelated is held.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .filter(|(k, _)| k.starts_with("DATABRICKS_"))
            .collect();
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Self { vars, home }
    }

    /// Sets a variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Sets the home directory (where `~/.databrickscfg` is looked up).
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// A variable's value; empty values count as unset, as in the SDKs.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The home directory, if known.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values may be tokens.
        f.debug_struct("Environment")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("home", &self.home)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_unset_and_debug_shows_names_only() {
        let env = Environment::new()
            .with_var("DATABRICKS_TOKEN", "dapi-secret-value")
            .with_var("DATABRICKS_HOST", "")
            .with_home("/home/x");
        assert_eq!(env.get("DATABRICKS_TOKEN"), Some("dapi-secret-value"));
        assert_eq!(env.get("DATABRICKS_HOST"), None);
        assert_eq!(env.home(), Some(Path::new("/home/x")));
        let dbg = format!("{env:?}");
        assert!(dbg.contains("DATABRICKS_TOKEN") && !dbg.contains("dapi-secret-value"));
    }
}
