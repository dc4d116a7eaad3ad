//! Git: the identity (`user.name`, `user.email` from SCIM `Me`). Git's hooks path is not
//! touched here: `core.hooksPath` has one owner, [`crate::sync::hooks`], which points it at
//! `~/.kiln/git-hooks` only together with the scripts there that chain to the user's own hooks
//! (a hooks path set here without them would silence the repositories' `.git/hooks`).
//! Edited with `git config --file` on a copy of `~/.gitconfig`, so git's own format rules apply
//! and the result can be shown as a diff first. Values the user already set (in `~/.gitconfig` or
//! `~/.config/git/config`) are kept: kiln only fills in what is missing.

use super::context::Context;
use super::plan::{ConfigureError, FileChange};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What configuring git would do.
#[derive(Debug, Default)]
pub struct GitPlan {
    /// The `~/.gitconfig` change, if any.
    pub file: Option<FileChange>,
    /// Things worth telling the user (values kept, identity unknown).
    pub notes: Vec<String>,
}

/// `git` with the allow-listed environment and `HOME` = `home` (so no `GIT_CONFIG_*` or
/// `XDG_CONFIG_HOME` of kiln's environment redirects it, and no token of kiln's reaches it).
fn git(home: &Path) -> Command {
    let mut c = Command::new("git");
    crate::child::restrict(&mut c, Some(home), &[]);
    c.stdin(Stdio::null());
    c
}

/// The global value of `key` for a HOME, if set.
fn global_value(home: &Path, key: &str) -> Result<Option<String>, ConfigureError> {
    let out = git(home)
        .args(["config", "--global", "--get", key])
        .output()
        .map_err(|e| ConfigureError::Missing(format!("git is not available: {e}")))?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.status.success() && !v.is_empty()).then_some(v))
}

/// Computes the git changes.
pub fn plan(ctx: &Context) -> Result<GitPlan, ConfigureError> {
    let home = &ctx.home;
    let mut plan = GitPlan::default();
    let mut sets: Vec<(&str, String)> = Vec::new();
    match &ctx.identity {
        Some(id) => {
            for (key, want) in [("user.name", &id.name), ("user.email", &id.email)] {
                match global_value(home, key)? {
                    None => sets.push((key, want.clone())),
                    Some(v) if v == *want => {}
                    Some(v) => plan.notes.push(format!("git {key} kept as {v:?}")),
                }
            }
        }
        // Unknown (no token yet): only worth a note when the user has no identity either.
        None => {
            if global_value(home, "user.email")?.is_none() {
                plan.notes
                    .push("git identity not set: the Databricks identity is unknown".into());
            }
        }
    }
    if sets.is_empty() {
        return Ok(plan);
    }
    let path = home.join(".gitconfig");
    let before = std::fs::read(&path).ok();
    let scratch = tempfile_in_tmp()?;
    let tmp = scratch.join("gitconfig");
    std::fs::write(&tmp, before.as_deref().unwrap_or_default()).map_err(|source| {
        ConfigureError::Io {
            path: tmp.clone(),
            source,
        }
    })?;
    for (key, value) in &sets {
        let status = git(home)
            .arg("config")
            .arg("--file")
            .arg(&tmp)
            .args([key, value.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| ConfigureError::Missing(format!("git is not available: {e}")))?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(ConfigureError::Missing(format!(
                "`git config {key}` failed on a copy of {}",
                path.display()
            )));
        }
    }
    let after = std::fs::read(&tmp);
    let _ = std::fs::remove_dir_all(&scratch);
    let after = after.map_err(|source| ConfigureError::Io { path: tmp, source })?;
    plan.file = FileChange::plan(path, false, |b| {
        Ok((b != Some(after.as_slice())).then_some(after))
    })?;
    Ok(plan)
}

/// A fresh private directory under the system temp dir.
fn tempfile_in_tmp() -> Result<PathBuf, ConfigureError> {
    let mut r = [0u8; 8];
    getrandom::fill(&mut r).map_err(|e| ConfigureError::Missing(e.to_string()))?;
    let name: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("kiln-git-{name}"));
    super::plan::ensure_dir(&dir)?;
    Ok(dir)
}

/// Applies a plan: the file.
pub fn apply(plan: &GitPlan) -> Result<(), ConfigureError> {
    if let Some(f) = &plan.file {
        f.apply()?;
    }
    Ok(())
}
