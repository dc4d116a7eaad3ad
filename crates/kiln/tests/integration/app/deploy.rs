//! `kiln app deploy` and `kiln app status` against kiln-emulator's Apps and Workspace APIs:
//! the steps and their progress lines, an incremental redeploy, and each bad input with its
//! message (no credentials, invalid name, no permission, a name owned by someone else, a
//! timeout), including what a failure leaves behind.

use super::fixture;
use kiln::app::cli::{self, BinaryArgs, DeployArgs, StatusArgs, WorkspaceArgs};
use kiln::app::deploy::Tracker;
use kiln::app::progress::Progress;
use kiln::app::source::AppSource;
use kiln::app::{AppError, upload};
use kiln_databricks::Environment;
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator, StateDelays};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const BOB: &str = "bob@example.com";

async fn emulator(app_start_secs: u64) -> RunningEmulator {
    let opts = EmulatorOptions {
        users: vec!["alice@example.com".into(), BOB.into()],
        delays: StateDelays {
            app_start_secs,
            app_stop_secs: 1,
            app_deploy_secs: 1,
            app_delete_secs: 1,
            ..StateDelays::default()
        },
        ..EmulatorOptions::default()
    };
    Emulator::start(opts).await.unwrap()
}

fn env(emu: &RunningEmulator, token: &str, home: &Path) -> Environment {
    Environment::new()
        .with_home(home)
        .with_var("DATABRICKS_HOST", emu.url())
        .with_var("DATABRICKS_TOKEN", token)
}

fn fixture_binary(dir: &Path, status: u8) -> PathBuf {
    let p = dir.join(format!("kiln-{status}"));
    std::fs::write(&p, fixture::elf(status)).unwrap();
    p
}

fn args(name: &str, binary: &Path) -> DeployArgs {
    DeployArgs {
        name: name.into(),
        workspace: WorkspaceArgs { profile: None },
        source_code_path: None,
        timeout_seconds: 120,
        env: Vec::new(),
        binary: BinaryArgs {
            binary: Some(binary.to_path_buf()),
        },
    }
}

async fn deploy(
    a: &DeployArgs,
    env: Environment,
) -> (Result<kiln::app::deploy::Deployed, AppError>, Vec<String>) {
    let (progress, lines) = Progress::buffer();
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let r = cli::deploy(a, env, &progress, tracker).await;
    let lines = lines.lock().unwrap().clone();
    (r, lines)
}

async fn deploy_source(
    a: &DeployArgs,
    env: Environment,
    source: &AppSource,
) -> (Result<kiln::app::deploy::Deployed, AppError>, Vec<String>) {
    let (progress, lines) = Progress::buffer();
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let r = cli::deploy_source(a, env, source, &progress, tracker).await;
    let lines = lines.lock().unwrap().clone();
    (r, lines)
}

/// The app source around this build's kiln (a debug build: it runs here, but needs a newer
/// glibc than the floor, so the CLI's binary check is bypassed by building the source directly).
/// `extra` bytes appended make a "changed build" that still runs.
fn kiln_source(extra: &[u8]) -> AppSource {
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_kiln")).unwrap();
    bytes.extend_from_slice(extra);
    AppSource::new(&bytes, "test").unwrap()
}

#[tokio::test]
async fn deploy_creates_the_app_then_redeploys_only_what_changed() {
    let emu = emulator(1).await;
    let tmp = tempfile::tempdir().unwrap();
    let e = || env(&emu, emu.user_token(), tmp.path());
    let mut a = args("my-kiln", Path::new("unused"));
    // The agents are not what this test is about: no installs from the registries.
    a.env = vec![("KILN_AGENTS_SETUP".into(), "0".into())];
    let first = kiln_source(b"");
    let parts: Vec<String> = first
        .files
        .iter()
        .filter(|f| f.path.starts_with("bin/"))
        .map(|f| f.path.clone())
        .collect();
    let n = first.files.len();

    let (r, lines) = deploy_source(&a, e(), &first).await;
    let done = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    let text = lines.join("\n");
    for want in [
        "signed in to",
        "as alice@example.com",
        "app my-kiln does not exist yet; it will be created",
        &format!("uploaded {n} of {n} files"),
        "to /Workspace/Users/alice@example.com/apps/my-kiln; 0 unchanged",
        "created app my-kiln",
        "compute is ACTIVE",
        "started (SNAPSHOT of /Workspace/Users/alice@example.com/apps/my-kiln)",
        "SUCCEEDED",
        "my-kiln is live at http://127.0.0.1:",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with('[') && l.contains("s] ")),
        "every line has the elapsed time: {text}"
    );
    assert_eq!(Some(done.url.clone()), emu.app_url("my-kiln"));
    let logs = emu.app_logs("my-kiln").unwrap();
    assert!(logs.contains("kiln launch: starting"), "{logs}");
    assert!(
        logs.contains("Databricks Apps mode"),
        "kiln serve runs: {logs}"
    );
    let root = "/Users/alice@example.com/apps/my-kiln";
    assert_eq!(
        emu.workspace_file(&format!("{root}/launch.py")).unwrap(),
        kiln::app::source::LAUNCH_PY.as_bytes()
    );
    assert!(emu.workspace_exists(&format!("{root}/{}", upload::STATE_FILE)));

    // Same binary again: nothing uploaded, a new deployment all the same.
    emu.clear_requests();
    let (r, lines) = deploy_source(&a, e(), &first).await;
    let again = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_ne!(again.deployment_id, done.deployment_id);
    assert!(again.upload.uploaded.is_empty(), "{:?}", again.upload);
    let text = lines.join("\n");
    assert!(
        text.contains("app my-kiln exists (compute ACTIVE, app RUNNING)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("is up to date ({n} files unchanged)")),
        "{text}"
    );
    let imports = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/2.0/workspace-files/import-file"))
        .count();
    assert_eq!(imports, 0, "nothing written when nothing changed");

    // A changed build: the binary's description and changed parts go up, app.yaml and
    // launch.py do not.
    let changed = kiln_source(b"\0changed build");
    let (r, lines) = deploy_source(&a, e(), &changed).await;
    let third = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    // Bytes appended at the end change only the last compressed part (gzip streams), so the
    // earlier parts stay too.
    let last = parts.last().unwrap().clone();
    assert_eq!(
        third.upload.uploaded,
        ["kiln-binary.json".to_owned(), last],
        "{lines:#?}"
    );
    assert_eq!(third.upload.unchanged, n - 2);

    // A file damaged in the workspace (size differs) is noticed and uploaded again.
    let c = kiln_databricks::Client::new(&kiln_databricks::ConfigLoader::new(e()).load().unwrap())
        .unwrap();
    c.workspace()
        .import_file(
            &format!("/Workspace{root}/launch.py"),
            bytes::Bytes::from_static(b"print('damaged')\n"),
            true,
        )
        .await
        .unwrap();
    let (r, _) = deploy_source(&a, e(), &changed).await;
    assert_eq!(r.unwrap().upload.uploaded, ["launch.py"]);

    // Status names the states, the active deployment and the URL.
    let s = cli::status(
        &StatusArgs {
            name: "my-kiln".into(),
            workspace: WorkspaceArgs { profile: None },
        },
        e(),
    )
    .await
    .unwrap();
    assert!(s.contains("url:          http://127.0.0.1:"), "{s}");
    assert!(s.contains("app state:    RUNNING"), "{s}");
    assert!(s.contains("compute:      ACTIVE"), "{s}");
    assert!(s.contains("SUCCEEDED (App started successfully)"), "{s}");
    assert!(s.contains(&format!("from /Workspace{root}")), "{s}");
    assert!(s.contains("creator:      alice@example.com"), "{s}");

    // Stop: SIGTERM reaches kiln (launch.py exec'd it), which exits by itself, before the
    // platform's SIGKILL after 15 s.
    let c = kiln_databricks::Client::new(&kiln_databricks::ConfigLoader::new(e()).load().unwrap())
        .unwrap();
    c.apps().stop("my-kiln").await.unwrap();
    c.apps()
        .wait_for_compute(
            "my-kiln",
            kiln_databricks::api::apps::ComputeState::Stopped,
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let logs = emu.app_logs("my-kiln").unwrap();
    assert!(logs.contains("Stopping the app: SIGTERM"), "{logs}");
    assert!(logs.contains("The app's process is gone"), "{logs}");
    assert!(
        !logs.contains("SIGKILL"),
        "kiln exited on SIGTERM by itself: {logs}"
    );
}

/// The release binary (`KILN_RELEASE_BIN`) through the CLI's own path: its glibc check, the
/// packaging, the upload and the deployment, which succeeds once `kiln serve` listens.
#[tokio::test]
async fn the_release_binary_deploys_and_serves() {
    let Some(release) = super::release_bin() else {
        return;
    };
    let emu = emulator(1).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = args("kiln-release", &release);
    a.env = vec![("KILN_AGENTS_SETUP".into(), "0".into())];
    let (r, lines) = deploy(&a, env(&emu, emu.user_token(), tmp.path())).await;
    let done = r.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    let text = lines.join("\n");
    assert!(text.contains("SUCCEEDED"), "{text}");
    assert!(
        text.contains(&format!("(kiln {})", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let logs = emu.app_logs("kiln-release").unwrap();
    assert!(logs.contains("Databricks Apps mode"), "{logs}");
    // Through the platform's proxy as the creator: kiln answers its health check.
    let cookie = emu.app_cookie("alice@example.com").unwrap();
    let health = reqwest::Client::new()
        .get(format!("{}/health", done.url))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_app_that_exits_at_start_fails_the_deploy_with_its_message() {
    let emu = emulator(1).await;
    let tmp = tempfile::tempdir().unwrap();
    // A real binary that passes every check, prints a line and exits with status 7.
    let a = args("crashy", &fixture_binary(tmp.path(), 7));
    let (r, lines) = deploy(&a, env(&emu, emu.user_token(), tmp.path())).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(
        m.contains("deployment ") && m.contains(" of app crashy failed: "),
        "{m}\n{lines:#?}"
    );
    // The deployment's status message, as the platform wrote it (exit status, last output).
    assert!(m.contains('7'), "{m}");
    assert!(m.contains(fixture::MARKER.trim()), "{m}");
    assert!(m.contains("the app crashy (created by this run;"), "{m}");
    assert!(m.contains("serving no deployment"), "{m}");
    assert!(
        m.contains("to undo: `databricks apps delete crashy`"),
        "{m}"
    );
}

#[tokio::test]
async fn deploy_errors_say_what_to_do() {
    let emu = emulator(1).await;
    let tmp = tempfile::tempdir().unwrap();
    let bin = fixture_binary(tmp.path(), 0);

    // No credentials at all.
    let (r, _) = deploy(
        &args("kiln-x", &bin),
        Environment::new().with_home(tmp.path()),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let m = e.to_string();
    assert!(m.contains("no usable Databricks credentials"), "{m}");
    assert!(m.contains("DATABRICKS_HOST and DATABRICKS_TOKEN"), "{m}");
    assert!(m.contains("--profile"), "{m}");

    // A refused token, never echoed.
    let (r, _) = deploy(
        &args("kiln-x", &bin),
        env(&emu, "dapi-wrong-0123456789", tmp.path()),
    )
    .await;
    let e = r.unwrap_err();
    let m = e.to_string();
    assert!(m.contains("the workspace refused the credentials"), "{m}");
    assert!(!m.contains("dapi-wrong-0123456789"), "{m}");

    // Invalid name: the rule, before any request.
    emu.clear_requests();
    let alice = || env(&emu, emu.user_token(), tmp.path());
    let (r, _) = deploy(&args("My_Kiln", &bin), alice()).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let m = e.to_string();
    assert!(m.contains("invalid app name \"My_Kiln\""), "{m}");
    assert!(m.contains("2 to 30 characters of lowercase letters"), "{m}");
    assert!(emu.requests().is_empty(), "no request for a bad name");

    // The seeded app `kiln` belongs to alice: bob may not deploy over it.
    let bob_token = emu.create_token(BOB, None).unwrap();
    let bob = || env(&emu, &bob_token, tmp.path());
    let (r, _) = deploy(&args("kiln", &bin), bob()).await;
    let m = r.unwrap_err().to_string();
    assert!(m.contains("the app name kiln is taken"), "{m}");
    assert!(m.contains("belongs to alice@example.com"), "{m}");
    assert!(m.contains("kiln app deploy kiln-2"), "{m}");

    // No permission on the folder: said, with the step and what was left (nothing).
    let mut a = args("bobs-kiln", &bin);
    a.source_code_path = Some("/Workspace/Users/alice@example.com/apps/bobs-kiln".into());
    let (r, _) = deploy(&a, bob()).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(
        m.starts_with("permission denied while reading /Workspace/Users/alice"),
        "{m}"
    );
    assert!(
        m.contains("/Workspace/Users/alice@example.com/apps/bobs-kiln"),
        "{m}"
    );
    assert!(m.contains("no app: bobs-kiln was not created"), "{m}");

    let mut a = args("kiln-rel", &bin);
    a.source_code_path = Some("Users/me/apps".into());
    let (r, _) = deploy(&a, alice()).await;
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("not an absolute workspace path")
    );

    // Status of an app that does not exist.
    let e = cli::status(
        &StatusArgs {
            name: "nothing-here".into(),
            workspace: WorkspaceArgs { profile: None },
        },
        alice(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("create it with `kiln app deploy nothing-here`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_timeout_says_what_was_left_and_how_to_finish_or_undo() {
    // The compute takes an hour to start; the deploy waits one second.
    let emu = emulator(3600).await;
    let tmp = tempfile::tempdir().unwrap();
    let mut a = args("slow-kiln", &fixture_binary(tmp.path(), 0));
    a.timeout_seconds = 1;
    let (r, lines) = deploy(&a, env(&emu, emu.user_token(), tmp.path())).await;
    let e = r.unwrap_err();
    assert_eq!(e.exit_code(), 1);
    let m = e.to_string();
    assert!(
        m.contains("timed out after 1 s while waiting for the compute of slow-kiln to be ACTIVE"),
        "{m}\n{lines:#?}"
    );
    assert!(m.contains("last state STARTING"), "{m}");
    let root = "/Workspace/Users/alice@example.com/apps/slow-kiln";
    assert!(m.contains(&format!("the app source in {root}")), "{m}");
    assert!(
        m.contains("the app slow-kiln (created by this run; compute STARTING"),
        "{m}"
    );
    assert!(m.contains("serving no deployment"), "{m}");
    assert!(
        m.contains("to finish: fix the cause and run `kiln app deploy slow-kiln` again"),
        "{m}"
    );
    assert!(
        m.contains("to undo: `databricks apps delete slow-kiln`,"),
        "{m}"
    );
    assert!(
        m.contains(&format!("`databricks workspace delete --recursive {root}`")),
        "{m}"
    );
}
