//! The setup runner `kiln serve` uses: installs and configures every selected agent in the
//! background, each agent its own task (a failed one holds up nobody), records per-step progress
//! (status, durations, a log tail) for `GET /api/agents`, and can retry one agent. It runs at
//! serve start ([`SetupRunner::trigger`]) and again when a token is first configured (the
//! credentials code calls [`SetupRunner::set_workspace`], then [`SetupRunner::trigger`]); a
//! trigger during a run queues one more run.

use super::configure::{self, Item, ItemPlan};
use super::context::{Context, DatabricksCliAccess, Target};
use super::install::{self, InstallOptions, LineSink};
use super::manifest::Manifest;
use super::models::Models;
pub use super::progress::{ItemState, LOG_TAIL_LINES, Snapshot, Status, StepState};
use super::progress::{fresh_item, items, now_ms};
use super::resolve;
use super::state::State;
use super::{Agent, Selection, gateway_info};
use kiln_databricks::{Attr, Client, ConfigLoader, Environment, TokenSource};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// What the runner does.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// HOME to configure.
    pub home: PathBuf,
    /// Installer settings (prefix, npm, python).
    pub install: InstallOptions,
    /// Skip installing (configure only).
    pub skip_install: bool,
    /// Items to set up.
    pub selection: Selection,
    /// Pinned packages.
    pub manifest: Manifest,
    /// Gateway URL the configs point at (`None`: agents cannot be configured).
    pub gateway_url: Option<String>,
    /// The gateway's key file.
    pub gateway_key_path: PathBuf,
    /// Token broker URL for the Databricks CLI's profile, when there is one.
    pub metadata_url: Option<kiln_databricks::Secret>,
    /// The model override variables (`ANTHROPIC_MODEL`, …) and their values; nothing else.
    pub env: BTreeMap<String, String>,
}

impl SetupOptions {
    /// Defaults for a HOME: prefix `~/.local`, everything selected, the built-in manifest.
    pub fn new(home: PathBuf) -> Result<Self, String> {
        Ok(Self {
            install: InstallOptions::new(home.join(".local")),
            skip_install: false,
            selection: Selection::all(),
            manifest: Manifest::built_in()?,
            gateway_url: None,
            gateway_key_path: gateway_info::key_path(&home),
            metadata_url: None,
            env: super::models::override_vars(&resolve::process_env()),
            home,
        })
    }
}

struct RunState {
    running: bool,
    pending: bool,
    runs: u64,
    /// Items being retried on their own.
    retrying: Vec<String>,
    models: Option<Models>,
    notes: Vec<String>,
    items: Vec<ItemState>,
}

struct Inner {
    opts: SetupOptions,
    state: Mutex<RunState>,
    workspace: Mutex<Option<Client>>,
    runtime: tokio::runtime::Handle,
    /// Bumped on every change, so waiters wake up.
    changes: tokio::sync::watch::Sender<u64>,
}

/// Runs setup in the background; cheap to clone.
#[derive(Clone)]
pub struct SetupRunner {
    inner: Arc<Inner>,
}

/// Why a retry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    /// No such item.
    #[error("unknown agent {0:?}")]
    Unknown(String),
    /// The item is being set up right now.
    #[error("{0} is being set up right now")]
    Busy(String),
}

impl SetupRunner {
    /// A runner; must be created inside a tokio runtime. Nothing runs until [`Self::trigger`].
    pub fn new(opts: SetupOptions) -> Self {
        let items = items(&opts.selection)
            .into_iter()
            .map(|i| fresh_item(i, !opts.skip_install))
            .collect();
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(RunState {
                    running: false,
                    pending: false,
                    runs: 0,
                    retrying: Vec::new(),
                    models: None,
                    notes: Vec::new(),
                    items,
                }),
                workspace: Mutex::new(None),
                runtime: tokio::runtime::Handle::current(),
                changes: tokio::sync::watch::channel(0).0,
                opts,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, RunState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The workspace to ask for models and identity: its URL and the current-token source
    /// (kiln's broker). Takes effect on the next run.
    pub fn set_workspace(&self, host: &str, source: Arc<dyn TokenSource>) -> Result<(), String> {
        let config = ConfigLoader::new(Environment::new())
            .set(Attr::Host, host)
            .load()
            .map_err(|e| e.to_string())?;
        let client = Client::with_token_source(&config, source, resolve::client_options())
            .map_err(|e| e.to_string())?;
        *self
            .inner
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(client);
        Ok(())
    }

    /// Starts a run, or queues one if a run is in progress.
    pub fn trigger(&self) {
        {
            let mut st = self.state();
            if st.running {
                st.pending = true;
                return;
            }
            st.running = true;
        }
        let me = self.clone();
        self.inner.runtime.spawn(async move {
            loop {
                me.run_all().await;
                let mut st = me.state();
                if st.pending {
                    st.pending = false;
                    continue;
                }
                st.running = false;
                drop(st);
                me.changed();
                break;
            }
        });
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Sets up one item again (both steps), in the background.
    pub fn retry(&self, name: &str) -> Result<(), RetryError> {
        let item = items(&self.inner.opts.selection)
            .into_iter()
            .find(|i| i.name() == name)
            .ok_or_else(|| RetryError::Unknown(name.to_owned()))?;
        {
            let mut st = self.state();
            let busy = st.retrying.iter().any(|r| r == name)
                || st
                    .items
                    .iter()
                    .any(|i| i.name == name && i.status == Status::Running);
            if busy {
                return Err(RetryError::Busy(name.to_owned()));
            }
            st.retrying.push(name.to_owned());
            if let Some(slot) = st.items.iter_mut().find(|i| i.name == name) {
                *slot = fresh_item(item, !self.inner.opts.skip_install);
            }
        }
        let me = self.clone();
        self.inner.runtime.spawn(async move {
            let ctx = me.context().await;
            me.run_item(item, ctx).await;
            me.state().retrying.retain(|r| r != item.name());
            me.changed();
        });
        Ok(())
    }

    /// The current progress.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.state();
        Snapshot {
            running: st.running || !st.retrying.is_empty(),
            runs: st.runs,
            models_source: st.models.as_ref().map(|m| m.source.clone()),
            models: st.models.clone(),
            notes: st.notes.clone(),
            items: st.items.clone(),
        }
    }

    /// Waits until no run or retry is in progress (for tests and `kiln serve` shutdown).
    pub async fn idle(&self) {
        let mut rx = self.inner.changes.subscribe();
        loop {
            rx.mark_unchanged();
            if !self.snapshot().running {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Builds the writers' contexts: for agents (`Err`: why they cannot be configured, e.g. no
    /// gateway) and for the extras (git, Databricks CLI), which need no gateway.
    async fn context(&self) -> (Result<Context, String>, Context) {
        let client = self
            .inner
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let opts = &self.inner.opts;
        let ws = resolve::workspace(client.as_ref(), &opts.env).await;
        {
            let mut st = self.state();
            st.models = Some(ws.models.clone());
            st.notes = ws.notes.clone();
        }
        let databricks_cli = match (&opts.metadata_url, &ws.host) {
            (Some(u), Some(h)) => Some(DatabricksCliAccess {
                host: h.clone(),
                metadata_service_url: u.clone(),
            }),
            _ => None,
        };
        let extras = Context {
            home: opts.home.clone(),
            target: Target::Direct {
                host: ws.host.clone().unwrap_or_default(),
                token_env: String::new(),
            },
            models: ws.models,
            identity: ws.identity,
            databricks_cli,
        };
        let agents = (|| {
            let url = opts
                .gateway_url
                .clone()
                .ok_or_else(|| "the model gateway is not running".to_owned())?;
            let key = gateway_info::read_key(&opts.gateway_key_path)?;
            Ok(Context {
                target: Target::Gateway { url, key },
                ..extras.clone()
            })
        })();
        (agents, extras)
    }

    async fn run_all(&self) {
        {
            let mut st = self.state();
            st.runs += 1;
            let with_install = !self.inner.opts.skip_install;
            for i in st.items.iter_mut() {
                if let Some(item) = items(&self.inner.opts.selection)
                    .into_iter()
                    .find(|x| x.name() == i.name)
                {
                    *i = fresh_item(item, with_install);
                }
            }
        }
        let ctx = self.context().await;
        let mut set = tokio::task::JoinSet::new();
        for item in items(&self.inner.opts.selection) {
            let me = self.clone();
            let ctx = ctx.clone();
            set.spawn(async move { me.run_item(item, ctx).await });
        }
        while set.join_next().await.is_some() {}
    }

    fn with_item(&self, name: &str, f: impl FnOnce(&mut ItemState)) {
        {
            let mut st = self.state();
            if let Some(i) = st.items.iter_mut().find(|i| i.name == name) {
                f(i);
            }
        }
        self.changed();
    }

    fn log(&self, name: &str, line: &str) {
        self.with_item(name, |i| {
            i.log_tail.push_back(line.to_owned());
            while i.log_tail.len() > LOG_TAIL_LINES {
                i.log_tail.pop_front();
            }
        });
    }

    fn step(&self, name: &str, step: &str, status: Status, message: Option<String>) {
        self.with_item(name, |i| {
            if status == Status::Running {
                i.status = Status::Running;
            }
            if let Some(s) = i.steps.iter_mut().find(|s| s.name == step) {
                match status {
                    Status::Running => s.started_ms = Some(now_ms()),
                    _ => s.duration_ms = s.started_ms.map(|t| now_ms().saturating_sub(t)),
                }
                s.status = status;
                s.message = message;
            }
        });
    }

    async fn run_item(&self, item: Item, ctx: (Result<Context, String>, Context)) {
        let (agents, extras) = ctx;
        let name = item.name();
        let mut failed = false;
        if let (Item::Agent(agent), false) = (item, self.inner.opts.skip_install) {
            failed |= !self.install_step(agent).await;
        }
        self.step(name, "configure", Status::Running, None);
        let started = Instant::now();
        // Planning and writing files, and `git config` for the git item, block: off the
        // async workers.
        let outcome = tokio::task::spawn_blocking(move || match (item, &agents) {
            (Item::Agent(_), Err(e)) => Err(e.clone()),
            (Item::Agent(a), Ok(c)) => apply(&configure::plan_agent(c, a)),
            (Item::Git, _) => apply(&configure::plan_git(&extras)),
            (Item::Databricks, _) => apply(&configure::plan_databricks(&extras)),
        })
        .await
        .unwrap_or_else(|e| Err(format!("configuring {name} failed: {e}")));
        tracing::info!(
            item = name,
            ok = outcome.is_ok(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "configure"
        );
        match outcome {
            Ok(msg) => self.step(name, "configure", Status::Ok, Some(msg)),
            Err(e) => {
                self.log(name, &e);
                self.step(name, "configure", Status::Failed, Some(e));
                failed = true;
            }
        }
        self.with_item(name, |i| {
            i.status = if failed { Status::Failed } else { Status::Ok };
        });
    }

    async fn install_step(&self, agent: Agent) -> bool {
        let name = agent.name();
        self.step(name, "install", Status::Running, None);
        let me = self.clone();
        let sink: LineSink = Arc::new(move |l: &str| me.log(name, l));
        let r = install::install(
            agent,
            &self.inner.opts.manifest,
            &self.inner.opts.install,
            sink,
        )
        .await;
        match r {
            Ok(i) => {
                let msg = if i.changed {
                    format!("installed {}", i.version)
                } else {
                    format!("{} already installed", i.version)
                };
                let _ = State::update(&self.inner.opts.home, agent, |s| {
                    s.installed_version = Some(i.version.clone())
                });
                self.with_item(name, |it| it.version = Some(i.version.clone()));
                self.step(name, "install", Status::Ok, Some(msg));
                true
            }
            Err(e) => {
                self.log(name, &e.to_string());
                self.step(name, "install", Status::Failed, Some(e.to_string()));
                false
            }
        }
    }
}

/// Applies a plan; the outcome text or the error.
fn apply(plan: &ItemPlan) -> Result<String, String> {
    if let Some(e) = &plan.error {
        return Err(e.clone());
    }
    plan.apply().map_err(|e| e.to_string())?;
    let mut msg = if plan.is_noop() {
        "unchanged".to_owned()
    } else {
        format!("{} file(s) written", plan.files.len() + plan.dirs.len())
    };
    for n in &plan.notes {
        msg.push_str("; ");
        msg.push_str(n);
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_holds_no_secret() {
        let mut o = SetupOptions::new(PathBuf::from("/home/u")).unwrap();
        o.install.env.push((
            "PIP_INDEX_URL".into(),
            Some("https://user:hunter2@mirror.example/simple".into()),
        ));
        o.metadata_url = Some(kiln_databricks::Secret::new(
            "http://127.0.0.1:9/broker-secret-path",
        ));
        let shown = format!("{o:?}");
        assert!(shown.contains("PIP_INDEX_URL"), "{shown}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("broker-secret-path"),
            "{shown}"
        );
        // Only model overrides are kept from the environment.
        assert!(
            o.env.keys().all(|k| k.ends_with("_MODEL")),
            "{:?}",
            o.env.keys()
        );
    }
}
