//! Git, as the sync engine needs it: HEAD, the committed tree (`ls-tree`), refs and remotes,
//! the working tree's cleanliness, ancestry, bundles, and a `cat-file --batch` reader for blob
//! contents. Every call runs `git` with a fixed environment (no prompts, no inherited `GIT_*`
//! repository overrides, `C` locale) and returns a typed error with git's own message.

use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    /// git ran and failed.
    #[error("`git {args}` failed in {dir}: {message}")]
    Failed {
        /// The arguments (no secrets are ever passed).
        args: String,
        /// Where it ran.
        dir: String,
        /// git's stderr, trimmed.
        message: String,
    },
    /// git's output did not parse.
    #[error("unexpected output from `git {0}`")]
    Parse(String),
}

/// One entry of `git ls-tree -r HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// `100644`, `100755`, `120000` (symlink) or `160000` (submodule).
    pub mode: String,
    /// Blob (or commit, for a submodule) id.
    pub id: String,
    /// Size in bytes (0 for a submodule).
    pub size: u64,
    /// Path inside the repository, `/`-separated, as git stores it (bytes made UTF-8 lossily
    /// only when git's path is not UTF-8).
    pub path: String,
}

impl TreeEntry {
    /// Whether this names file content (a blob), not a submodule.
    pub fn is_blob(&self) -> bool {
        self.mode != "160000"
    }
}

/// The refs kiln keeps with the history.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refs {
    /// The branch HEAD points at (`refs/heads/main`), `None` when detached.
    pub head_ref: Option<String>,
    /// The commit HEAD resolves to.
    pub head: String,
    /// Branches and tags (`refs/heads/*`, `refs/tags/*`) and their targets.
    pub refs: BTreeMap<String, String>,
    /// Remote names and URLs, with any user name or password removed from the URL.
    pub remotes: BTreeMap<String, String>,
}

/// A `git` command for `dir` with kiln's fixed environment (the allow-list of
/// [`crate::child::restrict`], never kiln's own).
pub fn command(dir: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("git");
    crate::child::restrict(c.as_std_mut(), None, &[]);
    c.arg("-C").arg(dir);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_NAMESPACE",
        "GIT_CEILING_DIRECTORIES",
        "GIT_COMMON_DIR",
    ] {
        c.env_remove(var);
    }
    c.env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// Runs git in `dir` and returns its stdout.
pub async fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, GitError> {
    let out = command(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(GitError::Spawn)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            dir: dir.display().to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

async fn run_text(dir: &Path, args: &[&str]) -> Result<String, GitError> {
    Ok(String::from_utf8_lossy(&run(dir, args).await?)
        .trim()
        .to_owned())
}

/// Whether `dir` is the top of a git working tree (has `.git`, a directory or a file).
pub fn is_repository(dir: &Path) -> bool {
    dir.join(".git").exists()
}

/// The commit HEAD names; `None` for a repository without commits.
pub async fn head(dir: &Path) -> Result<Option<String>, GitError> {
    match run_text(dir, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]).await {
        Ok(id) if !id.is_empty() => Ok(Some(id)),
        Ok(_) => Ok(None),
        Err(GitError::Failed { message, .. }) if message.is_empty() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every entry of the tree of `commit`, recursively.
pub async fn ls_tree(dir: &Path, commit: &str) -> Result<Vec<TreeEntry>, GitError> {
    let out = run(dir, &["ls-tree", "-r", "-l", "-z", "--full-tree", commit]).await?;
    parse_ls_tree(&out)
}

/// Parses `ls-tree -r -l -z` output: `<mode> <type> <id> <size>\t<path>\0` (the size is
/// padded with spaces, `-` for a submodule).
pub fn parse_ls_tree(out: &[u8]) -> Result<Vec<TreeEntry>, GitError> {
    let mut entries = Vec::new();
    for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let tab = record
            .iter()
            .position(|b| *b == b'\t')
            .ok_or_else(|| GitError::Parse("ls-tree".into()))?;
        let meta = String::from_utf8_lossy(&record[..tab]);
        let mut parts = meta.split_whitespace();
        let (Some(mode), Some(_kind), Some(id), Some(size)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(GitError::Parse("ls-tree".into()));
        };
        entries.push(TreeEntry {
            mode: mode.to_owned(),
            id: id.to_owned(),
            size: size.parse().unwrap_or(0),
            path: String::from_utf8_lossy(&record[tab + 1..]).into_owned(),
        });
    }
    Ok(entries)
}

/// HEAD, branches, tags and remotes.
pub async fn refs(dir: &Path) -> Result<Refs, GitError> {
    let head = run_text(dir, &["rev-parse", "--verify", "HEAD^{commit}"]).await?;
    let head_ref = run_text(dir, &["symbolic-ref", "-q", "HEAD"])
        .await
        .ok()
        .filter(|r| !r.is_empty());
    let listing = run_text(
        dir,
        &[
            "for-each-ref",
            "--format=%(objectname) %(refname)",
            "refs/heads",
            "refs/tags",
        ],
    )
    .await?;
    let refs = listing
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_owned(), id.to_owned()))
        .collect();
    let remotes_text = run_text(dir, &["config", "--get-regexp", r"^remote\..*\.url$"])
        .await
        .unwrap_or_default();
    let remotes = remotes_text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(key, url)| {
            let name = key.strip_prefix("remote.")?.strip_suffix(".url")?;
            Some((name.to_owned(), strip_userinfo(url)))
        })
        .collect();
    Ok(Refs {
        head_ref,
        head,
        refs,
        remotes,
    })
}

/// A URL without `user:password@` (a remote URL may carry a token; it never leaves the machine).
pub fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `git status --porcelain` lines (untracked files included); empty means clean.
pub async fn status_lines(dir: &Path) -> Result<Vec<String>, GitError> {
    let out = run_text(dir, &["status", "--porcelain", "--untracked-files=normal"]).await?;
    Ok(out.lines().map(str::to_owned).collect())
}

/// Whether `ancestor` is an ancestor of (or equal to) `descendant`; false when either is unknown.
pub async fn is_ancestor(dir: &Path, ancestor: &str, descendant: &str) -> bool {
    run(dir, &["merge-base", "--is-ancestor", ancestor, descendant])
        .await
        .is_ok()
}

/// Whether the object exists in the repository.
pub async fn has_object(dir: &Path, id: &str) -> bool {
    run(dir, &["cat-file", "-e", &format!("{id}^{{commit}}")])
        .await
        .is_ok()
}

/// Writes a bundle of HEAD, branches and tags minus what `known` commits already hold.
/// `Ok(false)` when there is nothing new to bundle.
pub async fn bundle_create(dir: &Path, file: &Path, known: &[String]) -> Result<bool, GitError> {
    let file_s = file.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec![
        "bundle",
        "create",
        "-q",
        &file_s,
        "HEAD",
        "--branches",
        "--tags",
    ];
    if !known.is_empty() {
        args.push("--not");
        args.extend(known.iter().map(String::as_str));
    }
    match run(dir, &args).await {
        Ok(_) => Ok(true),
        Err(GitError::Failed { message, .. }) if message.contains("empty bundle") => Ok(false),
        Err(e) => Err(e),
    }
}

/// Reads blob contents through one long-lived `git cat-file --batch`, one request at a time.
#[derive(Clone)]
pub struct BlobReader {
    tx: mpsc::Sender<(String, oneshot::Sender<Result<Bytes, GitError>>)>,
}

impl BlobReader {
    /// Starts the reader for the repository at `dir`.
    pub fn start(dir: &Path) -> Result<Self, GitError> {
        let mut child = command(dir)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(GitError::Spawn)?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(GitError::Parse("cat-file --batch".into()));
        };
        let (tx, mut rx) = mpsc::channel::<(String, oneshot::Sender<Result<Bytes, GitError>>)>(16);
        let dir: PathBuf = dir.to_owned();
        tokio::spawn(async move {
            let _child = child; // killed on drop, when the last sender is gone
            let mut out = BufReader::new(stdout);
            while let Some((id, reply)) = rx.recv().await {
                let result = read_one(&mut stdin, &mut out, &id, &dir).await;
                let broken = result.is_err();
                let _ = reply.send(result);
                if broken {
                    break;
                }
            }
        });
        Ok(Self { tx })
    }

    /// The content of blob `id`.
    pub async fn read(&self, id: &str) -> Result<Bytes, GitError> {
        let (reply, answer) = oneshot::channel();
        let gone = || GitError::Parse("cat-file --batch ended".into());
        self.tx
            .send((id.to_owned(), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn read_one(
    stdin: &mut tokio::process::ChildStdin,
    out: &mut BufReader<tokio::process::ChildStdout>,
    id: &str,
    dir: &Path,
) -> Result<Bytes, GitError> {
    let io = |e: std::io::Error| GitError::Failed {
        args: "cat-file --batch".into(),
        dir: dir.display().to_string(),
        message: e.to_string(),
    };
    stdin
        .write_all(format!("{id}\n").as_bytes())
        .await
        .map_err(io)?;
    stdin.flush().await.map_err(io)?;
    let mut header = String::new();
    out.read_line(&mut header).await.map_err(io)?;
    let mut parts = header.trim_end().split(' ');
    let (Some(_), Some(kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(GitError::Parse(format!(
            "cat-file --batch for {id}: {}",
            header.trim()
        )));
    };
    let size: usize = size
        .parse()
        .map_err(|_| GitError::Parse("cat-file --batch size".into()))?;
    let mut data = vec![0u8; size + 1];
    out.read_exact(&mut data).await.map_err(io)?;
    data.truncate(size);
    if kind != "blob" {
        return Err(GitError::Parse(format!("{id} is a {kind}, not a blob")));
    }
    Ok(Bytes::from(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ls_tree() {
        let out = b"100644 blob aaaa     12\ta b/\xc3\xbc.txt\x00100755 blob bbbb 3\trun.sh\x00160000 commit cccc       -\tsub\x00";
        let e = parse_ls_tree(out).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].path, "a b/ü.txt");
        assert_eq!(e[0].size, 12);
        assert_eq!(e[1].mode, "100755");
        assert!(!e[2].is_blob());
        assert!(parse_ls_tree(b"garbage\0").is_err());
    }

    #[test]
    fn strips_credentials_from_urls() {
        assert_eq!(
            strip_userinfo("https://x:dapi123@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            strip_userinfo("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
        assert_eq!(strip_userinfo("https://host/p@x"), "https://host/p@x");
    }
}
