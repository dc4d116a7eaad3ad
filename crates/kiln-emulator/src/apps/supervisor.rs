//! Runs a deployment's snapshot as a real child process and keeps the app's states in step
//! with it. The previous run is stopped first (SIGTERM, SIGKILL after the grace period), the
//! snapshot is written to `<root>/<app>/src/<deployment>-<run>`, the command is started there
//! (no shell, `$DATABRICKS_APP_PORT` substituted) with the Apps environment, and the deployment
//! succeeds once the port answers or fails when the process exits first. Afterwards an exit that
//! nobody asked for is a crash.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use rustix::process::Signal;
use tokio_util::sync::CancellationToken;

use super::logs::AppLog;
use super::model::{Compute, DeployState, RunState};
use super::process::{self, cleanup, describe, terminate};
use super::runtime::{LaunchSpec, Run};
use crate::world::Shared;

/// How often a starting app's port is tried.
const READY_POLL: Duration = Duration::from_millis(100);
/// How often a running app's descendants are noted (a scan of `/proc`).
const TRACK_EVERY: Duration = Duration::from_secs(2);

/// Why a run starts.
#[derive(Debug, Clone)]
pub enum Start {
    /// A new deployment (its id).
    Deploy(String),
    /// The compute started again: the active deployment runs anew.
    Restart,
}

/// Starts the app's process for `spec`, replacing the current one.
pub fn launch(shared: &Arc<Shared>, app: &str, start: Start, spec: Arc<LaunchSpec>) {
    let rt = &shared.runtime;
    let run = Run {
        id: rt.next_run.fetch_add(1, Ordering::Relaxed),
        stop: CancellationToken::new(),
        done: CancellationToken::new(),
        info: Arc::default(),
    };
    let previous = {
        let mut slots = rt.slots();
        let slot = slots.entry(app.to_string()).or_default();
        slot.run.replace(run.clone())
    };
    if let Some(p) = &previous {
        p.stop.cancel();
    }
    set_run_state(shared, app, RunState::Starting);
    let shared = shared.clone();
    let app = app.to_string();
    tokio::spawn(async move {
        let _done = run.done.clone().drop_guard();
        if let Some(p) = previous {
            p.done.cancelled().await;
        }
        supervise(&shared, &app, &run, &start, &spec).await;
        let mut slots = shared.runtime.slots();
        if let Some(slot) = slots.get_mut(&app)
            && slot.run.as_ref().is_some_and(|r| r.id == run.id)
        {
            slot.run = None;
        }
    });
}

/// After `start` on a stopped app: once the compute is `ACTIVE`, runs the active deployment
/// again (the compute clock decides when).
pub fn restart_when_active(shared: &Arc<Shared>, app: &str) {
    let shared = shared.clone();
    let app = app.to_string();
    tokio::spawn(async move {
        loop {
            if shared.runtime.cancel.is_cancelled() {
                return;
            }
            let spec = {
                let w = shared.world();
                let Some(a) = w.apps.by_name.get(&app) else {
                    return;
                };
                match a.compute {
                    Compute::Starting => None,
                    Compute::Active => match a.active().and_then(|d| d.spec.clone()) {
                        Some(s) => Some(s),
                        None => return,
                    },
                    _ => return,
                }
            };
            if let Some(spec) = spec {
                launch(&shared, &app, Start::Restart, spec);
                return;
            }
            tokio::time::sleep(READY_POLL).await;
        }
    });
}

/// How a run ended.
enum Ended {
    /// Stopped on request (stop, redeploy, delete, shutdown).
    Stopped,
    /// Never answered: the message says why.
    StartFailed(String),
    /// Answered, then exited on its own.
    Crashed(String),
}

async fn supervise(shared: &Arc<Shared>, app: &str, run: &Run, start: &Start, spec: &LaunchSpec) {
    let log = shared.runtime.log(app);
    let ended = run_once(shared, app, run, start, spec, &log).await;
    if record_end(shared, app, run, start, ended) {
        // The compute is gone: the next start gets a fresh HOME.
        let home = shared.runtime.app_dir(app).join("home");
        let _ = tokio::fs::remove_dir_all(home).await;
    }
}

/// Updates the app and deployment states after a run; `true` when the compute stopped.
fn record_end(shared: &Shared, app: &str, run: &Run, start: &Start, ended: Ended) -> bool {
    let deployment = match start {
        Start::Deploy(id) => Some(id.as_str()),
        Start::Restart => None,
    };
    let current = shared
        .runtime
        .slots()
        .get(app)
        .and_then(|s| s.run.as_ref().map(|r| r.id))
        == Some(run.id);
    let now = shared.now_ms();
    let mut w = shared.world();
    let Some(a) = w.apps.by_name.get_mut(app) else {
        return false;
    };
    let pending = deployment.and_then(|id| {
        a.deployments
            .iter()
            .position(|d| d.id == id && d.state == DeployState::InProgress)
    });
    let mut finish = |state: DeployState, message: String| {
        if let Some(d) = pending.and_then(|i| a.deployments.get_mut(i)) {
            d.state = state;
            d.message = message;
            d.update_ms = now;
        }
    };
    match ended {
        Ended::Stopped => {
            finish(
                DeployState::Cancelled,
                "Deployment was cancelled because the app was stopped.".into(),
            );
            if current {
                a.run = RunState::Idle;
                if a.compute == Compute::Stopping && a.compute_next.is_none() {
                    a.compute = Compute::Stopped;
                    a.update_ms = now;
                    return true;
                }
            }
        }
        Ended::StartFailed(msg) => {
            if pending.is_some() {
                finish(DeployState::Failed, msg);
                if current {
                    a.run = RunState::Idle;
                }
            } else if current {
                a.run = RunState::Crashed(msg);
            }
        }
        Ended::Crashed(msg) => {
            if current {
                a.run = RunState::Crashed(msg);
            }
        }
    }
    false
}

fn set_run_state(shared: &Shared, app: &str, state: RunState) {
    if let Some(a) = shared.world().apps.by_name.get_mut(app) {
        a.run = state;
    }
}

/// Starts the process and supervises it until it is gone.
async fn run_once(
    shared: &Arc<Shared>,
    app: &str,
    run: &Run,
    start: &Start,
    spec: &LaunchSpec,
    log: &Arc<AppLog>,
) -> Ended {
    if run.stop.is_cancelled() {
        return Ended::Stopped;
    }
    let label = match start {
        Start::Deploy(id) => format!("deployment {id}"),
        Start::Restart => "restart of the active deployment".to_string(),
    };
    let Some(Platform {
        env,
        grace,
        start_timeout,
    }) = platform_env(shared, app)
    else {
        return Ended::Stopped;
    };
    let base = shared.runtime.app_dir(app);
    let dir = base.join("src").join(format!(
        "{}-{}",
        match start {
            Start::Deploy(id) => id.as_str(),
            Start::Restart => "restart",
        },
        run.id
    ));
    let home = base.join("home");
    let files = spec.files.clone();
    let (d2, h2) = (dir.clone(), home.clone());
    let rt_root = shared.runtime.ensure_root();
    let written = match rt_root {
        Ok(()) => tokio::task::spawn_blocking(move || materialise(&d2, &h2, &files)).await,
        Err(e) => Ok(Err(e)),
    };
    if let Err(e) = written.unwrap_or_else(|e| Err(io::Error::other(e.to_string()))) {
        log.system(&format!("{label}: cannot write the app's files: {e}"));
        return Ended::StartFailed(format!("Cannot write the app's source files: {e}"));
    }
    let port = match process::free_port() {
        Ok(p) => p,
        Err(e) => return Ended::StartFailed(format!("No free port for the app: {e}")),
    };
    let argv: Vec<String> = spec
        .command
        .iter()
        .map(|a| a.replace("$DATABRICKS_APP_PORT", &port.to_string()))
        .collect();
    let mut env_all: Vec<(String, String)> = vec![
        (
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
        ),
        ("HOME".into(), home.display().to_string()),
    ];
    env_all.extend(spec.env.iter().cloned());
    env_all.extend(env);
    env_all.push(("DATABRICKS_APP_PORT".into(), port.to_string()));
    log.system(&format!("Starting {label}: {}", argv.join(" ")));
    let mut child = match process::spawn(&argv, &dir, &env_all, log) {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "App failed to start: cannot run {}: {e}",
                argv.first().map(String::as_str).unwrap_or_default()
            );
            log.system(&msg);
            return Ended::StartFailed(msg);
        }
    };
    let Some(pid) = child.id() else {
        return Ended::StartFailed("App exited immediately.".into());
    };
    run.set(|i| {
        i.pid = Some(pid);
        i.port = Some(port);
    });
    tracing::info!(app, pid, port, "app process started");
    let deadline = tokio::time::sleep(start_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            status = child.wait() => {
                cleanup(pid, &process::Tracked::new());
                let msg = format!(
                    "App crashed unexpectedly: it {} before listening on port {port}.{}",
                    describe(status),
                    tail_hint(log)
                );
                log.system(&msg);
                return Ended::StartFailed(msg);
            }
            _ = run.stop.cancelled() => {
                terminate(&mut child, pid, grace, log, &mut process::Tracked::new()).await;
                return Ended::Stopped;
            }
            _ = &mut deadline => {
                let msg = format!(
                    "App did not listen on port {port} within {} s.",
                    start_timeout.as_secs()
                );
                log.system(&msg);
                process::signal_all(pid, &process::descendants(pid), Signal::KILL);
                let _ = child.wait().await;
                return Ended::StartFailed(msg);
            }
            _ = tokio::time::sleep(READY_POLL) => {
                if process::answers(port).await {
                    break;
                }
            }
        }
    }
    run.set(|i| i.ready = true);
    mark_ready(shared, app, start);
    log.system(&format!("{label} is running on port {port}"));
    tracing::info!(app, pid, port, "app ready");
    // Descendants are noted now and then, so that those which left the process group can be
    // killed even after the main process is gone.
    let mut tracked = process::Tracked::new();
    loop {
        process::track(pid, &mut tracked);
        tokio::select! {
            status = child.wait() => {
                cleanup(pid, &tracked);
                let msg = format!("App crashed unexpectedly: it {}. Check the app's logs.", describe(status));
                log.system(&msg);
                tracing::warn!(app, pid, "app crashed");
                return Ended::Crashed(msg);
            }
            _ = run.stop.cancelled() => {
                terminate(&mut child, pid, grace, log, &mut tracked).await;
                return Ended::Stopped;
            }
            _ = tokio::time::sleep(TRACK_EVERY) => {}
        }
    }
}

fn mark_ready(shared: &Shared, app: &str, start: &Start) {
    let now = shared.now_ms();
    let mut w = shared.world();
    let Some(a) = w.apps.by_name.get_mut(app) else {
        return;
    };
    a.run = RunState::Running;
    if let Start::Deploy(id) = start
        && let Some(d) = a
            .deployments
            .iter_mut()
            .find(|d| &d.id == id && d.state == DeployState::InProgress)
    {
        d.state = DeployState::Succeeded;
        d.message = "App started successfully".into();
        d.update_ms = now;
        a.active_deployment = Some(id.clone());
        a.update_ms = now;
    }
}

/// What the platform gives a run.
struct Platform {
    /// The platform's variables (reference §5.3), port excepted.
    env: Vec<(String, String)>,
    /// SIGTERM → SIGKILL.
    grace: Duration,
    /// Start → port answers.
    start_timeout: Duration,
}

/// The platform's side of a run of `app`; `None` when the app is gone.
fn platform_env(shared: &Shared, app: &str) -> Option<Platform> {
    let w = shared.world();
    let a = w.apps.by_name.get(app)?;
    let env = vec![
        ("DATABRICKS_APP_NAME".into(), a.name.clone()),
        ("DATABRICKS_APP_URL".into(), a.url.clone()),
        ("DATABRICKS_HOST".into(), shared.base_url.clone()),
        (
            "DATABRICKS_WORKSPACE_ID".into(),
            shared.workspace_id.to_string(),
        ),
        ("DATABRICKS_CLIENT_ID".into(), a.sp_client_id.clone()),
        ("DATABRICKS_CLIENT_SECRET".into(), a.sp_secret.clone()),
    ];
    Some(Platform {
        env,
        grace: Duration::from_secs(w.settings.app_stop_grace_secs),
        start_timeout: Duration::from_secs(w.settings.app_start_timeout_secs),
    })
}

fn tail_hint(log: &AppLog) -> String {
    let t = log.tail(3);
    if t.is_empty() {
        String::new()
    } else {
        format!(" Last output: {t}")
    }
}

/// Writes the snapshot into `dir` (files 0644, directories 0755: the workspace keeps no
/// executable bits) and makes sure `home` exists.
fn materialise(dir: &Path, home: &Path, files: &[(String, Option<Bytes>)]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::create_dir_all(home)?;
    for (rel, content) in files {
        if rel
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad path {rel:?}"),
            ));
        }
        let target = dir.join(rel);
        match content {
            None => std::fs::create_dir_all(&target)?,
            Some(bytes) => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&target, bytes)?;
            }
        }
    }
    Ok(())
}
