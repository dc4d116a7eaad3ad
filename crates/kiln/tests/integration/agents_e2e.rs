//! End to end with the real agent CLIs: Claude Code, Codex, Gemini CLI, OpenCode and Hermes Agent
//! (the pinned versions of kiln's manifest, installed by kiln's own installer into a cache,
//! `target/agent-cache` or `$KILN_AGENT_CACHE`; skipped when present) run in a scratch HOME that
//! `kiln agents configure` wrote, against kiln-emulator through kiln's model gateway. Each
//! answers one non-interactive prompt with the emulator's answer; then the token rotates (a new
//! token is minted, the gateway's source swapped, the old token revoked) and each answers again
//! (through `kiln agents check`, the real binary). The emulator's request log must show no
//! request refused as unauthenticated, i.e. none carried a revoked token.
//!
//! Nothing here needs the internet: the agents' offline switches are set and their proxy
//! variables point at a closed local port, so anything but loopback fails. Installing needs the
//! npm and PyPI registries once. Both tests are `#[ignore]`d so that a plain `cargo nextest run`
//! on a machine without Node.js or a registry reports them as skipped rather than passed;
//! `scripts/test` runs them (`--run-ignored all`), and so does
//! `cargo nextest run -p kiln --test agents_e2e --run-ignored all`.

use kiln::agents::Agent;
use kiln::agents::check::{self, CheckOptions};
use kiln::agents::install::{self, InstallOptions};
use kiln::agents::manifest::Manifest;
use kiln::gateway::{self, GatewayOptions};
use kiln_databricks::api::tokens::CreateToken;
use kiln_databricks::{
    Attr, Client, ClientOptions, ConfigLoader, Environment, Secret, StaticToken, TokenSource,
};
use kiln_emulator::{Emulator, EmulatorOptions};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MARKER: &str = kiln_emulator::serving::ANSWER_MARKER;

fn cache_dir() -> PathBuf {
    match std::env::var_os("KILN_AGENT_CACHE") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/agent-cache"),
    }
}

fn client(host: &str, token: &str) -> Client {
    let config = ConfigLoader::new(Environment::new())
        .set(Attr::Host, host)
        .load()
        .unwrap();
    let source: Arc<dyn TokenSource> = Arc::new(StaticToken::new(Secret::new(token)));
    Client::with_token_source(&config, source, ClientOptions::default()).unwrap()
}

/// Mints a one-hour token with `with`: (value, id).
async fn mint(host: &str, with: &str, comment: &str) -> (String, String) {
    let created = client(host, with)
        .tokens()
        .create(&CreateToken {
            lifetime_seconds: Some(3600),
            comment: Some(comment.to_owned()),
        })
        .await
        .unwrap();
    (
        created.token_value.expose().to_owned(),
        created.token_info.token_id,
    )
}

/// Environment that cuts the agents off from everything but loopback.
fn offline_env() -> Vec<(String, String)> {
    let dead = "http://127.0.0.1:9".to_owned();
    let mut v: Vec<(String, String)> = [
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), dead.clone()))
    .collect();
    for k in ["NO_PROXY", "no_proxy"] {
        v.push((k.to_owned(), "127.0.0.1,localhost".to_owned()));
    }
    v
}

async fn install_agents(prefix: &Path) {
    let manifest = Manifest::built_in().unwrap();
    let opts = InstallOptions::new(prefix.to_owned());
    let sink: install::AgentLineSink = Arc::new(|a: Agent, l: &str| eprintln!("[install {a}] {l}"));
    for (agent, result) in install::install_all(&Agent::ALL, &manifest, &opts, sink).await {
        let i = result.unwrap_or_else(|e| panic!("installing {agent} failed: {e}"));
        eprintln!(
            "{agent}: {} {} ({:.1} s)",
            if i.changed { "installed" } else { "cached" },
            i.version,
            i.duration.as_secs_f64()
        );
    }
}

/// One prompt through every agent (in parallel); returns each answer line.
async fn round(opts: &CheckOptions, tag: &str) -> Vec<(Agent, String)> {
    let mut set = tokio::task::JoinSet::new();
    for agent in Agent::ALL {
        let mut o = opts.clone();
        o.prompt = format!("say hello from {agent} {tag}");
        set.spawn(async move { (agent, o.prompt.clone(), check::check(agent, &o).await) });
    }
    let mut answers = Vec::new();
    while let Some(r) = set.join_next().await {
        let (agent, prompt, out) = r.unwrap();
        // The emulator echoes the last user turn; OpenCode sends the prompt in quotes.
        let expected = format!("{MARKER} {prompt}");
        let quoted = format!("{MARKER} \"{prompt}\"");
        assert!(
            out.ok && (out.stdout.contains(&expected) || out.stdout.contains(&quoted)),
            "{agent} ({tag}) did not answer {expected:?}: code {:?}, timed out {}\nstdout:\n{}\nstderr:\n{}",
            out.code,
            out.timed_out,
            out.stdout,
            out.stderr
        );
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(MARKER))
            .unwrap_or_default()
            .trim()
            .to_owned();
        println!(
            "{agent} ({tag}, {:.1} s): {line}",
            out.duration.as_secs_f64()
        );
        answers.push((agent, line));
    }
    answers.sort();
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real agent CLIs (Node.js, npm and PyPI once): run with --run-ignored all, as scripts/test does"]
async fn real_clis_answer_through_the_gateway_across_a_token_rotation() {
    let prefix = cache_dir();
    install_agents(&prefix).await;

    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let host = emu.url().to_owned();
    let (token_a, id_a) = mint(&host, emu.user_token(), "kiln e2e A").await;

    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("projects")).unwrap();
    let state_dir = tmp.path().join("gateway-state");
    let gw = gateway::start(
        GatewayOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            state_dir: Some(state_dir.clone()),
            write_discovery: true,
            ..GatewayOptions::default()
        },
        host.clone(),
        Arc::new(StaticToken::new(Secret::new(token_a.clone()))),
    )
    .await
    .unwrap();

    // kiln configures the scratch HOME (models and identity from the emulator, token A).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["agents", "configure", "--home"])
        .arg(&home)
        .args(["--gateway", gw.url(), "--gateway-key-file"])
        .arg(gw.key_path())
        .env("DATABRICKS_HOST", &host)
        .env("DATABRICKS_TOKEN", &token_a)
        .env("DATABRICKS_CONFIG_FILE", tmp.path().join("none"))
        .env_remove("KILN_AGENTS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "configure failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    // No Databricks token in any agent file.
    for entry in walk(&home) {
        let bytes = std::fs::read(&entry).unwrap();
        let s = String::from_utf8_lossy(&bytes);
        assert!(
            !s.contains(&token_a) && !s.contains(emu.user_token()),
            "token in {}",
            entry.display()
        );
    }

    let mut opts = CheckOptions::new(home.clone(), prefix.clone());
    opts.timeout = Duration::from_secs(240);
    opts.env = offline_env();
    let first = round(&opts, "before the rotation").await;
    assert_eq!(first.len(), 5);

    // Rotation: mint B with A, swap the gateway's source, revoke A.
    let (token_b, _id_b) = mint(&host, &token_a, "kiln e2e B").await;
    gw.set_source(
        host.clone(),
        Arc::new(StaticToken::new(Secret::new(token_b.clone()))),
    );
    client(&host, &token_b)
        .tokens()
        .delete(&id_a)
        .await
        .unwrap();
    let revoked_at = emu.requests().last().map(|r| r.seq).unwrap_or(0);
    let refused = client(&host, &token_a).scim().me().await;
    assert!(refused.is_err(), "token A still works after revocation");
    let probe_seq = emu.requests().last().map(|r| r.seq).unwrap_or(0);

    // Second round through the real binary: `kiln agents check`.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["agents", "check", "--home"])
        .arg(&home)
        .arg("--prefix")
        .arg(&prefix)
        .args([
            "--prompt",
            "say hello after the rotation",
            "--timeout-secs",
            "240",
        ])
        .env_remove("KILN_AGENTS")
        .env_remove("DATABRICKS_TOKEN");
    for (k, v) in offline_env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(
        out.status.success(),
        "check after the rotation failed:\n{text}"
    );
    for agent in Agent::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{agent}: ok")))
            .unwrap_or_else(|| panic!("no ok line for {agent}:\n{text}"));
        assert!(
            line.contains(&format!("{MARKER} say hello after the rotation"))
                || line.contains(&format!("{MARKER} \"say hello after the rotation\"")),
            "{line}"
        );
    }

    // The request log: requests after the revocation were made, with the user's identity, and
    // none anywhere was refused as unauthenticated (except our deliberate probe with token A).
    let log = emu.requests();
    let after: Vec<_> = log
        .iter()
        .filter(|r| {
            r.seq > probe_seq
                && (r.path.starts_with("/serving-endpoints") || r.path.starts_with("/ai-gateway"))
        })
        .collect();
    assert!(
        after.len() >= 5,
        "too few model calls after the rotation: {}",
        after.len()
    );
    let refused: Vec<_> = log
        .iter()
        .filter(|r| (r.status == 401 || r.status == 403) && r.fault.is_none())
        .filter(|r| !(r.seq > revoked_at && r.seq <= probe_seq))
        .collect();
    assert!(
        refused.is_empty(),
        "requests refused for their credential: {refused:#?}"
    );
    for r in &after {
        assert_eq!(r.identity.as_deref(), Some(emu.user_email()), "{r:?}");
    }
    let usage = gw.usage();
    for agent in Agent::ALL {
        let n: u64 = usage
            .agents
            .iter()
            .filter(|u| u.agent == agent.name())
            .map(|u| u.requests)
            .sum();
        assert!(n >= 2, "gateway usage for {agent}: {n} requests");
    }

    // `kiln agents status`: versions, endpoints, models, usage from the gateway, last check.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["agents", "status", "--json", "--home"])
        .arg(&home)
        .arg("--prefix")
        .arg(&prefix)
        .args(["--gateway", gw.url(), "--gateway-key-file"])
        .arg(gw.key_path())
        .env_remove("KILN_AGENTS")
        .output()
        .unwrap();
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = Manifest::built_in().unwrap();
    for agent in Agent::ALL {
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["agent"] == agent.name())
            .unwrap();
        let pinned = &manifest.get(agent).unwrap().version;
        assert_eq!(row["installed"].as_str(), Some(pinned.as_str()), "{row}");
        assert_eq!(
            row["endpoint"].as_str(),
            Some(format!("{}/{agent}", gw.url()).as_str()),
            "{row}"
        );
        assert!(
            row["model"].as_str().unwrap().starts_with("databricks-"),
            "{row}"
        );
        assert_eq!(row["last_ok"], true, "{row}");
        assert!(row["usage"]["requests"].as_u64().unwrap() >= 2, "{row}");
    }
    gw.shutdown().await;
}

/// `--mode direct` (for places without a running kiln): the configs name `$DATABRICKS_TOKEN`
/// instead of holding a key, point at the workspace's serving paths, and the real CLIs answer
/// through them with the token from the environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real agent CLIs (Node.js, npm and PyPI once): run with --run-ignored all, as scripts/test does"]
async fn real_clis_answer_in_direct_mode_with_a_token_reference() {
    let prefix = cache_dir();
    install_agents(&prefix).await;
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let host = emu.url().to_owned();
    let (token, _) = mint(&host, emu.user_token(), "kiln e2e direct").await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(home.join("projects")).unwrap();

    let kiln = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
        c.arg("agents")
            .args(args)
            .arg("--home")
            .arg(&home)
            .env("DATABRICKS_HOST", &host)
            .env("DATABRICKS_TOKEN", &token)
            .env("DATABRICKS_CONFIG_FILE", tmp.path().join("none"))
            .env("KILN_AGENTS", "claude,codex,gemini,opencode,hermes");
        c
    };
    let out = kiln(&["configure", "--mode", "direct"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for entry in walk(&home) {
        let s = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
        assert!(!s.contains(&token), "token in {}", entry.display());
    }

    let mut check = kiln(&[
        "check",
        "--prompt",
        "say hello directly",
        "--timeout-secs",
        "240",
    ]);
    check.arg("--prefix").arg(&prefix);
    for (k, v) in offline_env() {
        check.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || check.output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    assert!(out.status.success(), "direct-mode check failed:\n{text}");
    for agent in Agent::ALL {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{agent}: ok")))
            .unwrap_or_else(|| panic!("no ok line for {agent}:\n{text}"));
        assert!(line.contains(MARKER), "{line}");
    }
    // Every model call went straight to the workspace's serving paths with the token, accepted as
    // the owner's. (Hermes' local-server probes go out without a credential and get 401 or 404,
    // as Databricks answers; none was refused for a bad token: no 403.)
    let calls: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/serving-endpoints/"))
        .collect();
    let answered: Vec<_> = calls.iter().filter(|r| r.status == 200).collect();
    assert!(answered.len() >= 5, "{calls:#?}");
    assert!(
        answered
            .iter()
            .all(|r| r.identity.as_deref() == Some(emu.user_email())),
        "{calls:#?}"
    );
    assert!(calls.iter().all(|r| r.status != 403), "{calls:#?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
