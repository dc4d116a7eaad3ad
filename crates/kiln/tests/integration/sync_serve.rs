//! Sync inside `kiln serve` (in-process server, kiln-emulator, faults on): a commit from a
//! process group killed right after still syncs, through the git hook that chains to the
//! repository's own hooks; a 429 storm and a 2-minute outage show in `/api/sync` and
//! `kiln sync status` and end with nothing lost; a restart with an empty home restores the
//! projects with their history and leaves a local project with uncommitted changes alone; no
//! token in any hook, git config, log line or synced file.

use crate::support::TestServer;
use crate::support::sync::*;
use kiln::credentials::ConfigSource;
use kiln_databricks::{Secret, StaticToken};
use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction, RunningEmulator};
use serde_json::Value;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Every log line of this test process (kiln runs in-process).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,hyper=info,reqwest=info,h2=info")
            .with_writer(move || Capture(w.clone()))
            .try_init();
        buf
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);
impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn server(emu: &RunningEmulator, prepare: impl FnOnce(&Path)) -> TestServer {
    let _ = logs();
    let token = emu.user_token().to_owned();
    let host = emu.url().to_owned();
    TestServer::with(|opts| {
        let home = opts.term.home.clone().unwrap();
        prepare(&home);
        opts.credentials.host = Some(host);
        opts.credentials.broker = false;
        opts.credentials.config_source = Some(ConfigSource {
            source: Arc::new(StaticToken::new(Secret::new(token))),
            description: "test token".into(),
        });
        let mut s = kiln::sync::SyncOptions::new(home);
        s.inbox_interval = Duration::from_millis(100);
        s.scan_interval = Duration::from_secs(600); // commits must arrive through the hook
        s.request_budget = Duration::from_secs(4);
        s.backoff_first = Duration::from_millis(500);
        s.backoff_max = Duration::from_secs(2);
        opts.sync = Some(s);
    })
    .await
}

async fn api(server: &TestServer) -> Value {
    server
        .req(reqwest::Method::GET, "/api/sync")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn project<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["projects"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

async fn wait_synced(server: &TestServer, name: &str, commit: &str) {
    wait_until(&format!("{name} synced at {commit}"), || async {
        let doc = api(server).await;
        project(&doc, name).is_some_and(|p| p["state"] == "synced" && p["synced_commit"] == commit)
    })
    .await;
}

fn head(home: &Path, dir: &Path) -> String {
    git(home, dir, &["rev-parse", "HEAD"]).trim().to_owned()
}

/// Commits in a new process group that kills itself (SIGKILL to the group) right after.
fn commit_then_kill_group(home: &Path, dir: &Path, message: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git add -A && git commit -q -m '{message}' && kill -KILL 0"
        ))
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_COMMITTER_NAME", "Ada")
        .env("GIT_COMMITTER_EMAIL", "ada@example.com")
        .process_group(0)
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "the group was killed");
}

async fn hooks_ready(home: &Path) {
    wait_until("kiln's hooks installed", || async {
        home.join(".kiln/git-hooks/post-commit").exists()
            && std::fs::read_to_string(home.join(".gitconfig"))
                .is_ok_and(|c| c.contains(".kiln/git-hooks"))
    })
    .await;
}

fn kiln_sync_status(home: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["sync", "status"])
        .env("HOME", home)
        .env_remove("DATABRICKS_HOST")
        .env_remove("DATABRICKS_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_from_a_killed_group_sync_through_storms_and_outages() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let server = server(&emu, |_| {}).await;
    let home = server.home.path().to_owned();
    hooks_ready(&home).await;
    let root = format!("/Workspace/Users/{}/projects/demo app", emu.user_email());

    // A repository created after kiln started, with hooks of its own (they must keep running).
    let dir = home.join("projects/demo app");
    std::fs::create_dir_all(&dir).unwrap();
    git(&home, &dir, &["init", "-q", "-b", "main"]);
    for (hook, marker) in [("pre-commit", "pre"), ("post-commit", "post")] {
        let p = dir.join(".git/hooks").join(hook);
        write(
            &p,
            format!(
                "#!/bin/sh\necho ran >> \"$(git rev-parse --show-toplevel)/../{marker}.marker\"\n"
            )
            .as_bytes(),
        );
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    write(&dir.join("src/main.rs"), b"fn main() {}\n");
    write(&dir.join("data/blob.bin"), &noise(3, 100_000));
    commit_then_kill_group(&home, &dir, "first");
    wait_synced(&server, "demo app", &head(&home, &dir)).await;
    assert_mirrors(&emu, &root, &dir, &[]).await;
    assert!(
        home.join("projects/pre.marker").exists() && home.join("projects/post.marker").exists(),
        "the repository's own hooks ran"
    );

    // A 429 storm: the sync is visibly in progress, then complete.
    emu.add_fault(
        Fault::new(
            "/api/2.0/workspace-files/import-file/*",
            FaultAction::RateLimit {
                retry_after_secs: 1,
            },
        )
        .times(24),
    );
    for i in 0..40 {
        write(
            &dir.join(format!("storm/f{i}.txt")),
            format!("{i}\n").as_bytes(),
        );
    }
    commit_then_kill_group(&home, &dir, "storm");
    let storm_head = head(&home, &dir);
    let seen = Mutex::new(std::collections::BTreeSet::new());
    wait_until("storm synced", || async {
        let doc = api(&server).await;
        let p = project(&doc, "demo app").unwrap();
        seen.lock()
            .unwrap()
            .insert(p["state"].as_str().unwrap().to_owned());
        p["state"] == "synced" && p["synced_commit"] == storm_head.as_str()
    })
    .await;
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.contains("syncing") || seen.contains("pending"),
        "{seen:?}"
    );
    assert_mirrors(&emu, &root, &dir, &[]).await;

    // A 2-minute outage (emulator clock): failed with the reason, in the API and the CLI.
    emu.add_fault(Fault::new(
        "/api/2.0/workspace*",
        FaultAction::Outage {
            start_in_secs: 0,
            duration_secs: 120,
        },
    ));
    write(
        &dir.join("src/main.rs"),
        b"fn main() { println!(\"after the outage\"); }\n",
    );
    std::fs::remove_file(dir.join("storm/f3.txt")).unwrap();
    commit_then_kill_group(&home, &dir, "during the outage");
    let outage_head = head(&home, &dir);
    wait_until("failed state", || async {
        let doc = api(&server).await;
        project(&doc, "demo app").is_some_and(|p| {
            p["state"] == "failed" && p["message"].as_str().unwrap_or("").contains("unavailable")
        })
    })
    .await;
    let cli = kiln_sync_status(&home);
    assert!(
        cli.contains("demo app") && cli.contains("failed") && cli.contains("unavailable"),
        "{cli}"
    );
    emu.advance(Duration::from_secs(121));
    let r = server
        .req(reqwest::Method::POST, "/api/sync/retry")
        .json(&serde_json::json!({"name": "demo app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_synced(&server, "demo app", &outage_head).await;
    assert_mirrors(&emu, &root, &dir, &[]).await;
    let cli = kiln_sync_status(&home);
    assert!(
        cli.contains("synced") && cli.contains(&outage_head[..12]),
        "{cli}"
    );
    let bad = server
        .req(reqwest::Method::POST, "/api/sync/retry")
        .json(&serde_json::json!({"name": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    server.stop().await;
}

/// Every file below `dir`, recursively, except paths containing `skip`.
fn all_files(dir: &Path, skip: &str, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.to_string_lossy().contains(skip) {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            all_files(&p, skip, out);
        } else if e.file_type().unwrap().is_file() {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_an_empty_home_restores_history_and_spares_local_changes() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let token = emu.user_token().to_owned();
    let first = server(&emu, |_| {}).await;
    let home = first.home.path().to_owned();
    hooks_ready(&home).await;

    // Project one: branches, a tag, an executable, a symlink, a remote URL with a token in it.
    let one = new_repo(
        &home,
        "one",
        &[("run.sh", b"#!/bin/sh\necho one\n"), ("a b/ü.txt", b"x\n")],
    );
    std::fs::set_permissions(
        one.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("run.sh", one.join("link")).unwrap();
    git(
        &home,
        &one,
        &[
            "remote",
            "add",
            "origin",
            &format!("https://ada:{token}@git.example.com/one.git"),
        ],
    );
    git(&home, &one, &["add", "-A"]);
    git(&home, &one, &["commit", "-q", "-m", "second"]);
    git(&home, &one, &["branch", "feature"]);
    git(&home, &one, &["tag", "v1"]);
    write(&one.join("more.txt"), b"more\n");
    commit_then_kill_group(&home, &one, "third");
    // Project two: several small commits (incremental bundles).
    let two = new_repo(&home, "two", &[("README", b"two\n")]);
    for i in 0..3 {
        write(&two.join(format!("n{i}")), format!("{i}\n").as_bytes());
        commit_then_kill_group(&home, &two, &format!("c{i}"));
    }
    // Project three: synced, then it will exist locally with other, uncommitted work.
    let three = new_repo(&home, "three", &[("keep.txt", b"workspace copy\n")]);
    write(&three.join("x"), b"x\n");
    commit_then_kill_group(&home, &three, "three");
    for (name, dir) in [("one", &one), ("two", &two), ("three", &three)] {
        wait_synced(&first, name, &head(&home, dir)).await;
    }
    let log_of =
        |h: &Path, d: &Path| git(h, d, &["log", "--all", "--format=%H %P %an %ae %at %s %D"]);
    let before: Vec<(String, String, std::collections::BTreeMap<String, Vec<u8>>)> = {
        let mut v = Vec::new();
        for d in [&one, &two] {
            v.push((
                log_of(&home, d),
                git(&home, d, &["ls-files", "-s"]),
                head_tree(d).await,
            ));
        }
        v
    };

    // No token in a hook, the git config, a synced file or a log line.
    let mut files = Vec::new();
    all_files(&home.join(".kiln"), "\u{0}", &mut files);
    files.push(home.join(".gitconfig"));
    for f in &files {
        let text = std::fs::read(f).unwrap();
        assert!(
            !String::from_utf8_lossy(&text).contains(&token),
            "token in {}",
            f.display()
        );
    }
    for (path, _, content) in emu.workspace_tree(&format!("/Users/{}/projects", emu.user_email())) {
        assert!(
            !String::from_utf8_lossy(&content).contains(&token),
            "token in workspace file {path}"
        );
    }
    first.stop().await;

    // A new machine: empty home, except "three" which the user started again with local work.
    let second = server(&emu, |h| {
        let dir = new_repo(h, "three", &[("keep.txt", b"local work\n")]);
        write(&dir.join("keep.txt"), b"uncommitted local work\n");
    })
    .await;
    let home2 = second.home.path().to_owned();
    for name in ["one", "two"] {
        wait_until(&format!("{name} restored"), || async {
            let doc = api(&second).await;
            project(&doc, name).is_some_and(|p| p["state"] == "synced")
        })
        .await;
    }
    for (i, name) in ["one", "two"].iter().enumerate() {
        let d = home2.join("projects").join(name);
        assert_eq!(
            log_of(&home2, &d),
            before[i].0,
            "{name}: same commits, refs and tags"
        );
        assert_eq!(
            git(&home2, &d, &["ls-files", "-s"]),
            before[i].1,
            "{name}: same modes and blobs"
        );
        assert_eq!(
            git(&home2, &d, &["status", "--porcelain"]),
            "",
            "{name}: clean"
        );
        assert_eq!(head_tree(&d).await, before[i].2);
    }
    let d1 = home2.join("projects/one");
    assert_eq!(std::fs::read(d1.join("a b/ü.txt")).unwrap(), b"x\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d1.join("run.sh")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o111, 0o111, "executable bit from git");
    assert_eq!(
        std::fs::read_link(d1.join("link")).unwrap(),
        Path::new("run.sh")
    );
    assert_eq!(
        git(&home2, &d1, &["symbolic-ref", "HEAD"]).trim(),
        "refs/heads/main"
    );
    assert_eq!(
        git(&home2, &d1, &["remote", "get-url", "origin"]).trim(),
        "https://git.example.com/one.git"
    );

    // "three" was left alone, and the user is told.
    wait_until("three reported", || async {
        let doc = api(&second).await;
        project(&doc, "three").is_some_and(|p| p["state"] == "conflict")
    })
    .await;
    let doc = api(&second).await;
    let msg = project(&doc, "three").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        msg.contains("uncommitted") || msg.contains("history"),
        "{msg}"
    );
    let d3 = home2.join("projects/three");
    assert_eq!(
        std::fs::read(d3.join("keep.txt")).unwrap(),
        b"uncommitted local work\n"
    );
    assert!(!git(&home2, &d3, &["status", "--porcelain"]).is_empty());
    let ws3 = format!("/Users/{}/projects/three/keep.txt", emu.user_email());
    assert_eq!(
        emu.workspace_file(&ws3).unwrap(),
        b"workspace copy\n",
        "workspace copy not overwritten"
    );
    assert!(kiln_sync_status(&home2).contains("conflict"));

    // The restored project keeps syncing incrementally.
    write(&d1.join("after restore.txt"), b"new\n");
    commit_then_kill_group(&home2, &d1, "after restore");
    wait_synced(&second, "one", &head(&home2, &d1)).await;
    assert_mirrors(
        &emu,
        &format!("/Users/{}/projects/one", emu.user_email()),
        &d1,
        &[],
    )
    .await;
    second.stop().await;

    let captured = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(captured.contains("synced"), "logs were captured");
    assert!(!captured.contains(&token), "a log line holds the token");
}
