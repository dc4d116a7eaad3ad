//! [`ConfigLoader`]: resolves a [`Config`] in the SDKs' order — explicit values, environment,
//! then a config-file profile (skipped when no profile is asked for and a host or any auth
//! attribute is already set) — then normalises the host and validates.

use super::attrs::{ATTRIBUTES, Attr, Source};
use super::env::Environment;
use super::host::normalize_host;
use super::ini::Ini;
use super::{Config, ConfigError, ConfigErrorKind, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

/// Default config file, relative to the home directory.
const DEFAULT_CONFIG_FILE: &str = ".databrickscfg";
/// Profile used when none is requested and the file names no default.
const DEFAULT_PROFILE: &str = "DEFAULT";

/// Builds a [`Config`] from explicit values, an [`Environment`] and a config file.
#[derive(Clone)]
pub struct ConfigLoader {
    env: Environment,
    explicit: Vec<(Attr, String, String)>,
}

impl fmt::Debug for ConfigLoader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let explicit: Vec<_> = self.explicit.iter().map(|(a, _, l)| (a, l)).collect();
        f.debug_struct("ConfigLoader")
            .field("env", &self.env)
            .field("explicit", &explicit)
            .finish()
    }
}

impl ConfigLoader {
    /// A loader reading the given environment.
    pub fn new(env: Environment) -> Self {
        Self {
            env,
            explicit: Vec::new(),
        }
    }

    /// Sets an attribute explicitly (highest precedence); empty values are ignored.
    pub fn set(self, attr: Attr, value: impl Into<String>) -> Self {
        self.set_from(attr, value, "explicit configuration")
    }

    /// Like [`ConfigLoader::set`], with a label for descriptions (e.g. `"--host flag"`).
    pub fn set_from(mut self, attr: Attr, value: impl Into<String>, label: &str) -> Self {
        self.explicit.push((attr, value.into(), label.to_owned()));
        self
    }

    /// Resolves, normalises and validates.
    pub fn load(self) -> Result<Config, ConfigError> {
        let mut cfg = Config {
            values: BTreeMap::new(),
            loaded_profile: None,
        };
        for (attr, value, label) in &self.explicit {
            let value = value.trim();
            if !value.is_empty() {
                cfg.values.insert(
                    *attr,
                    Value {
                        value: value.to_owned(),
                        source: Source::Explicit(label.clone()),
                    },
                );
            }
        }
        for spec in ATTRIBUTES {
            let Some(var) = spec.env else { continue };
            if cfg.values.contains_key(&spec.attr) {
                continue;
            }
            if let Some(value) = self.env.get(var).map(str::trim).filter(|v| !v.is_empty()) {
                cfg.values.insert(
                    spec.attr,
                    Value {
                        value: value.to_owned(),
                        source: Source::Env(var),
                    },
                );
            }
        }
        self.load_profile(&mut cfg)?;
        normalize(&mut cfg)?;
        validate(&cfg)?;
        Ok(cfg)
    }

    fn config_path(&self, cfg: &Config) -> Result<Option<(PathBuf, String, bool)>, ConfigError> {
        if let Some(v) = cfg.values.get(&Attr::ConfigFile) {
            let path = match (v.value.strip_prefix("~/"), self.env.home()) {
                (Some(rest), Some(home)) => home.join(rest),
                (Some(_), None) => return Err(cfg.error(ConfigErrorKind::NoHome)),
                (None, _) => PathBuf::from(&v.value),
            };
            return Ok(Some((path, v.value.clone(), true)));
        }
        match self.env.home() {
            Some(home) => Ok(Some((
                home.join(DEFAULT_CONFIG_FILE),
                format!("~/{DEFAULT_CONFIG_FILE}"),
                false,
            ))),
            None if cfg.values.contains_key(&Attr::Profile) => {
                Err(cfg.error(ConfigErrorKind::NoHome))
            }
            None => Ok(None),
        }
    }

    fn load_profile(&self, cfg: &mut Config) -> Result<(), ConfigError> {
        let requested = cfg.values.get(&Attr::Profile).map(|v| v.value.clone());
        let auth_set = cfg.values.keys().any(|a| a.auth_family().is_some());
        if requested.is_none() && (auth_set || cfg.values.contains_key(&Attr::Host)) {
            tracing::debug!(
                "host or credentials already set and no profile requested: config file skipped"
            );
            return Ok(());
        }
        let Some((path, shown_path, named_file)) = self.config_path(cfg)? else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(profile) = requested {
                    return Err(cfg.error(ConfigErrorKind::MissingFile {
                        profile,
                        path: shown_path,
                    }));
                }
                if named_file {
                    return Err(cfg.error(ConfigErrorKind::MissingConfigFile { path: shown_path }));
                }
                tracing::debug!(path = %shown_path, "no config file");
                return Ok(());
            }
            Err(e) => {
                return Err(cfg.error(ConfigErrorKind::ReadFile {
                    path: shown_path,
                    message: e.to_string(),
                }));
            }
        };
        let ini = Ini::parse(&text).map_err(|error| {
            cfg.error(ConfigErrorKind::Parse {
                path: shown_path.clone(),
                error,
            })
        })?;
        let default_setting = ini
            .section("__settings__")
            .and_then(|s| s.get("default_profile"))
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let (profile, must_exist) = match (requested, default_setting) {
            (Some(p), _) => (p, true),
            (None, Some(p)) => {
                cfg.values.insert(
                    Attr::Profile,
                    Value {
                        value: p.to_owned(),
                        source: Source::DefaultProfileSetting {
                            file: shown_path.clone(),
                        },
                    },
                );
                (p.to_owned(), true)
            }
            (None, None) => (DEFAULT_PROFILE.to_owned(), false),
        };
        let Some(section) = ini.section(&profile) else {
            if !must_exist {
                tracing::debug!(path = %shown_path, "config file has no DEFAULT profile");
                return Ok(());
            }
            let available: Vec<&str> = ini
                .sections
                .iter()
                .map(|s| s.name.as_str())
                .filter(|n| *n != "__settings__")
                .collect();
            return Err(cfg.error(ConfigErrorKind::MissingProfile {
                profile,
                path: shown_path,
                available: if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                },
            }));
        };
        for (key, value) in &section.entries {
            match Attr::from_name(key) {
                Some(Attr::Profile | Attr::ConfigFile) | None => {
                    tracing::debug!(key = %key, profile = %profile, "config key ignored");
                }
                Some(attr) => {
                    let value = value.trim();
                    if !value.is_empty() && !cfg.values.contains_key(&attr) {
                        cfg.values.insert(
                            attr,
                            Value {
                                value: value.to_owned(),
                                source: Source::Profile {
                                    profile: profile.clone(),
                                    file: shown_path.clone(),
                                },
                            },
                        );
                    }
                }
            }
        }
        cfg.loaded_profile = Some(profile);
        Ok(())
    }
}

fn normalize(cfg: &mut Config) -> Result<(), ConfigError> {
    if let Some(v) = cfg.values.get(&Attr::Host).cloned() {
        match normalize_host(&v.value) {
            Ok(n) => {
                for (attr, lifted) in [
                    (Attr::WorkspaceId, n.workspace_id),
                    (Attr::AccountId, n.account_id),
                ] {
                    if let Some(id) = lifted {
                        cfg.values.entry(attr).or_insert(Value {
                            value: id,
                            source: v.source.clone(),
                        });
                    }
                }
                cfg.values.insert(
                    Attr::Host,
                    Value {
                        value: n.host,
                        source: v.source,
                    },
                );
            }
            Err(reason) => {
                let shown = redact_userinfo(&v.value);
                if let Some(h) = cfg.values.get_mut(&Attr::Host) {
                    h.value = shown.clone();
                }
                return Err(cfg.error(ConfigErrorKind::InvalidHost {
                    value: shown,
                    reason,
                }));
            }
        }
    }
    for attr in [Attr::HttpTimeoutSeconds, Attr::RetryTimeoutSeconds] {
        let Some(v) = cfg.values.get(&attr) else {
            continue;
        };
        if !v.value.parse::<u64>().is_ok_and(|n| n > 0) {
            return Err(cfg.error(ConfigErrorKind::InvalidValue {
                attr,
                message: format!("{:?} is not a positive whole number of seconds", v.value),
            }));
        }
    }
    Ok(())
}

fn validate(cfg: &Config) -> Result<(), ConfigError> {
    let families: BTreeSet<&str> = cfg.values.keys().filter_map(|a| a.auth_family()).collect();
    if families.len() > 1 && !cfg.values.contains_key(&Attr::AuthType) {
        let names: Vec<&str> = families.into_iter().collect();
        return Err(cfg.error(ConfigErrorKind::MultipleAuth(names.join(" and "))));
    }
    Ok(())
}

/// `https://user:pw@host` -> `https://***@host`, so a bad host never shows a password.
fn redact_userinfo(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, value),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let redacted = format!("***{}", &rest[at..]);
            match scheme {
                Some(s) => format!("{s}://{redacted}"),
                None => redacted,
            }
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
