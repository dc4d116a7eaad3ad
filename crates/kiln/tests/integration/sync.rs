//! Workspace sync against kiln-emulator with faults on: a 1,000-file repository mirrored byte
//! for byte after each commit (edits, renames, deletions), never over a user's notebook; files
//! over the size limit skipped without failing the rest.

use crate::support::sync::*;
use kiln::sync::{Board, Engine, EngineOptions, Remote, State};
use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction};
use std::path::Path;

fn engine(emu: &kiln_emulator::RunningEmulator, home: &Path) -> Engine {
    let config = kiln_databricks::ConfigLoader::new(kiln_databricks::Environment::new())
        .set(kiln_databricks::Attr::Host, emu.url())
        .set(kiln_databricks::Attr::Token, emu.user_token())
        .load()
        .unwrap();
    let client = kiln_databricks::Client::with_options(
        &config,
        kiln::sync::remote::client_options(std::time::Duration::from_secs(120)),
    )
    .unwrap();
    Engine::new(
        Remote::new(client),
        EngineOptions {
            projects: home.join("projects"),
            kiln_dir: home.join(".kiln"),
            concurrency: 8,
            max_file_bytes: kiln::sync::upload::DEFAULT_MAX_FILE_BYTES,
        },
        Board::default(),
    )
}

/// Path of text file `i` of the big repository.
fn text_path(i: usize) -> String {
    let dir = match i % 6 {
        0 => "src".to_string(),
        1 => format!("src/mod{}", i % 12),
        2 => "docs/guides and notes".to_string(),
        3 => "données/ünïcödé 名前".to_string(),
        4 => format!("deep/a/b/c/d{}", i % 4),
        _ => String::new(),
    };
    let name = format!("file {i} ✓.txt");
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

/// The awkward repository: 1,000 files.
fn big_repo(home: &Path, name: &str) -> std::path::PathBuf {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..960 {
        files.push((
            text_path(i),
            format!("line {i}\n").repeat(1 + i % 7).into_bytes(),
        ));
    }
    for i in 0..34 {
        files.push((
            format!("bin/blob{i}.bin"),
            noise(i as u64 + 1, 1000 + i * 977),
        ));
    }
    files.push(("assets/big.dat".into(), noise(99, 30 << 20)));
    files.push((
        "analysis.ipynb".into(),
        br#"{"cells": [{"cell_type": "code", "source": ["print(1)"]}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#.to_vec(),
    ));
    files.push((
        "jobs/etl.py".into(),
        b"# Databricks notebook source\nprint('stays a file')\n# COMMAND ----------\nx = 1\n"
            .to_vec(),
    ));
    files.push((
        "jobs/query.sql".into(),
        b"-- Databricks notebook source\nselect 1\n".to_vec(),
    ));
    files.push(("run.sh".into(), b"#!/bin/sh\necho hi\n".to_vec()));
    files.push(("empty".into(), Vec::new()));
    assert_eq!(files.len(), 1000);
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    let dir = new_repo(home, name, &refs);
    std::os::unix::fs::symlink("run.sh", dir.join("link")).unwrap();
    std::fs::set_permissions(
        dir.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    git(home, &dir, &["add", "-A"]);
    git(home, &dir, &["commit", "-q", "-m", "link and mode"]);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_files_mirror_byte_for_byte_after_each_commit() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let name = "big project ü";
    let dir = big_repo(home.path(), name);
    // Faults on: a burst of 429s on both upload routes, slow answers, and a reset.
    emu.add_fault(
        Fault::new(
            "/api/2.0/workspace-files/import-file/*",
            FaultAction::RateLimit {
                retry_after_secs: 1,
            },
        )
        .times(40),
    );
    emu.add_fault(
        Fault::new(
            "/api/2.0/workspace/import",
            FaultAction::RateLimit {
                retry_after_secs: 1,
            },
        )
        .times(3),
    );
    emu.add_fault(
        Fault::new(
            "/api/2.0/workspace/mkdirs",
            FaultAction::Latency { millis: 30 },
        )
        .times(20),
    );
    let engine = engine(&emu, home.path());
    let root = engine.remote().project_root(name).await.unwrap();

    engine.sync(name, false).await.unwrap();
    assert_mirrors(&emu, &root, &dir, &[]).await;
    let st = engine.board().get(name).unwrap();
    assert_eq!(st.state, State::Synced);
    assert_eq!(
        st.synced_commit.as_deref(),
        Some(git(home.path(), &dir, &["rev-parse", "HEAD"]).trim())
    );
    let hits = emu.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(hits >= 40, "the faults were hit ({hits})");

    // A notebook the user made in the workspace, in a folder kiln will empty.
    let ws = engine.remote().client().workspace();
    ws.import(&kiln_databricks::api::workspace::Import {
        path: format!("{root}/deep/a/b/c/d0/My notebook"),
        content: bytes::Bytes::from_static(b"print('mine')"),
        format: kiln_databricks::api::workspace::Format::Source,
        language: Some(kiln_databricks::api::workspace::Language::Python),
        overwrite: false,
    })
    .await
    .unwrap();

    // Edits, renames (also into new folders) and deletions, a whole folder included.
    let h = home.path();
    for i in (1..960).step_by(37).filter(|i| i % 6 != 4) {
        std::fs::write(dir.join(text_path(i)), format!("edited {i}\n")).unwrap();
    }
    std::fs::create_dir_all(dir.join("notebooks")).unwrap();
    git(
        h,
        &dir,
        &["mv", "analysis.ipynb", "notebooks/renamed analysis.ipynb"],
    );
    std::fs::create_dir_all(dir.join("binaries")).unwrap();
    git(h, &dir, &["mv", "bin", "binaries/moved"]);
    git(h, &dir, &["rm", "-q", "-r", "deep"]);
    git(h, &dir, &["rm", "-q", "jobs/query.sql"]);
    write(
        &dir.join("jobs/etl.py"),
        b"# Databricks notebook source\nprint('edited, still a file')\n",
    );
    git(h, &dir, &["add", "-A"]);
    git(
        h,
        &dir,
        &["commit", "-q", "-m", "edits, renames, deletions"],
    );
    engine.sync(name, false).await.unwrap();
    assert_mirrors(&emu, &root, &dir, &["deep/a/b/c/d0/My notebook"]).await;
    assert!(
        !emu.workspace_exists(&format!("{root}/deep/a/b/c/d2")),
        "emptied folders removed"
    );

    // Files over the workspace's limit: reported and skipped, the rest still written.
    emu.update_settings(|s| s.max_workspace_file_bytes = 5 << 20);
    write(&dir.join("assets/big.dat"), &noise(7, 6 << 20));
    write(&dir.join("after the big one.txt"), b"still synced\n");
    git(h, &dir, &["add", "-A"]);
    git(h, &dir, &["commit", "-q", "-m", "too big"]);
    engine.sync(name, false).await.unwrap();
    let st = engine.board().get(name).unwrap();
    assert_eq!(st.state, State::Synced);
    assert_eq!(st.skipped.len(), 1, "{:?}", st.skipped);
    assert_eq!(st.skipped[0].path, "assets/big.dat");
    assert!(
        st.skipped[0].reason.contains("too large"),
        "{}",
        st.skipped[0].reason
    );
    assert_eq!(
        emu.workspace_file(&format!("{root}/after the big one.txt"))
            .unwrap(),
        b"still synced\n"
    );
    assert!(
        !emu.workspace_exists(&format!("{root}/assets/big.dat")),
        "no stale copy left behind"
    );
}

/// A hook script at `path` that appends `marker` to `log` and exits with `code`.
fn marker_hook(path: &Path, log: &Path, marker: &str, code: i32) {
    write(
        path,
        format!(
            "#!/bin/sh\necho {marker} \"$@\" >> '{}'\nexit {code}\n",
            log.display()
        )
        .as_bytes(),
    );
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The user already has a global `core.hooksPath`: kiln's hooks (the one owner of that
/// setting) take its place and chain to it, so the user's hooks still run, with their
/// arguments and exit status, and a commit also notifies kiln; installing again (a restart)
/// keeps the chain. (Configuring git for the agents never sets it: see the agents goldens.)
#[test]
fn a_global_hooks_path_of_the_users_keeps_running_behind_kiln_hooks() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let log = h.join("hooks.log");
    let mine = h.join("my hooks");
    marker_hook(&mine.join("pre-commit"), &log, "global-pre", 0);
    marker_hook(&mine.join("post-checkout"), &log, "global-checkout", 0);
    write(
        &h.join(".gitconfig"),
        b"[core]\n\thooksPath = ~/my hooks\n[alias]\n\tst = status\n",
    );
    let dir = new_repo(h, "p", &[("a.txt", b"a\n")]);
    // Without kiln, git runs the global folder, not the repository's own hooks.
    marker_hook(&dir.join(".git/hooks/pre-commit"), &log, "repo-pre", 0);
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("global-pre")
    );
    std::fs::remove_file(&log).unwrap();

    let kiln_dir = h.join(".kiln");
    kiln::sync::hooks::install(h, &kiln_dir).unwrap();
    kiln::sync::hooks::install(h, &kiln_dir).unwrap(); // a restart: the chain survives
    let config = std::fs::read_to_string(h.join(".gitconfig")).unwrap();
    assert!(
        config.contains(&format!(
            "hooksPath = {}",
            h.join(".kiln/git-hooks").display()
        )),
        "{config}"
    );
    assert!(
        config.contains("st = status"),
        "the rest of the file kept: {config}"
    );

    write(&dir.join("b.txt"), b"b\n");
    git(h, &dir, &["add", "-A"]);
    git(h, &dir, &["commit", "-q", "-m", "second"]);
    git(h, &dir, &["checkout", "-q", "-b", "side"]);
    let ran = std::fs::read_to_string(&log).unwrap();
    assert!(ran.contains("global-pre"), "{ran}");
    assert!(
        !ran.contains("repo-pre"),
        "git would not have run it either: {ran}"
    );
    let head = git(h, &dir, &["rev-parse", "HEAD"]);
    assert!(
        ran.contains(&format!(
            "global-checkout {} {} 1",
            head.trim(),
            head.trim()
        )),
        "arguments passed on: {ran}"
    );
    let notices = kiln::sync::hooks::drain_inbox(&kiln_dir);
    assert_eq!(notices, vec![dir.clone()], "the commit notified kiln");

    // The user's hook still decides: a failing pre-commit stops the commit.
    marker_hook(&mine.join("pre-commit"), &log, "global-pre-refuses", 1);
    write(&dir.join("c.txt"), b"c\n");
    git(h, &dir, &["add", "-A"]);
    let out = git_cmd(h, &dir)
        .args(["commit", "-q", "-m", "refused"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the user's pre-commit refused it");
    assert_eq!(git(h, &dir, &["rev-parse", "HEAD"]), head);
    assert!(kiln::sync::hooks::drain_inbox(&kiln_dir).is_empty());
}

/// The file names in a workspace folder, sorted.
async fn listed(engine: &Engine, folder: &str) -> Vec<String> {
    let mut names: Vec<String> = engine
        .remote()
        .client()
        .workspace()
        .list(folder)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.path.rsplit('/').next().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The bundle parts the workspace's manifest names.
async fn named_parts(engine: &Engine, name: &str) -> Vec<String> {
    let bytes = engine.remote().manifest(name).await.unwrap().unwrap();
    let m = kiln::sync::manifest::Manifest::parse(&bytes, name).unwrap();
    m.history
        .bundles
        .iter()
        .flat_map(|b| (0..b.parts).map(move |k| format!("{}.{k}", b.name)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_parts_no_manifest_names_are_deleted_and_the_history_still_restores() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let name = "tidy";
    let dir = new_repo(h, name, &[("a.txt", b"0\n")]);
    let engine = engine(&emu, h);
    engine.sync(name, false).await.unwrap();
    let bundles = format!(
        "{}/bundles",
        engine.remote().history_root(name).await.unwrap()
    );
    // What a kiln killed while uploading bundle 1 in three parts leaves (the next attempt
    // writes it in one), a stray part of bundle 0, a part newer than the manifest knows of,
    // and a file of the user's.
    let ws = engine.remote().client().workspace();
    for (file, body) in [
        ("000001.bundle.0", "cut short"),
        ("000001.bundle.1", "cut short"),
        ("000001.bundle.2", "cut short"),
        ("000000.bundle.9", "stray"),
        ("999999.bundle.0", "newer"),
        ("notes.txt", "mine"),
    ] {
        ws.import_file(&format!("{bundles}/{file}"), body.into(), true)
            .await
            .unwrap();
    }
    let commit = |i: usize| {
        write(&dir.join("a.txt"), format!("{i}\n").as_bytes());
        git(h, &dir, &["commit", "-q", "-am", &format!("commit {i}")]);
    };
    commit(1);
    engine.sync(name, false).await.unwrap();
    let named = named_parts(&engine, name).await;
    assert_eq!(named, ["000000.bundle.0", "000001.bundle.0"]);
    assert_eq!(
        listed(&engine, &bundles).await,
        [
            "000000.bundle.0",
            "000001.bundle.0",
            "999999.bundle.0",
            "notes.txt"
        ]
    );
    assert_ne!(
        emu.workspace_file(&format!("{bundles}/000001.bundle.0")),
        Some(b"cut short".to_vec()),
        "bundle 1 is the new upload"
    );

    // Past the most bundles kept: one full bundle replaces the old ones, which are deleted.
    for i in 2..2 + kiln::sync::history::MAX_BUNDLES {
        commit(i);
        engine.sync(name, false).await.unwrap();
    }
    let named = named_parts(&engine, name).await;
    assert!(
        named.len() < kiln::sync::history::MAX_BUNDLES,
        "compacted: {named:?}"
    );
    let mut expected = named.clone();
    expected.extend(["999999.bundle.0".to_owned(), "notes.txt".to_owned()]);
    expected.sort();
    assert_eq!(listed(&engine, &bundles).await, expected);

    // What is left restores the whole history elsewhere.
    let other = tempfile::tempdir().unwrap();
    let elsewhere = self::engine(&emu, other.path());
    elsewhere.restore(name).await.unwrap();
    let restored = other.path().join("projects").join(name);
    assert_eq!(
        git(other.path(), &restored, &["rev-parse", "HEAD"]),
        git(h, &dir, &["rev-parse", "HEAD"])
    );
    assert_eq!(
        git(other.path(), &restored, &["rev-list", "--count", "HEAD"]).trim(),
        (2 + kiln::sync::history::MAX_BUNDLES).to_string()
    );
}
