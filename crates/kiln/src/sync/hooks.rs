//! Commit notifications. kiln's hooks live in `~/.kiln/git-hooks` (git's global
//! `core.hooksPath`). Every hook there first runs what git would have run without kiln (the
//! hooks folder configured before kiln, else the repository's own `.git/hooks/<name>`), with
//! the same arguments and input, and keeps its exit status. The hooks that follow a new commit
//! (`post-commit`, `post-merge`, `post-rewrite`, `post-checkout`) also drop a notice (the
//! repository's path) into `~/.kiln/sync/inbox/` and return at once: no network, no token, no
//! waiting, so nothing the committing process or its group does can lose the upload, which runs
//! inside `kiln serve`. The scripts hold paths only.
//!
//! This module is the only place in kiln that sets git's `core.hooksPath`: it never points git
//! at `~/.kiln/git-hooks` without the chaining scripts in it, and a hooks folder the user had
//! configured globally keeps running (recorded in `.previous-hooks-path`).

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Every hook name git runs from `core.hooksPath` (so the repositories' own keep working).
const HOOKS: &[&str] = &[
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
    "pre-commit",
    "pre-merge-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-rebase",
    "post-checkout",
    "post-merge",
    "pre-push",
    "pre-receive",
    "update",
    "proc-receive",
    "post-receive",
    "post-update",
    "reference-transaction",
    "push-to-checkout",
    "pre-auto-gc",
    "post-rewrite",
    "sendemail-validate",
    "post-index-change",
];

/// Hooks after which HEAD may name a new commit.
const NOTIFYING: &[&str] = &["post-commit", "post-merge", "post-rewrite", "post-checkout"];

/// Marker in the first lines of every script kiln writes.
const MARKER: &str = "# kiln-sync-hook v1";

/// `~/.kiln/git-hooks`.
pub fn hooks_dir(home: &Path) -> PathBuf {
    home.join(crate::state::DIR_NAME).join("git-hooks")
}

/// `~/.kiln/sync/inbox`.
pub fn inbox_dir(kiln_dir: &Path) -> PathBuf {
    kiln_dir.join("sync").join("inbox")
}

/// Single-quotes a string for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The script for hook `name`.
pub fn script(name: &str, previous: Option<&Path>, inbox: &Path) -> String {
    let previous = previous
        .map(|p| sh_quote(&p.to_string_lossy()))
        .unwrap_or_else(|| "''".into());
    let notify = if NOTIFYING.contains(&name) {
        format!(
            r#"
# Tell kiln serve (it uploads; this returns at once and never fails the hook).
top=$(git rev-parse --show-toplevel 2>/dev/null) && {{
  inbox={inbox}
  n="$inbox/.$$.tmp"
  printf '%s\n' "$top" > "$n" 2>/dev/null && mv -f "$n" "$inbox/$$-$(date +%s)-{name}" 2>/dev/null
}}
"#,
            inbox = sh_quote(&inbox.to_string_lossy())
        )
    } else {
        String::new()
    };
    format!(
        r#"#!/bin/sh
{MARKER}
# Written by kiln (kiln sync). git runs the hooks of ~/.kiln/git-hooks (core.hooksPath); this
# one runs the hook git would have run without kiln, then notifies kiln where a commit may
# have happened. Holds no credentials. Edit the repository's own hooks, not this file.
hook={name}
previous={previous}
if [ -n "$previous" ]; then
  chained="$previous/$hook"
else
  chained="$(git rev-parse --git-common-dir 2>/dev/null)/hooks/$hook"
fi
{notify}
if [ -f "$chained" ] && [ -x "$chained" ]; then
  exec "$chained" "$@"
fi
exit 0
"#
    )
}

fn git_global(home: &Path) -> Command {
    let mut c = Command::new("git");
    crate::child::restrict(&mut c, Some(home), &[]);
    c.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_CONFIG_GLOBAL")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The global `core.hooksPath`, if set.
fn global_hooks_path(home: &Path) -> Option<String> {
    let out = git_global(home)
        .args(["config", "--global", "--get", "core.hooksPath"])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// Installs the hooks and points git's global `core.hooksPath` at them. A hooks folder the user
/// had configured is chained to (recorded in the scripts), never dropped. Idempotent.
pub fn install(home: &Path, kiln_dir: &Path) -> io::Result<()> {
    let dir = hooks_dir(home);
    std::fs::create_dir_all(&dir)?;
    let inbox = inbox_dir(kiln_dir);
    crate::state::ensure_private_dir(&inbox)?;
    let ours = dir.to_string_lossy().into_owned();
    let configured = global_hooks_path(home);
    let previous_file = dir.join(".previous-hooks-path");
    let previous: Option<PathBuf> = match &configured {
        Some(p) if p != &ours => {
            std::fs::write(&previous_file, format!("{p}\n"))?;
            Some(expand_home(p, home))
        }
        _ => std::fs::read_to_string(&previous_file)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(|p| expand_home(&p, home)),
    };
    for name in HOOKS {
        let path = dir.join(name);
        let text = script(name, previous.as_deref(), &inbox);
        let current = std::fs::read_to_string(&path).ok();
        match current {
            Some(c) if c == text => continue,
            Some(c) if !c.contains(MARKER) => {
                // A hook someone put into kiln's folder: keep it as the chained one's sibling.
                tracing::warn!(hook = %path.display(), "a hook that kiln did not write is in its hooks folder; left as it is");
                continue;
            }
            _ => {}
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &path)?;
    }
    if configured.as_deref() != Some(ours.as_str()) {
        let status = git_global(home)
            .args(["config", "--global", "core.hooksPath", &ours])
            .status()?;
        if !status.success() {
            return Err(io::Error::other(
                "`git config --global core.hooksPath` failed",
            ));
        }
        tracing::info!(hooks = %ours, previous = ?configured, "git hooks path set for kiln sync");
    }
    Ok(())
}

fn expand_home(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    }
}

/// Takes the notices out of the inbox: the repository paths they name (deduplicated).
pub fn drain_inbox(kiln_dir: &Path) -> Vec<PathBuf> {
    let inbox = inbox_dir(kiln_dir);
    let Ok(rd) = std::fs::read_dir(&inbox) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for entry in rd.filter_map(Result::ok) {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Small notices only; anything else is dropped.
        let text = match std::fs::metadata(&path) {
            Ok(m) if m.len() <= 4096 => std::fs::read_to_string(&path).unwrap_or_default(),
            _ => String::new(),
        };
        let _ = std::fs::remove_file(&path);
        let repo = PathBuf::from(text.trim_end_matches('\n'));
        if repo.is_absolute() && !out.contains(&repo) {
            out.push(repo);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_chain_and_notify() {
        let s = script(
            "post-commit",
            Some(Path::new("/x/it's")),
            Path::new("/h/.kiln/sync/inbox"),
        );
        assert!(s.contains("previous='/x/it'\\''s'"), "{s}");
        assert!(s.contains("inbox='/h/.kiln/sync/inbox'"));
        assert!(s.contains(r#"exec "$chained" "$@""#));
        let s = script("pre-commit", None, Path::new("/i"));
        assert!(!s.contains("inbox"));
        assert!(s.contains("previous=''"));
    }
}
