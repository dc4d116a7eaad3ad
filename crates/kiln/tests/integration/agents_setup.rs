//! The setup runner behind `kiln serve`: every agent installed (stand-in npm/python) and
//! configured in the background with per-step progress, a failed agent holding up nobody,
//! retry over HTTP (`POST /api/agents/{name}/retry`), `GET /api/agents`, a trigger during a run
//! queueing one more, and the workspace (models, git identity) taken from kiln-emulator once a
//! token source is set.

use kiln::agents::setup::{SetupOptions, SetupRunner, Status};
use kiln::agents::setup_router;
use kiln_databricks::{Secret, StaticToken};
use kiln_emulator::{Emulator, EmulatorOptions};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn options(root: &Path, fake: &crate::support::agents::FakeTools) -> SetupOptions {
    let home = root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key_path = root.join("gateway.key");
    std::fs::write(&key_path, KEY).unwrap();
    let mut o = SetupOptions::new(home).unwrap();
    o.install = fake.install_options(&root.join("prefix"));
    o.manifest = fake.manifest();
    o.gateway_url = Some("http://127.0.0.1:4321".into());
    o.gateway_key_path = key_path;
    o.env = Default::default();
    o
}

async fn serve(runner: SetupRunner) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app: axum::Router = setup_router(runner);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn idle(runner: &SetupRunner) {
    tokio::time::timeout(Duration::from_secs(60), runner.idle())
        .await
        .expect("setup did not finish within 60 s");
}

fn item<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no item {name} in {snap}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_agent_holds_up_nobody_and_can_be_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let mut opts = options(tmp.path(), &fake);
    let fail_file = tmp.path().join("fail");
    std::fs::write(&fail_file, "@fake/opencode").unwrap();
    opts.install.env.push((
        "FAKE_NPM_FAIL_FILE".into(),
        Some(fail_file.display().to_string()),
    ));
    let home = opts.home.clone();
    let runner = SetupRunner::new(opts);
    let url = serve(runner.clone()).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();

    runner.trigger();
    idle(&runner).await;
    let snap: Value = http
        .get(format!("{url}/api/agents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(snap["running"], false);
    assert_eq!(snap["runs"], 1);
    for name in ["claude", "codex", "gemini", "hermes"] {
        let it = item(&snap, name);
        assert_eq!(it["status"], "ok", "{name}: {it}");
        for step in it["steps"].as_array().unwrap() {
            assert_eq!(step["status"], "ok", "{name}: {step}");
            assert!(step["duration_ms"].is_u64(), "{name}: {step}");
        }
        assert!(!it["log_tail"].as_array().unwrap().is_empty(), "{name}");
    }
    let oc = item(&snap, "opencode");
    assert_eq!(oc["status"], "failed", "{oc}");
    assert_eq!(oc["steps"][0]["name"], "install");
    assert_eq!(oc["steps"][0]["status"], "failed");
    assert!(
        oc["steps"][0]["message"].as_str().unwrap().contains("E404"),
        "{oc}"
    );
    assert!(
        oc["log_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("404 Not Found")),
        "{oc}"
    );
    // The others are configured.
    assert!(home.join(".claude/settings.json").exists());
    assert!(home.join(".hermes/config.yaml").exists());
    // Git works without a workspace: hooks path only, the identity is reported as unknown.
    let git = item(&snap, "git");
    assert_eq!(git["status"], "ok", "{git}");

    // Unknown names are 404; retrying opencode works once the registry has it.
    let r = http
        .post(format!("{url}/api/agents/emacs/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    std::fs::remove_file(&fail_file).unwrap();
    let r = http
        .post(format!("{url}/api/agents/opencode/retry"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    idle(&runner).await;
    let snap = serde_json::to_value(runner.snapshot()).unwrap();
    let oc = item(&snap, "opencode");
    assert_eq!(oc["status"], "ok", "{oc}");
    assert!(home.join(".config/opencode/opencode.json").exists());
    assert_eq!(snap["runs"], 1, "a retry is not a run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_models_identity_and_queued_runs() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let mut opts = options(tmp.path(), &fake);
    opts.selection = kiln::agents::Selection::parse("codex,git").unwrap();
    let home = opts.home.clone();
    let runner = SetupRunner::new(opts);

    runner.trigger();
    runner.trigger(); // during the run: one more run is queued
    idle(&runner).await;
    let snap = runner.snapshot();
    assert_eq!(snap.runs, 2);
    assert!(
        snap.models_source
            .as_deref()
            .unwrap()
            .contains("built-in defaults"),
        "{snap:?}"
    );
    // No identity yet: kiln writes no .gitconfig at all (nor an email in one).
    let gitconfig = std::fs::read_to_string(home.join(".gitconfig")).unwrap_or_default();
    assert!(!gitconfig.contains("email"), "{gitconfig}");

    // A token is configured: the next run asks the workspace.
    runner
        .set_workspace(
            emu.url(),
            Arc::new(StaticToken::new(Secret::new(emu.user_token()))),
        )
        .unwrap();
    runner.trigger();
    idle(&runner).await;
    let snap = runner.snapshot();
    assert_eq!(snap.runs, 3);
    assert!(
        snap.models_source
            .as_deref()
            .unwrap()
            .contains("serving endpoints"),
        "{snap:?}"
    );
    assert!(
        snap.items.iter().all(|i| i.status == Status::Ok),
        "{snap:?}"
    );
    let gitconfig = std::fs::read_to_string(home.join(".gitconfig")).unwrap();
    assert!(
        gitconfig.contains("email = alice@example.com"),
        "{gitconfig}"
    );
    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("model = \"databricks-gpt-5-5\""), "{codex}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gateway_agents_fail_clearly_and_extras_still_run() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let mut opts = options(tmp.path(), &fake);
    opts.gateway_url = None;
    opts.skip_install = true;
    opts.selection = kiln::agents::Selection::parse("claude,git,databricks").unwrap();
    let runner = SetupRunner::new(opts);
    runner.trigger();
    idle(&runner).await;
    let snap = serde_json::to_value(runner.snapshot()).unwrap();
    let claude = item(&snap, "claude");
    assert_eq!(claude["status"], "failed");
    assert_eq!(
        claude["steps"].as_array().unwrap().len(),
        1,
        "no install step when skipped"
    );
    assert!(
        claude["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("gateway is not running")
    );
    assert_eq!(item(&snap, "git")["status"], "ok");
    let db = item(&snap, "databricks");
    assert_eq!(db["status"], "ok");
    assert!(
        db["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no token broker"),
        "{db}"
    );
}
