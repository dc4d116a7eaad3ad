//! The cluster init script, run for real by bash in a sandbox: its root and prefix point into a
//! temporary directory (`KILN_CLUSTER_ROOT`, `KILN_CLUSTER_PREFIX`), so nothing outside it is
//! touched. Against kiln-emulator: the script verifies and installs kiln, starts the cluster
//! gateway with the token from its environment, finds the pinned agents present (the sandbox
//! prefix is seeded with links to the agent cache of `agents_e2e.rs`) and configures root's HOME
//! and, through the shell hook, a user's. The five real agents then answer through the cluster's
//! gateway, a second run changes nothing, and no file in the sandbox holds the token. Other
//! tests: a worker node does nothing, a wrong checksum and a user's token on a shared cluster
//! fail the start with one clear line, a service principal's token is accepted there.

use kiln::agents::Agent;
use kiln::agents::check::{self, CheckOptions};
use kiln::agents::install::{self, InstallOptions};
use kiln::agents::manifest::Manifest;
use kiln_emulator::{Emulator, EmulatorOptions};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

const MARKER: &str = kiln_emulator::serving::ANSWER_MARKER;

fn cache_dir() -> PathBuf {
    match std::env::var_os("KILN_AGENT_CACHE") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/agent-cache"),
    }
}

/// A sandbox: root, prefix and the source directory holding the script and the binary.
struct Sandbox {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    prefix: PathBuf,
    script: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let src = dir.join("src");
        std::fs::create_dir_all(&src).unwrap();
        // The release binary (built for the glibc floor by scripts/build-release, which
        // scripts/test runs) when there is one, as on a real cluster; else this build, which
        // needs the build machine's newer glibc.
        let release = std::env::var_os("KILN_RELEASE_BIN");
        let binary = release
            .clone()
            .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kiln")), PathBuf::from);
        std::fs::copy(&binary, src.join("kiln")).unwrap();
        let script = src.join("kiln-init.sh");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.args(["cluster", "init-script", "--out"])
            .arg(&script)
            .args(["--binary"])
            .arg(src.join("kiln"));
        if release.is_none() {
            cmd.arg("--skip-glibc-check");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::metadata(&script).unwrap().permissions().mode() & 0o777,
            0o755
        );
        Self {
            root: dir.join("root"),
            prefix: dir.join("prefix"),
            _tmp: tmp,
            dir,
            script,
        }
    }

    /// Links the cached agents into the prefix (what a previous install would have left).
    fn seed_agents(&self, cache: &Path, manifest: &Manifest) {
        let bin = self.prefix.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(cache.join("lib"), self.prefix.join("lib")).unwrap();
        std::fs::create_dir_all(self.prefix.join("share/kiln/venvs")).unwrap();
        for agent in Agent::ALL {
            let spec = manifest.get(agent).unwrap();
            std::os::unix::fs::symlink(cache.join("bin").join(&spec.bin), bin.join(&spec.bin))
                .unwrap();
        }
        std::os::unix::fs::symlink(
            install::venv_dir(cache, Agent::Hermes),
            install::venv_dir(&self.prefix, Agent::Hermes),
        )
        .unwrap();
    }

    /// Runs the script with bash; `env` adds to a minimal environment.
    fn run(&self, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(&self.script)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.join("caller-home"))
            .env("KILN_CLUSTER_ROOT", &self.root)
            .env("KILN_CLUSTER_PREFIX", &self.prefix)
            .env("KILN_CLUSTER_GATEWAY_PORT", "0")
            .env("KILN_CLUSTER_TIMEOUT_SECS", "600");
        for (k, v) in offline_env() {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("var/log/kiln/init-script.log")).unwrap_or_default()
    }

    fn gateway_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.root.join("var/lib/kiln/gateway.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The gateway this test's script started.
        if let Some(pid) = self.gateway_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// Environment that cuts everything but loopback off.
fn offline_env() -> Vec<(String, String)> {
    let dead = "http://127.0.0.1:9".to_owned();
    let mut v: Vec<(String, String)> = ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"]
        .iter()
        .map(|k| ((*k).to_owned(), dead.clone()))
        .collect();
    for k in ["NO_PROXY", "no_proxy"] {
        v.push((k.to_owned(), "127.0.0.1,localhost".to_owned()));
    }
    v
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every regular file under `dir`, symlinks not followed.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(files(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}

/// Path -> (content hash, mode, mtime) or the link target, for every entry under `dir`.
fn snapshot(dir: &Path, skip: &[PathBuf]) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let value = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode() & 0o7777)
            } else {
                let hash = Sha256::digest(std::fs::read(&p).unwrap());
                format!(
                    "{:x} {:o} {}.{}",
                    hash,
                    m.mode() & 0o7777,
                    m.mtime(),
                    m.mtime_nsec()
                )
            };
            out.insert(p, value);
        }
    }
    out
}

async fn install_cache(cache: &Path, manifest: &Manifest) {
    let opts = InstallOptions::new(cache.to_owned());
    let sink: install::AgentLineSink = Arc::new(|a: Agent, l: &str| eprintln!("[install {a}] {l}"));
    for (agent, result) in install::install_all(&Agent::ALL, manifest, &opts, sink).await {
        result.unwrap_or_else(|e| panic!("installing {agent} into the cache failed: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real agent CLIs (Node.js, npm and PyPI once): run with --run-ignored all, as scripts/test does"]
async fn init_script_sets_up_the_agents_behind_the_cluster_gateway_idempotently() {
    let manifest = Manifest::built_in().unwrap();
    let cache = cache_dir();
    install_cache(&cache, &manifest).await;

    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let host = emu.url().to_owned();
    let token = emu.create_token(emu.user_email(), None).unwrap();

    let sb = Sandbox::new();
    sb.seed_agents(&cache, &manifest);
    let env = [
        ("DB_IS_DRIVER", "TRUE"),
        ("DATABRICKS_RUNTIME_VERSION", "15.4"),
        ("KILN_DATABRICKS_HOST", host.as_str()),
        ("KILN_DATABRICKS_TOKEN", token.as_str()),
        ("KILN_CLUSTER_ACCESS_MODE", "SINGLE_USER"),
    ];
    let first = sb.run(&env);
    assert!(
        first.status.success(),
        "{}\nlog:\n{}",
        text(&first),
        sb.log()
    );
    let log = sb.log();
    for step in [
        "driver", "binary", "gateway", "node", "agents", "users", "done",
    ] {
        assert!(log.contains(&format!("[{step}]")), "no step {step}:\n{log}");
    }
    let pid = sb.gateway_pid().expect("gateway pid");
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sb.root.join("etc/kiln/cluster.json")).unwrap())
            .unwrap();
    assert_eq!(info["pid"], pid);
    assert_eq!(info["identity"]["kind"], "user");
    assert_eq!(info["identity"]["name"], emu.user_email());
    // The token is on no command line.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains(&token));

    // Second run: nothing changes (logs aside), the gateway keeps running.
    let skip = [sb.root.join("var/log")];
    let before = snapshot(&sb.dir, &skip);
    let second = sb.run(&env);
    assert!(
        second.status.success(),
        "{}\nlog:\n{}",
        text(&second),
        sb.log()
    );
    let after = snapshot(&sb.dir, &skip);
    let changed: Vec<_> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p)
        .chain(before.keys().filter(|p| !after.contains_key(*p)))
        .collect();
    assert!(changed.is_empty(), "the second run changed {changed:#?}");
    assert!(sb.log().contains(&format!("already running (pid {pid})")));
    assert_eq!(sb.gateway_pid(), Some(pid));

    // A user opens a shell: the hook configures their agents.
    let alice = sb.dir.join("home/alice");
    std::fs::create_dir_all(alice.join("projects")).unwrap();
    let hook = sb.root.join("etc/profile.d/kiln.sh");
    let out = Command::new("bash")
        .arg("-c")
        .arg(". \"$1\"; command -v kiln")
        .arg("hook")
        .arg(&hook)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &alice)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sb.prefix.join("bin/kiln").display().to_string()
    );
    assert!(alice.join(".kiln/cluster-configured.json").is_file());
    assert!(alice.join(".claude/settings.json").is_file());
    assert!(sb.root.join("root/.codex/config.toml").is_file());

    // The five real agents answer through the cluster's gateway, for alice and for root.
    for home in [alice.clone(), sb.root.join("root")] {
        let mut opts = CheckOptions::new(home.clone(), sb.prefix.clone());
        opts.timeout = Duration::from_secs(240);
        opts.env = offline_env();
        let mut set = tokio::task::JoinSet::new();
        for agent in Agent::ALL {
            let mut o = opts.clone();
            o.prompt = format!("say hello from {agent} on the cluster");
            set.spawn(async move { (agent, o.prompt.clone(), check::check(agent, &o).await) });
        }
        while let Some(r) = set.join_next().await {
            let (agent, prompt, out) = r.unwrap();
            let expected = format!("{MARKER} {prompt}");
            let quoted = format!("{MARKER} \"{prompt}\"");
            assert!(
                out.ok && (out.stdout.contains(&expected) || out.stdout.contains(&quoted)),
                "{agent} in {} did not answer: code {:?}\nstdout:\n{}\nstderr:\n{}",
                home.display(),
                out.code,
                out.stdout,
                out.stderr
            );
        }
    }
    // Every model call reached the workspace as the token's user.
    let calls: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/serving-endpoints") || r.path.starts_with("/ai-gateway"))
        .collect();
    assert!(calls.len() >= 10, "{} model calls", calls.len());
    for r in &calls {
        assert_eq!(r.identity.as_deref(), Some(emu.user_email()), "{r:?}");
    }

    // No file in the sandbox holds the token.
    for f in files(&sb.dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
}

#[test]
fn a_worker_node_does_nothing() {
    let sb = Sandbox::new();
    let out = sb.run(&[("DB_IS_DRIVER", "FALSE")]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(sb.log().contains("a worker node"), "{}", sb.log());
    assert!(!sb.prefix.exists());
    assert!(!sb.root.join("etc").exists());
}

#[test]
fn a_wrong_checksum_fails_the_start_with_one_clear_line() {
    let sb = Sandbox::new();
    let bin = sb.script.with_file_name("kiln");
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes.extend_from_slice(b"tampered");
    std::fs::write(&bin, bytes).unwrap();
    let out = sb.run(&[("DB_IS_DRIVER", "TRUE")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("step 'binary' failed")
            && err.contains("SHA-256")
            && err.contains("init-script.log"),
        "{err}"
    );
    assert!(!sb.prefix.join("bin/kiln").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_cluster_refuses_a_users_token_and_takes_a_service_principals() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let host = emu.url().to_owned();
    let user_token = emu.create_token(emu.user_email(), None).unwrap();

    // The script fails at the gateway step, before installing anything.
    let sb = Sandbox::new();
    let out = sb.run(&[
        ("DB_IS_DRIVER", "TRUE"),
        ("KILN_DATABRICKS_HOST", host.as_str()),
        ("KILN_DATABRICKS_TOKEN", user_token.as_str()),
        ("KILN_CLUSTER_ACCESS_MODE", "USER_ISOLATION"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("step 'gateway' failed")
            && err.contains("refusing to share")
            && err.contains(emu.user_email()),
        "{err}\nlog:\n{}",
        sb.log()
    );
    assert!(!sb.root.join("etc/kiln/cluster.json").exists());
    assert!(!sb.prefix.join("lib").exists());

    // A bad token: the message names the secret.
    let out = sb.run(&[
        ("DB_IS_DRIVER", "TRUE"),
        ("KILN_DATABRICKS_HOST", host.as_str()),
        ("KILN_DATABRICKS_TOKEN", "dapi-not-a-token"),
        ("KILN_CLUSTER_ACCESS_MODE", "SINGLE_USER"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not accept the token") && !err.contains("dapi-not-a-token"),
        "{err}"
    );

    // A service principal's token is shared on purpose: the gateway starts.
    let sp_token = emu.create_token(emu.sp_client_id(), None).unwrap();
    let root = sb.dir.join("sp-root");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "cluster",
            "gateway",
            "--token-stdin",
            "--port",
            "0",
            "--root",
        ])
        .arg(&root)
        .env("KILN_DATABRICKS_HOST", &host)
        .env("KILN_CLUSTER_ACCESS_MODE", "USER_ISOLATION")
        .env("HOME", sb.dir.join("sp-home"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{sp_token}").unwrap();
    }
    let info_path = root.join("etc/kiln/cluster.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !info_path.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the gateway exited");
        assert!(std::time::Instant::now() < deadline, "no cluster.json");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    assert_eq!(info["identity"]["kind"], "service_principal");
    let key = root.join("etc/kiln/gateway.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let state_key = root.join("var/lib/kiln/gateway/gateway.key");
    assert_eq!(
        std::fs::metadata(&state_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!info_path.exists(), "cluster.json left behind");
}
