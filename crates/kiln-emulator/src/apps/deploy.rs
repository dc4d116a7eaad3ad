//! Preparing a deployment: the source folder is checked (a directory, no file over 10 MB) and
//! copied to the snapshot location in the workspace tree, then read into what the runtime
//! runs: the files, `app.yaml`'s command (or the request's, or the documented default) and the
//! environment with `valueFrom` resolved against the app's resources.

use super::appyaml::{self, EnvSource, EnvVar};
use super::model::App;
use super::runtime::LaunchSpec;
use crate::workspace::tree::{Kind, normalize};
use crate::world::World;
use serde_json::Value;

/// Largest file allowed in an app's source, bytes (10 MiB).
const MAX_APP_FILE_BYTES: usize = 10 << 20;

/// Checks the source tree and copies it to the snapshot location; the failure to report.
pub fn snapshot(w: &mut World, source: &str, dest: &str, now: i64) -> Result<(), String> {
    let src =
        normalize(source).map_err(|_| format!("Source code path {source} is not a valid path."))?;
    match w.tree.get(&src) {
        Some(n) if n.is_dir() => {}
        Some(_) => return Err(format!("Source code path {source} is not a directory.")),
        None => return Err(format!("Source code path {source} does not exist.")),
    }
    if let Some((p, _)) = w
        .tree
        .subtree(&src)
        .into_iter()
        .find(|(_, n)| n.kind == Kind::File && n.content.len() > MAX_APP_FILE_BYTES)
    {
        return Err(format!(
            "File {p} is larger than the 10 MB limit for app source files."
        ));
    }
    let d = normalize(dest).map_err(|e| e.message)?;
    w.tree.copy_dir(&src, &d, now).map_err(|e| e.message)
}

/// What the snapshot at `dest` runs: its files, `app.yaml`'s command (or the request's, or
/// the default) and environment with `valueFrom` resolved against the app's resources.
pub fn launch_spec(
    w: &World,
    app: &App,
    dest: &str,
    command: Option<&Value>,
    overrides: &[EnvVar],
) -> Result<LaunchSpec, String> {
    let root = normalize(dest).map_err(|e| e.message)?;
    let mut files = Vec::new();
    for (path, node) in w.tree.subtree(&root) {
        let rel = path[root.len()..].trim_start_matches('/').to_string();
        if rel.is_empty() {
            continue;
        }
        files.push((rel, (!node.is_dir()).then(|| node.content.clone())));
    }
    let top: Vec<String> = files
        .iter()
        .filter(|(r, c)| c.is_some() && !r.contains('/'))
        .map(|(r, _)| r.clone())
        .collect();
    let yaml = ["app.yaml", "app.yml"]
        .into_iter()
        .find_map(|f| files.iter().find(|(r, c)| r == f && c.is_some()));
    let spec = match yaml {
        Some((f, Some(text))) => appyaml::parse(text, f)?,
        _ => appyaml::AppSpec::default(),
    };
    let command = match command {
        Some(c) => appyaml::command_override(c).map_err(|e| format!("Invalid deployment: {e}"))?,
        None => match spec.command {
            Some(c) => c,
            None => appyaml::default_command(&top).ok_or(
                "No command to run: app.yaml has no command, and there is no .py file or package.json at the top level.",
            )?,
        },
    };
    let mut env = Vec::new();
    for e in spec.env.iter().chain(overrides) {
        let value = match &e.source {
            EnvSource::Value(v) => v.clone(),
            EnvSource::ValueFrom(key) => appyaml::resource_value(app.resources.as_ref(), key)?,
        };
        env.retain(|(k, _): &(String, String)| k != &e.name);
        env.push((e.name.clone(), value));
    }
    Ok(LaunchSpec {
        files,
        command,
        env,
    })
}
