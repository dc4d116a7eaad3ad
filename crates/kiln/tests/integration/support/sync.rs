//! Helpers of the sync tests: git in a temporary HOME, repositories with awkward content, the
//! emulator's view of a project folder compared with `git ls-tree HEAD` byte for byte.

use kiln::sync::git::{self, BlobReader};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Generous wait for one expected event.
pub const WAIT: Duration = Duration::from_secs(60);

/// `git` in `dir` for `home`, failing the test on error; returns stdout.
pub fn git(home: &Path, dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(home, dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git command with a clean environment for `home`.
pub fn git_cmd(home: &Path, dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com");
    c
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A new repository `projects/<name>` with one commit of `files` (path, bytes).
pub fn new_repo(home: &Path, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
    let dir = home.join("projects").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(home, &dir, &["init", "-q", "-b", "main"]);
    for (p, b) in files {
        write(&dir.join(p), b);
    }
    git(home, &dir, &["add", "-A"]);
    git(home, &dir, &["commit", "-q", "-m", "first"]);
    dir
}

/// `git ls-tree -r HEAD` of `dir` as path -> content.
pub async fn head_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let head = git::head(dir).await.unwrap().unwrap();
    let reader = BlobReader::start(dir).unwrap();
    let mut out = BTreeMap::new();
    for e in git::ls_tree(dir, &head).await.unwrap() {
        if e.is_blob() {
            out.insert(e.path.clone(), reader.read(&e.id).await.unwrap().to_vec());
        }
    }
    out
}

/// The files under a workspace folder as relative path -> content; notebooks are reported
/// separately (a synced file must never have become one).
pub fn workspace_files(
    emu: &kiln_emulator::RunningEmulator,
    root: &str,
) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let norm = root.trim_start_matches("/Workspace");
    let mut files = BTreeMap::new();
    let mut notebooks = Vec::new();
    for (path, kind, content) in emu.workspace_tree(norm) {
        let Some(rel) = path.strip_prefix(&format!("{norm}/")) else {
            continue;
        };
        match kind {
            "FILE" => {
                files.insert(rel.to_owned(), content);
            }
            "NOTEBOOK" => notebooks.push(rel.to_owned()),
            _ => {}
        }
    }
    (files, notebooks)
}

/// Asserts the workspace folder holds exactly HEAD's files, byte for byte (`ignore`: objects
/// the user made there, which must survive).
pub async fn assert_mirrors(
    emu: &kiln_emulator::RunningEmulator,
    root: &str,
    dir: &Path,
    user_notebooks: &[&str],
) {
    let want = head_tree(dir).await;
    let (got, notebooks) = workspace_files(emu, root);
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    for (k, v) in &want {
        assert!(
            got[k] == *v,
            "{k}: content differs ({} vs {} bytes)",
            got[k].len(),
            v.len()
        );
    }
    let mut nb = notebooks.clone();
    nb.sort();
    let mut expected: Vec<String> = user_notebooks.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(nb, expected, "notebooks in the project folder");
}

/// Waits until `check` holds, polling every 50 ms, up to [`WAIT`].
pub async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
