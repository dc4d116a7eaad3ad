//! Installing agents: npm packages with `npm install -g --prefix <prefix>` (default prefix
//! `~/.local`, commands in `<prefix>/bin`), Hermes from PyPI into its own venv
//! (`<prefix>/share/kiln/venvs/hermes`, linked as `<prefix>/bin/hermes`). Each agent is its own
//! task, all in parallel, each reporting its output lines; an agent whose pinned version is
//! already present is skipped. npm and pip read their registry, proxy and CA settings from the
//! environment and their config files as usual (`npm_config_registry`, `.npmrc`,
//! `PIP_INDEX_URL`, `HTTPS_PROXY`, `NODE_EXTRA_CA_CERTS`, `PIP_CERT`, …): kiln passes those
//! through untouched, and nothing else of its environment (the terminal allow-list, see
//! [`crate::child`]: npm install scripts never see a token kiln was started with). No `curl | bash`.

use super::Agent;
use super::manifest::{Manifest, PackageSource, PackageSpec};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// Longest time one installation may take (15 min).
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Where and how to install. `Debug` names the extra variables but not their values (a registry
/// URL may carry credentials).
#[derive(Clone)]
pub struct InstallOptions {
    /// The user prefix (`~/.local`).
    pub prefix: PathBuf,
    /// The `npm` program.
    pub npm: PathBuf,
    /// The Python used to create the venv.
    pub python: PathBuf,
    /// Per-agent time limit.
    pub timeout: Duration,
    /// Extra environment for npm and pip, over the allow-listed one: `Some` sets, `None`
    /// removes.
    pub env: Vec<(String, Option<String>)>,
}

impl std::fmt::Debug for InstallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("InstallOptions")
            .field("prefix", &self.prefix)
            .field("npm", &self.npm)
            .field("python", &self.python)
            .field("timeout", &self.timeout)
            .field("env", &env)
            .finish()
    }
}

impl InstallOptions {
    /// Defaults for a prefix.
    pub fn new(prefix: PathBuf) -> Self {
        Self {
            prefix,
            npm: "npm".into(),
            python: "python3".into(),
            timeout: INSTALL_TIMEOUT,
            env: Vec::new(),
        }
    }
}

/// Why an installation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// The package manager is missing.
    #[error("{0}")]
    MissingTool(String),
    /// The registry could not be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The package manager failed.
    #[error("{0}")]
    Failed(String),
    /// The agent has no manifest entry.
    #[error("no manifest entry for {0}")]
    NoSpec(String),
}

/// The result of one installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// Version now present.
    pub version: String,
    /// False when it was already there.
    pub changed: bool,
    /// The command's path.
    pub bin: PathBuf,
    /// How long it took.
    pub duration: Duration,
}

/// A sink for output lines.
pub type LineSink = Arc<dyn Fn(&str) + Send + Sync>;
/// A sink for output lines of several agents.
pub type AgentLineSink = Arc<dyn Fn(Agent, &str) + Send + Sync>;

/// `<prefix>/bin`.
pub fn bin_dir(prefix: &Path) -> PathBuf {
    prefix.join("bin")
}

/// The venv of a PyPI agent.
pub fn venv_dir(prefix: &Path, agent: Agent) -> PathBuf {
    prefix.join("share/kiln/venvs").join(agent.name())
}

/// Whether the interpreter a script names on its `#!` line exists (true for a file without
/// one). A venv that was moved or copied keeps commands that name its old place.
fn interpreter_exists(script: &Path) -> bool {
    // The kernel reads at most 256 bytes of a `#!` line; a command may be a large binary.
    let mut head = Vec::new();
    let read = std::fs::File::open(script).and_then(|f| f.take(512).read_to_end(&mut head));
    if read.is_err() {
        return false;
    }
    let Some(line) = head.strip_prefix(b"#!") else {
        return true;
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    line.split_whitespace()
        .next()
        .is_some_and(|interpreter| Path::new(interpreter).exists())
}

/// The version of `spec` installed under `prefix`, if its command is there (and, for a venv,
/// can start).
pub fn installed_version(agent: Agent, spec: &PackageSpec, prefix: &Path) -> Option<String> {
    match spec.source {
        PackageSource::Npm => {
            if !bin_dir(prefix).join(&spec.bin).exists() {
                return None;
            }
            let pj = prefix
                .join("lib/node_modules")
                .join(&spec.package)
                .join("package.json");
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(pj).ok()?).ok()?;
            v.get("version").and_then(|v| v.as_str()).map(str::to_owned)
        }
        PackageSource::Pypi => {
            let venv = venv_dir(prefix, agent);
            if !interpreter_exists(&venv.join("bin").join(&spec.bin)) {
                return None;
            }
            let dist = spec.package.replace(['-', '.'], "_").to_ascii_lowercase();
            for lib in std::fs::read_dir(venv.join("lib")).ok()?.flatten() {
                let site = lib.path().join("site-packages");
                for entry in std::fs::read_dir(site).into_iter().flatten().flatten() {
                    let name = entry.file_name().to_string_lossy().to_ascii_lowercase();
                    if let Some(v) = name
                        .strip_prefix(&format!("{dist}-"))
                        .and_then(|r| r.strip_suffix(".dist-info"))
                    {
                        return Some(v.to_owned());
                    }
                }
            }
            None
        }
    }
}

/// Runs a command, sending each output line to `sink`, keeping the last lines for errors.
async fn run(
    mut cmd: Command,
    what: &str,
    opts: &InstallOptions,
    sink: &LineSink,
) -> Result<Vec<String>, InstallError> {
    crate::child::restrict(cmd.as_std_mut(), None, &[]);
    for (k, v) in &opts.env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| InstallError::MissingTool(format!("cannot run {what}: {e}")))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(256);
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if tx.send(l).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    let mut tail: Vec<String> = Vec::new();
    let collect = async {
        while let Some(l) = rx.recv().await {
            sink(&l);
            tail.push(l);
            if tail.len() > 200 {
                tail.remove(0);
            }
        }
        child.wait().await
    };
    let status = match tokio::time::timeout(opts.timeout, collect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(InstallError::Failed(format!("{what}: {e}"))),
        Err(_) => {
            return Err(InstallError::Failed(format!(
                "{what} did not finish within {} s",
                opts.timeout.as_secs()
            )));
        }
    };
    if status.success() {
        return Ok(tail);
    }
    Err(classify(what, &tail, status.code(), opts))
}

/// Words in npm / pip output that mean the registry was not reachable.
const UNREACHABLE: &[&str] = &[
    "ENOTFOUND",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "ENETUNREACH",
    "network request to",
    "request to https",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "ProxyError",
    "Temporary failure in name resolution",
    "No matching distribution found",
    "CERTIFICATE_VERIFY_FAILED",
    "UNABLE_TO_GET_ISSUER_CERT",
    "SELF_SIGNED_CERT",
];

fn classify(what: &str, tail: &[String], code: Option<i32>, opts: &InstallOptions) -> InstallError {
    let last: Vec<&str> = tail
        .iter()
        .rev()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let network = tail
        .iter()
        .map(|l| l.trim())
        .find(|l| UNREACHABLE.iter().any(|w| l.contains(w)));
    let Some(network) = network else {
        return InstallError::Failed(format!(
            "{what} failed (exit {}): {}",
            code.map(|c| c.to_string())
                .unwrap_or_else(|| "signal".into()),
            last.join(" | ")
        ));
    };
    let detail = match last.last() {
        Some(l) if *l != network => format!("{network} | {l}"),
        _ => network.to_owned(),
    };
    let var = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| match opts.env.iter().find(|(k, _)| k == n) {
                Some((_, v)) => v.clone(),
                None => std::env::var(n).ok(),
            })
    };
    let (registry, knobs) = if what.starts_with("npm") {
        (
            var(&["npm_config_registry", "NPM_CONFIG_REGISTRY"])
                .unwrap_or_else(|| "https://registry.npmjs.org/ (or the one in ~/.npmrc)".into()),
            "npm_config_registry, HTTPS_PROXY, NODE_EXTRA_CA_CERTS",
        )
    } else {
        (
            var(&["PIP_INDEX_URL"])
                .unwrap_or_else(|| "https://pypi.org/simple (or the one in pip.conf)".into()),
            "PIP_INDEX_URL, HTTPS_PROXY, PIP_CERT",
        )
    };
    InstallError::Unreachable(format!(
        "{what}: the package registry {registry} is unreachable or lacks the package (set {knobs} \
         for a mirror or proxy): {detail}"
    ))
}

/// Installs one agent unless its pinned version is present.
pub async fn install(
    agent: Agent,
    manifest: &Manifest,
    opts: &InstallOptions,
    sink: LineSink,
) -> Result<Installed, InstallError> {
    let started = Instant::now();
    let spec = manifest
        .get(agent)
        .ok_or_else(|| InstallError::NoSpec(agent.name().into()))?;
    let bin = bin_dir(&opts.prefix).join(&spec.bin);
    if installed_version(agent, spec, &opts.prefix).as_deref() == Some(spec.version.as_str()) {
        if spec.source == PackageSource::Pypi {
            link_venv_bin(agent, spec, opts, &bin)?;
        }
        sink(&format!(
            "{} {} already installed",
            spec.package, spec.version
        ));
        return Ok(Installed {
            version: spec.version.clone(),
            changed: false,
            bin,
            duration: started.elapsed(),
        });
    }
    std::fs::create_dir_all(bin_dir(&opts.prefix)).map_err(|e| {
        InstallError::Failed(format!("cannot create {}: {e}", opts.prefix.display()))
    })?;
    let pinned = format!("{}@{}", spec.package, spec.version);
    match spec.source {
        PackageSource::Npm => {
            sink(&format!(
                "npm install -g --prefix {} {pinned}",
                opts.prefix.display()
            ));
            let mut cmd = Command::new(&opts.npm);
            cmd.args(["install", "-g", "--prefix"])
                .arg(&opts.prefix)
                .args([
                    "--no-fund",
                    "--no-audit",
                    "--loglevel=warn",
                    "--no-update-notifier",
                ])
                .arg(&pinned);
            run(cmd, &format!("npm install {pinned}"), opts, &sink).await?;
        }
        PackageSource::Pypi => {
            let venv = venv_dir(&opts.prefix, agent);
            let python = venv.join("bin/python");
            let command = venv.join("bin").join(&spec.bin);
            if command.exists() && !interpreter_exists(&command) {
                // Moved or copied from elsewhere: pip would keep its commands as they are.
                sink(&format!(
                    "{} names an interpreter that is not there; recreating {}",
                    command.display(),
                    venv.display()
                ));
                std::fs::remove_dir_all(&venv).map_err(|e| {
                    InstallError::Failed(format!("cannot remove {}: {e}", venv.display()))
                })?;
            }
            if !python.exists() {
                sink(&format!("python3 -m venv {}", venv.display()));
                let mut cmd = Command::new(&opts.python);
                cmd.args(["-m", "venv"]).arg(&venv);
                run(cmd, "python3 -m venv", opts, &sink).await?;
            }
            let req = format!("{}=={}", spec.package, spec.version);
            sink(&format!("pip install {req}"));
            let mut cmd = Command::new(&python);
            cmd.args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
            ])
            .arg(&req);
            run(cmd, &format!("pip install {req}"), opts, &sink).await?;
            link_venv_bin(agent, spec, opts, &bin)?;
        }
    }
    match installed_version(agent, spec, &opts.prefix) {
        Some(v) if v == spec.version => Ok(Installed {
            version: v,
            changed: true,
            bin,
            duration: started.elapsed(),
        }),
        other => Err(InstallError::Failed(format!(
            "{pinned} was installed but {} reports version {}",
            opts.prefix.display(),
            other.unwrap_or_else(|| "none".into())
        ))),
    }
}

/// Links `<prefix>/bin/<bin>` to the command in the agent's venv (an existing link is replaced;
/// a file that is not a link is left alone and reported).
fn link_venv_bin(
    agent: Agent,
    spec: &PackageSpec,
    opts: &InstallOptions,
    bin: &Path,
) -> Result<(), InstallError> {
    let target = venv_dir(&opts.prefix, agent).join("bin").join(&spec.bin);
    match std::fs::symlink_metadata(bin) {
        Ok(m) if m.file_type().is_symlink() => {
            if std::fs::read_link(bin).ok().as_deref() == Some(target.as_path()) {
                return Ok(());
            }
            let _ = std::fs::remove_file(bin);
        }
        Ok(_) => {
            return Err(InstallError::Failed(format!(
                "{} exists and is not kiln's link; not replaced",
                bin.display()
            )));
        }
        Err(_) => {}
    }
    std::fs::create_dir_all(bin_dir(&opts.prefix)).map_err(|e| {
        InstallError::Failed(format!("cannot create {}: {e}", opts.prefix.display()))
    })?;
    std::os::unix::fs::symlink(&target, bin)
        .map_err(|e| InstallError::Failed(format!("cannot link {}: {e}", bin.display())))
}

/// Installs every agent of `agents` in parallel; `sink(agent, line)` gets their output.
pub async fn install_all(
    agents: &[Agent],
    manifest: &Manifest,
    opts: &InstallOptions,
    sink: AgentLineSink,
) -> Vec<(Agent, Result<Installed, InstallError>)> {
    let mut set = tokio::task::JoinSet::new();
    for &agent in agents {
        let manifest = manifest.clone();
        let opts = opts.clone();
        let sink = sink.clone();
        set.spawn(async move {
            let line: LineSink = Arc::new(move |l: &str| sink(agent, l));
            (agent, install(agent, &manifest, &opts, line).await)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(pair) => out.push(pair),
            Err(e) => tracing::error!(error = %e, "install task failed"),
        }
    }
    out.sort_by_key(|(a, _)| *a);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unreachable_registry_is_named() {
        let tail = vec![
            "npm error code ENOTFOUND".to_owned(),
            "npm error network request to https://registry.npmjs.org/x failed".to_owned(),
        ];
        let opts = InstallOptions::new("/p".into());
        let e = classify("npm install x@1", &tail, Some(1), &opts);
        assert!(
            matches!(e, InstallError::Unreachable(ref m) if m.contains("unreachable") && m.contains("npm_config_registry"))
        );
        let e = classify(
            "pip install y==1",
            &["ERROR: boom".to_owned()],
            Some(2),
            &opts,
        );
        assert!(
            matches!(e, InstallError::Failed(ref m) if m.contains("exit 2") && m.contains("boom"))
        );
    }

    #[test]
    fn installed_version_reads_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path();
        let m = Manifest::built_in().unwrap();
        let spec = m.get(Agent::Codex).unwrap();
        assert_eq!(installed_version(Agent::Codex, spec, prefix), None);
        let pkg = prefix.join("lib/node_modules/@openai/codex");
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("package.json"), r#"{"version":"0.169.0"}"#).unwrap();
        assert_eq!(
            installed_version(Agent::Codex, spec, prefix),
            None,
            "no command yet"
        );
        std::fs::create_dir_all(prefix.join("bin")).unwrap();
        std::fs::write(prefix.join("bin/codex"), "").unwrap();
        assert_eq!(
            installed_version(Agent::Codex, spec, prefix).as_deref(),
            Some("0.169.0")
        );

        let spec = m.get(Agent::Hermes).unwrap();
        let venv = venv_dir(prefix, Agent::Hermes);
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("bin/hermes"), "").unwrap();
        std::fs::create_dir_all(
            venv.join("lib/python3.11/site-packages/hermes_agent-0.19.0.dist-info"),
        )
        .unwrap();
        assert_eq!(
            installed_version(Agent::Hermes, spec, prefix).as_deref(),
            Some("0.19.0")
        );
        // A venv moved from elsewhere: its command names an interpreter that is not there.
        std::fs::write(
            venv.join("bin/hermes"),
            "#!/nonexistent/venv/bin/python\nimport sys\n",
        )
        .unwrap();
        assert_eq!(installed_version(Agent::Hermes, spec, prefix), None);
        let python = std::env::current_exe().unwrap();
        std::fs::write(
            venv.join("bin/hermes"),
            format!("#!{} -E\nimport sys\n", python.display()),
        )
        .unwrap();
        assert_eq!(
            installed_version(Agent::Hermes, spec, prefix).as_deref(),
            Some("0.19.0"),
            "an interpreter that is there, with an argument"
        );
    }
}
