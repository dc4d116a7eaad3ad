//! `kiln sync now|restore|status`. While `kiln serve` runs for this HOME, the commands ask it
//! (through the loopback control listener, see `control.rs`), so its status, queue and retries
//! stay the one truth. Without a running `kiln serve` they do the work in this process against
//! the workspace of the Databricks configuration (environment or `--profile`).

use super::control::{INFO_FILE, KEY_FILE, RunBody};
use super::engine::{Engine, short};
use super::remote::{Remote, client_options};
use super::service::SyncOptions;
use super::status::Board;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The long help of `kiln sync`.
pub const LONG_ABOUT: &str = "Sync git projects under ~/projects to the Databricks workspace, and \
restore them.\n\nEvery git repository directly under ~/projects is copied to \
/Workspace/Users/<you>/projects/<name>/ after each commit (by kiln serve, through a git hook), \
with its history, so it can be restored after the machine is replaced.\n\n\
Examples:\n  kiln sync status\n  kiln sync now myproject\n  kiln sync restore myproject\n\n\
While kiln serve runs, these commands ask it; otherwise they use the Databricks configuration \
(DATABRICKS_HOST/DATABRICKS_TOKEN or --profile). See docs/sync.md.";

/// Arguments of `kiln sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: SyncCommand,
    /// Databricks configuration profile (used when no kiln serve runs).
    #[arg(long, global = true, env = "DATABRICKS_CONFIG_PROFILE")]
    pub profile: Option<String>,
    /// The projects folder (default ~/projects).
    #[arg(long, global = true, env = "KILN_PROJECTS_DIR")]
    pub projects_dir: Option<PathBuf>,
}

/// `kiln sync` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Sync now: one project, or every project (`kiln sync now [NAME]`).
    Now {
        /// Project name (a folder under ~/projects); all when omitted.
        name: Option<String>,
        /// Replace a workspace copy that kiln has no record of syncing from this machine.
        #[arg(long)]
        force: bool,
    },
    /// Restore projects that are in the workspace but missing under ~/projects, with their
    /// git history (`kiln sync restore [NAME]`). Never touches an existing folder.
    Restore {
        /// Project name; every missing project when omitted.
        name: Option<String>,
    },
    /// Per project: state, last synced commit and time, what is pending, the last error.
    Status {
        /// Print the JSON document of GET /api/sync.
        #[arg(long)]
        json: bool,
    },
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Asks the running kiln serve; `None` when none answers for this HOME.
async fn ask(
    kiln_dir: &Path,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Option<Result<Value, String>> {
    let info: Value =
        serde_json::from_slice(&std::fs::read(kiln_dir.join(INFO_FILE)).ok()?).ok()?;
    let key = std::fs::read_to_string(kiln_dir.join(KEY_FILE)).ok()?;
    let addr: std::net::SocketAddr = info["url"]
        .as_str()?
        .strip_prefix("http://")?
        .parse()
        .ok()?;
    if !addr.ip().is_loopback() {
        return None;
    }
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
            .await
            .ok()?
            .ok()?;
    let body = body.unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        key.trim(),
        body.len()
    );
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut out = Vec::new();
    if let Err(e) = stream.read_to_end(&mut out).await {
        return Some(Err(format!("kiln serve stopped answering: {e}")));
    }
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let ok = head.split(' ').nth(1).is_some_and(|c| c.starts_with('2'));
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    Some(if ok {
        Ok(v)
    } else {
        Err(v["message"]
            .as_str()
            .unwrap_or("kiln serve refused the request")
            .to_owned())
    })
}

fn time(ms: Option<i64>) -> String {
    match ms.and_then(|m| u64::try_from(m).ok()) {
        Some(m) => crate::time::rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(m)),
        None => "-".into(),
    }
}

fn print_status(doc: &Value) {
    if let Some(note) = doc["note"].as_str() {
        println!("note: {note}");
    }
    if let Some(ws) = doc["workspace"].as_str() {
        println!("workspace: {ws}");
    }
    let list = doc["projects"].as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no projects under ~/projects");
        return;
    }
    println!(
        "{:<24} {:<10} {:<13} {:<21} DETAILS",
        "PROJECT", "STATE", "SYNCED", "AT"
    );
    for p in list {
        let state = p["state"].as_str().unwrap_or("?");
        let synced = p["synced_commit"]
            .as_str()
            .map(short)
            .unwrap_or_else(|| "-".into());
        let mut details = Vec::new();
        if let (Some(h), Some(s)) = (p["head"].as_str(), p["synced_commit"].as_str())
            && h != s
        {
            details.push(format!("pending {}", short(h)));
        }
        if state == "syncing" {
            details.push(format!("{}/{} files", p["done"], p["total"]));
        }
        if let Some(n) = p["next_retry_ms"].as_i64() {
            details.push(format!("retry at {}", time(Some(n))));
        }
        if let Some(m) = p["message"].as_str() {
            details.push(m.to_owned());
        }
        let skipped = p["skipped"].as_array().map_or(0, Vec::len);
        if skipped > 0 {
            details.push(format!("{skipped} file(s) skipped"));
            for s in p["skipped"].as_array().into_iter().flatten() {
                details.push(format!(
                    "\n    skipped {}: {}",
                    s["path"].as_str().unwrap_or(""),
                    s["reason"].as_str().unwrap_or("")
                ));
            }
        }
        println!(
            "{:<24} {:<10} {:<13} {:<21} {}",
            p["name"].as_str().unwrap_or("?"),
            state,
            synced,
            time(p["synced_at_ms"].as_i64()),
            details.join("; ")
        );
    }
}

fn local_engine(args: &SyncArgs, home: &Path) -> Result<Engine, String> {
    let mut loader =
        kiln_databricks::ConfigLoader::new(kiln_databricks::Environment::from_process());
    if let Some(p) = &args.profile {
        loader = loader.set_from(kiln_databricks::Attr::Profile, p, "--profile");
    }
    let config = loader.load().map_err(|e| e.to_string())?;
    let client =
        kiln_databricks::Client::with_options(&config, client_options(Duration::from_secs(300)))
            .map_err(|e| e.to_string())?;
    let mut opts = SyncOptions::new(home.to_owned());
    if let Some(p) = &args.projects_dir {
        opts.projects.clone_from(p);
    }
    Ok(Engine::new(
        Remote::new(client),
        opts.engine(),
        Board::default(),
    ))
}

async fn run_inner(args: SyncArgs) -> Result<bool, String> {
    let home = home();
    let kiln_dir = home.join(".kiln");
    let (action, names, force) = match &args.command {
        SyncCommand::Status { json } => {
            if let Some(r) = ask(&kiln_dir, "GET", "/status", None).await {
                let doc = r?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
                } else {
                    print_status(&doc);
                }
                return Ok(true);
            }
            let engine = local_engine(&args, &home);
            let board = Board::default();
            let store = super::manifest::Store::new(&kiln_dir);
            let projects = args
                .projects_dir
                .clone()
                .unwrap_or_else(|| home.join("projects"));
            let names = match &engine {
                Ok(e) => e.local_projects(),
                Err(_) => Vec::new(),
            };
            for name in names {
                let m = store.load(&name);
                let head = super::git::head(&projects.join(&name)).await.ok().flatten();
                board.update(&name, |s| {
                    s.head.clone_from(&head);
                    s.synced_commit = m.as_ref().and_then(|m| m.commit.clone());
                    s.synced_at_ms = m.as_ref().and_then(|m| m.synced_at_ms);
                    s.state = if head.is_some() && head == s.synced_commit {
                        super::status::State::Synced
                    } else {
                        super::status::State::Pending
                    };
                });
            }
            let doc = serde_json::json!({"enabled": true, "note": "kiln serve is not running here: nothing syncs until it runs or `kiln sync now`", "projects": board.all()});
            if *json {
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                print_status(&doc);
            }
            return Ok(true);
        }
        SyncCommand::Now { name, force } => ("sync", name.clone(), *force),
        SyncCommand::Restore { name } => ("restore", name.clone(), false),
    };
    let names: Vec<String> = names.into_iter().collect();
    let body = serde_json::to_string(&RunBody {
        action: action.into(),
        names: names.clone(),
        force,
    })
    .unwrap_or_default();
    let results: Vec<(String, Result<(), String>)> =
        match ask(&kiln_dir, "POST", "/run", Some(body)).await {
            Some(r) => {
                let doc = r?;
                doc["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| {
                        let name = r["name"].as_str().unwrap_or_default().to_owned();
                        if r["ok"].as_bool() == Some(true) {
                            (name, Ok(()))
                        } else {
                            (
                                name,
                                Err(r["message"].as_str().unwrap_or("failed").to_owned()),
                            )
                        }
                    })
                    .collect()
            }
            None => {
                let engine = local_engine(&args, &home)?;
                let targets = if !names.is_empty() {
                    names
                } else if action == "sync" {
                    engine.local_projects()
                } else {
                    engine
                        .remote_projects()
                        .await
                        .map_err(|e| e.to_string())?
                        .into_iter()
                        .filter(|n| !engine.projects().join(n).exists())
                        .collect()
                };
                let mut out = Vec::new();
                for name in targets {
                    let r = if action == "sync" {
                        engine.sync(&name, force).await
                    } else {
                        engine.restore(&name).await
                    };
                    out.push((name, r.map_err(|e| e.to_string())));
                }
                out
            }
        };
    if results.is_empty() {
        println!("nothing to {action}");
    }
    let mut ok = true;
    for (name, r) in results {
        match r {
            Ok(()) => println!(
                "{name}: {}",
                if action == "sync" {
                    "synced"
                } else {
                    "restored"
                }
            ),
            Err(e) => {
                ok = false;
                eprintln!("{name}: {e}");
            }
        }
    }
    Ok(ok)
}

/// Runs `kiln sync`.
pub async fn run(args: SyncArgs) -> ExitCode {
    match run_inner(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kiln sync: {e}");
            ExitCode::from(2)
        }
    }
}
