//! `app.yaml` / `app.yml` (reference §5.2): the command (a list, never run by a shell) and the
//! `env` entries (`value` or `valueFrom` an app resource), plus the documented default command
//! when the file has none, and the deploy request's `command` / `env_vars` overrides.

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// Largest `app.yaml` accepted, bytes.
const MAX_APP_YAML_BYTES: usize = 64 << 10; // 64 KiB

/// Where an environment variable's value comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvSource {
    /// A literal value.
    Value(String),
    /// The key of an app resource (`valueFrom` in app.yaml, `value_from` in the API).
    ValueFrom(String),
}

/// One environment variable of the app.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// Its value or resource.
    pub source: EnvSource,
}

impl std::fmt::Debug for EnvSource {
    /// Never shows a literal value: it may be a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Value(<redacted>)"),
            Self::ValueFrom(k) => write!(f, "ValueFrom({k})"),
        }
    }
}

impl std::fmt::Debug for EnvVar {
    /// Names only: values may be secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            EnvSource::Value(_) => "value",
            EnvSource::ValueFrom(_) => "valueFrom",
        };
        write!(f, "{}=<{kind}>", self.name)
    }
}

/// What `app.yaml` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppSpec {
    /// The command, when given.
    pub command: Option<Vec<String>>,
    /// Environment entries, in file order.
    pub env: Vec<EnvVar>,
}

/// Parses an `app.yaml`; `file` names it in messages.
pub fn parse(text: &[u8], file: &str) -> Result<AppSpec, String> {
    if text.len() > MAX_APP_YAML_BYTES {
        return Err(format!(
            "{file} is larger than {} KiB.",
            MAX_APP_YAML_BYTES >> 10
        ));
    }
    let text = std::str::from_utf8(text).map_err(|_| format!("{file} is not UTF-8 text."))?;
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("Invalid {file}: {e}"))?;
    let Some(doc) = docs.into_iter().next() else {
        return Ok(AppSpec::default());
    };
    let map = match doc {
        Yaml::Hash(m) => m,
        Yaml::Null => return Ok(AppSpec::default()),
        _ => return Err(format!("Invalid {file}: the top level must be a mapping.")),
    };
    let mut spec = AppSpec::default();
    for (k, v) in map {
        match k.as_str() {
            Some("command") => spec.command = Some(command(&v, file)?),
            Some("env") => spec.env = env(&v, file)?,
            _ => {}
        }
    }
    Ok(spec)
}

fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn command(v: &Yaml, file: &str) -> Result<Vec<String>, String> {
    let Yaml::Array(items) = v else {
        return Err(format!(
            "Invalid {file}: command must be a list of strings, e.g. [\"python\", \"app.py\"]."
        ));
    };
    let argv = items
        .iter()
        .map(scalar)
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| format!("Invalid {file}: every command element must be a string."))?;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(format!("Invalid {file}: command is empty."));
    }
    Ok(argv)
}

fn env(v: &Yaml, file: &str) -> Result<Vec<EnvVar>, String> {
    let items = match v {
        Yaml::Array(items) => items,
        Yaml::Null => return Ok(Vec::new()),
        _ => return Err(format!("Invalid {file}: env must be a list.")),
    };
    items
        .iter()
        .map(|item| {
            let name = scalar(&item["name"])
                .filter(|n| valid_env_name(n))
                .ok_or_else(|| {
                    format!(
                        "Invalid {file}: every env entry needs a valid name (letters, digits, _)."
                    )
                })?;
            let value = scalar(&item["value"]);
            let from = scalar(&item["valueFrom"]);
            let source = match (value, from) {
                (Some(v), None) => EnvSource::Value(v),
                (None, Some(r)) => EnvSource::ValueFrom(r),
                _ => {
                    return Err(format!(
                        "Invalid {file}: env entry {name} needs exactly one of value or valueFrom."
                    ));
                }
            };
            Ok(EnvVar { name, source })
        })
        .collect()
}

/// Environment variable names the runtime accepts.
fn valid_env_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The deploy request's `command` override (a JSON list of strings).
pub fn command_override(v: &Value) -> Result<Vec<String>, String> {
    let argv = v
        .as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or("command must be a list of strings.")?;
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err("command is empty.".into());
    }
    Ok(argv)
}

/// The deploy request's `env_vars` overrides (`name` with `value` or `value_from`).
pub fn env_overrides(items: &[Value]) -> Result<Vec<EnvVar>, String> {
    items
        .iter()
        .map(|e| {
            let name = e["name"]
                .as_str()
                .filter(|n| valid_env_name(n))
                .ok_or("every env_vars entry needs a valid name.")?
                .to_string();
            let source = match (e["value"].as_str(), e["value_from"].as_str()) {
                (Some(v), None) => EnvSource::Value(v.to_string()),
                (None, Some(r)) => EnvSource::ValueFrom(r.to_string()),
                _ => {
                    return Err(format!(
                        "env_vars entry {name} needs exactly one of value or value_from."
                    ));
                }
            };
            Ok(EnvVar { name, source })
        })
        .collect()
}

/// The documented default command when `app.yaml` gives none: `python <first .py file>` at
/// the top level, else `npm run start` when there is a `package.json`.
pub fn default_command(top_level_files: &[String]) -> Option<Vec<String>> {
    let mut py: Vec<&String> = top_level_files
        .iter()
        .filter(|f| f.ends_with(".py"))
        .collect();
    py.sort();
    if let Some(first) = py.first() {
        return Some(vec!["python".into(), (*first).clone()]);
    }
    top_level_files
        .iter()
        .any(|f| f == "package.json")
        .then(|| vec!["npm".into(), "run".into(), "start".into()])
}

/// The value an app resource gives a `valueFrom` variable: the endpoint name, warehouse id,
/// job id, securable name, ... Secret values are not emulated.
pub fn resource_value(resources: Option<&Value>, key: &str) -> Result<String, String> {
    let r = resources
        .and_then(Value::as_array)
        .and_then(|rs| rs.iter().find(|r| r["name"].as_str() == Some(key)))
        .ok_or_else(|| {
            format!("App resource {key} referenced by valueFrom is not defined on the app.")
        })?;
    let pick = |kind: &str, field: &str| r[kind][field].as_str().map(str::to_string);
    pick("serving_endpoint", "name")
        .or_else(|| pick("sql_warehouse", "id"))
        .or_else(|| pick("job", "id"))
        .or_else(|| pick("uc_securable", "securable_full_name"))
        .or_else(|| pick("experiment", "experiment_id"))
        .or_else(|| pick("genie_space", "space_id"))
        .or_else(|| pick("app", "name"))
        .or_else(|| pick("database", "database_name"))
        .ok_or_else(|| {
            if r.get("secret").is_some() {
                format!(
                    "App resource {key} is a secret; the emulator does not store secret values."
                )
            } else {
                format!("App resource {key} has no value the emulator can provide.")
            }
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_command_and_env() {
        let spec = parse(
            b"command: [\"./bin/kiln\", \"serve\", \"--port\", \"$DATABRICKS_APP_PORT\"]\nenv:\n  - name: LOG_LEVEL\n    value: info\n  - name: N\n    value: 3\n  - name: EP\n    valueFrom: serving-endpoint\n",
            "app.yaml",
        )
        .unwrap();
        assert_eq!(
            spec.command.unwrap(),
            vec!["./bin/kiln", "serve", "--port", "$DATABRICKS_APP_PORT"]
        );
        assert_eq!(spec.env.len(), 3);
        assert_eq!(spec.env[1].source, EnvSource::Value("3".into()));
        assert_eq!(
            spec.env[2].source,
            EnvSource::ValueFrom("serving-endpoint".into())
        );
        let block = parse(b"command:\n  - python\n  - app.py\n", "app.yml").unwrap();
        assert_eq!(block.command.unwrap(), vec!["python", "app.py"]);
        assert_eq!(parse(b"", "app.yaml").unwrap(), AppSpec::default());
    }

    #[test]
    fn bad_files_say_why() {
        for (text, needle) in [
            (&b"command: python app.py\n"[..], "list of strings"),
            (b"command: []\n", "empty"),
            (b"command: [[1]]\n", "string"),
            (b"- a\n", "mapping"),
            (b"command: [\"a\"\n", "Invalid app.yaml"),
            (b"env:\n  - name: X\n", "exactly one"),
            (b"env:\n  - value: x\n", "valid name"),
            (b"\xff\xfe", "UTF-8"),
        ] {
            let e = parse(text, "app.yaml").unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
        assert!(parse(&vec![b'#'; 100 << 10], "app.yaml").is_err());
    }

    #[test]
    fn defaults_overrides_and_resources() {
        assert_eq!(
            default_command(&["b.py".into(), "a.py".into()]).unwrap(),
            vec!["python", "a.py"]
        );
        assert_eq!(
            default_command(&["package.json".into()]).unwrap(),
            vec!["npm", "run", "start"]
        );
        assert!(default_command(&["README.md".into()]).is_none());
        assert!(command_override(&json!("x")).is_err());
        assert_eq!(
            command_override(&json!(["a", "b"])).unwrap(),
            vec!["a", "b"]
        );
        let o = env_overrides(&[json!({"name": "A", "value_from": "r"})]).unwrap();
        assert_eq!(o[0].source, EnvSource::ValueFrom("r".into()));
        assert!(env_overrides(&[json!({"name": "A"})]).is_err());
        let res = json!([
            {"name": "ep", "serving_endpoint": {"name": "claude", "permission": "CAN_QUERY"}},
            {"name": "s", "secret": {"scope": "a", "key": "b"}}
        ]);
        assert_eq!(resource_value(Some(&res), "ep").unwrap(), "claude");
        assert!(
            resource_value(Some(&res), "s")
                .unwrap_err()
                .contains("secret")
        );
        assert!(
            resource_value(None, "ep")
                .unwrap_err()
                .contains("not defined")
        );
    }
}
