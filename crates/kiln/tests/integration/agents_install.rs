//! The installer: parallel installs into a prefix with per-agent output, skipped when the pinned
//! version is there, one failure not holding up the others (stand-in `npm` / `python3` scripts
//! that lay out packages the way the real ones do), and the message when a registry is
//! unreachable (the real npm and pip pointed at a closed local port).

use kiln::agents::Agent;
use kiln::agents::install::{self, InstallError, InstallOptions};
use kiln::agents::manifest::Manifest;
use std::sync::{Arc, Mutex};

fn closed_port_url(path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", crate::support::free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_installs_skip_what_is_there_and_isolate_failures() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let manifest = fake.manifest();
    let mut opts = fake.install_options(&tmp.path().join("prefix"));
    opts.env
        .push(("FAKE_NPM_FAIL".into(), Some("@fake/gemini".into())));

    let lines: Arc<Mutex<Vec<(Agent, String)>>> = Arc::default();
    let l2 = lines.clone();
    let sink: install::AgentLineSink =
        Arc::new(move |a: Agent, l: &str| l2.lock().unwrap().push((a, l.to_owned())));
    let results = install::install_all(&Agent::ALL, &manifest, &opts, sink.clone()).await;
    assert_eq!(results.len(), 5);
    for (agent, r) in &results {
        match agent {
            Agent::Gemini => {
                let e = r.as_ref().unwrap_err();
                assert!(
                    matches!(e, InstallError::Failed(m) if m.contains("E404")),
                    "{e}"
                );
            }
            _ => {
                let i = r.as_ref().unwrap_or_else(|e| panic!("{agent}: {e}"));
                assert!(i.changed && i.bin.exists(), "{agent}: {i:?}");
                assert_eq!(i.version, manifest.get(*agent).unwrap().version);
            }
        }
    }
    // Each agent's output went to its own sink.
    let seen = lines.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(a, l)| *a == Agent::Codex && l.contains("added 1 package"))
    );
    assert!(
        seen.iter()
            .any(|(a, l)| *a == Agent::Hermes && l.contains("Successfully installed"))
    );
    let hermes_link = opts.prefix.join("bin/hermes");
    assert!(
        std::fs::symlink_metadata(&hermes_link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // Second run: nothing is reinstalled; the failed one is tried again and now works.
    let calls_before = fake.calls();
    opts.env.retain(|(k, _)| k != "FAKE_NPM_FAIL");
    let results = install::install_all(&Agent::ALL, &manifest, &opts, sink).await;
    for (agent, r) in &results {
        let i = r.as_ref().unwrap();
        assert_eq!(i.changed, *agent == Agent::Gemini, "{agent}");
    }
    let new_calls: Vec<String> = fake.calls()[calls_before.len()..].to_vec();
    assert_eq!(new_calls.len(), 1, "only gemini reinstalled: {new_calls:?}");
    assert!(new_calls[0].contains("@fake/gemini@"), "{new_calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_pin_replaces_the_installed_version() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let mut manifest = fake.manifest();
    let opts = fake.install_options(&tmp.path().join("prefix"));
    let sink: install::LineSink = Arc::new(|_: &str| {});
    let first = install::install(Agent::Codex, &manifest, &opts, sink.clone())
        .await
        .unwrap();
    assert!(first.changed);
    manifest
        .overlay(r#"{"codex": {"version": "9.9.9"}}"#)
        .unwrap();
    let second = install::install(Agent::Codex, &manifest, &opts, sink)
        .await
        .unwrap();
    assert!(second.changed);
    assert_eq!(second.version, "9.9.9");
}

/// A venv moved or copied from elsewhere keeps commands that name its old interpreter; pip
/// would leave them so, so the installer recreates the venv instead of calling it installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_venv_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = crate::support::agents::FakeTools::new(tmp.path());
    let manifest = fake.manifest();
    let opts = fake.install_options(&tmp.path().join("prefix"));
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let l2 = lines.clone();
    let sink: install::LineSink = Arc::new(move |l: &str| l2.lock().unwrap().push(l.to_owned()));
    let first = install::install(Agent::Hermes, &manifest, &opts, sink.clone())
        .await
        .unwrap();
    assert!(first.changed);
    let command = install::venv_dir(&opts.prefix, Agent::Hermes).join("bin/hermes");
    std::fs::write(&command, "#!/moved/away/venv/bin/python\nimport sys\n").unwrap();

    let again = install::install(Agent::Hermes, &manifest, &opts, sink)
        .await
        .unwrap();
    assert!(again.changed, "reinstalled, not taken as installed");
    let script = std::fs::read_to_string(&command).unwrap();
    assert!(script.starts_with("#!/bin/sh"), "{script}");
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("names an interpreter that is not there; recreating")),
        "{:?}",
        lines.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registries_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = Manifest::built_in().unwrap();
    let npm_registry = closed_port_url("/");
    let pip_index = closed_port_url("/simple");
    let mut opts = InstallOptions::new(tmp.path().join("prefix"));
    opts.env = vec![
        ("npm_config_registry".into(), Some(npm_registry.clone())),
        ("npm_config_fetch_retries".into(), Some("0".into())),
        (
            "npm_config_cache".into(),
            Some(tmp.path().join("npm-cache").display().to_string()),
        ),
        ("PIP_INDEX_URL".into(), Some(pip_index.clone())),
        ("PIP_RETRIES".into(), Some("0".into())),
        ("PIP_TIMEOUT".into(), Some("3".into())),
        ("PIP_FIND_LINKS".into(), None),
        ("PIP_NO_INDEX".into(), None),
        ("PIP_EXTRA_INDEX_URL".into(), None),
    ];
    let sink: install::AgentLineSink = Arc::new(|_: Agent, _: &str| {});
    let results =
        install::install_all(&[Agent::Codex, Agent::Hermes], &manifest, &opts, sink).await;
    for (agent, r) in results {
        let e = r.unwrap_err();
        let InstallError::Unreachable(msg) = &e else {
            panic!("{agent}: expected an unreachable registry, got {e}");
        };
        let registry = if agent == Agent::Codex {
            &npm_registry
        } else {
            &pip_index
        };
        assert!(msg.contains(registry.as_str()), "{agent}: {msg}");
        assert!(msg.contains("unreachable"), "{agent}: {msg}");
    }
}
