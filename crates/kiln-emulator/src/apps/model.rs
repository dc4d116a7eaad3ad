//! App and deployment records, their state machines, and their JSON shapes
//! (`databricks-api.md` §5.1).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::acl::{Grant, Grantee, Level};
use super::runtime::LaunchSpec;
use crate::clock::iso8601;
use crate::principals::Principal;
use crate::settings::StateDelays;

/// App compute states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// Running.
    Active,
    /// Starting.
    Starting,
    /// Stopped.
    Stopped,
    /// Stopping.
    Stopping,
    /// Being deleted.
    Deleting,
}

impl Compute {
    fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Starting => "STARTING",
            Self::Stopped => "STOPPED",
            Self::Stopping => "STOPPING",
            Self::Deleting => "DELETING",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::Active => "App compute is active.",
            Self::Starting => "App compute is starting.",
            Self::Stopped => "App compute is stopped.",
            Self::Stopping => "App compute is stopping.",
            Self::Deleting => "App compute is being deleted.",
        }
    }
}

/// Deployment states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployState {
    /// Copying and starting.
    InProgress,
    /// Running this code.
    Succeeded,
    /// Failed (message says why).
    Failed,
    /// Cancelled (the app was stopped or deleted while deploying).
    Cancelled,
}

impl DeployState {
    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// One deployment of an app.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// 32 hex characters.
    pub id: String,
    /// Where the code was copied from.
    pub source_code_path: String,
    /// `SNAPSHOT` or `AUTO_SYNC`.
    pub mode: String,
    /// Current state.
    pub state: DeployState,
    /// Current message.
    pub message: String,
    /// State and message once `done_ms` is reached, for deployments that never start a
    /// process (bad source, bad app.yaml); `None` when the runtime decides.
    pub outcome: Option<(DeployState, String)>,
    /// When the outcome applies (emulator ms).
    pub done_ms: i64,
    /// What to run (`None` for the seeded app's deployment, which runs nothing).
    pub spec: Option<Arc<LaunchSpec>>,
    /// Snapshot location (`/Workspace/Users/<sp>/src/<id>`).
    pub artifacts_path: String,
    /// Who deployed.
    pub creator: String,
    /// Epoch ms.
    pub create_ms: i64,
    /// Epoch ms.
    pub update_ms: i64,
    /// `command` override.
    pub command: Option<Value>,
    /// Names of `env_vars` overrides (values are never echoed).
    pub env_var_names: Vec<String>,
}

impl Deployment {
    /// AppDeployment JSON.
    pub fn render(&self) -> Value {
        let mut v = json!({
            "deployment_id": self.id,
            "source_code_path": self.source_code_path,
            "mode": self.mode,
            "status": {"state": self.state.as_str(), "message": self.message},
            "deployment_artifacts": {"source_code_path": self.artifacts_path},
            "create_time": iso8601(self.create_ms),
            "update_time": iso8601(self.update_ms),
            "creator": self.creator,
        });
        if let Some(c) = &self.command {
            v["command"] = c.clone();
        }
        if !self.env_var_names.is_empty() {
            v["env_vars"] = Value::from(
                self.env_var_names
                    .iter()
                    .map(|n| json!({"name": n}))
                    .collect::<Vec<_>>(),
            );
        }
        v
    }
}

/// What the app's process is doing (the runtime keeps this up to date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Nothing to run by design: the seeded app counts as running without a process.
    Virtual,
    /// No process.
    Idle,
    /// A process is starting (deployment in progress or compute restarted).
    Starting,
    /// The process answers on its port.
    Running,
    /// The process exited on its own; the message says how.
    Crashed(String),
}

/// An app.
#[derive(Debug, Clone)]
pub struct App {
    /// Unique name.
    pub name: String,
    /// UUID.
    pub id: String,
    /// Description.
    pub description: Option<String>,
    /// Creating user's email.
    pub creator: String,
    /// Last updater.
    pub updater: String,
    /// Epoch ms.
    pub create_ms: i64,
    /// Epoch ms.
    pub update_ms: i64,
    /// The app's service principal (SCIM id).
    pub sp_id: u64,
    /// Its application (client) id.
    pub sp_client_id: String,
    /// Its OAuth secret (handed to the app's environment; never logged).
    pub sp_secret: String,
    /// Its display name.
    pub sp_name: String,
    /// Compute state.
    pub compute: Compute,
    /// Pending compute transition (at ms, to state).
    pub compute_next: Option<(i64, Compute)>,
    /// Deployments, oldest first.
    pub deployments: Vec<Deployment>,
    /// Id of the running deployment.
    pub active_deployment: Option<String>,
    /// `MEDIUM`, `LARGE`, ...
    pub compute_size: String,
    /// `user_api_scopes`.
    pub user_api_scopes: Option<Value>,
    /// `resources`.
    pub resources: Option<Value>,
    /// Set once the app has been deleted (it disappears at the compute transition).
    pub gone: bool,
    /// The app's URL: its reverse proxy on loopback.
    pub url: String,
    /// The process state.
    pub run: RunState,
    /// Direct permissions (the creator's `CAN_MANAGE` is implicit).
    pub acl: Vec<Grant>,
}

impl App {
    /// The strongest level `p` holds on this app, if any (the creator and workspace admins
    /// manage it).
    pub fn level_of(&self, p: &Principal) -> Option<Level> {
        if p.admin || (!p.is_sp() && self.creator.eq_ignore_ascii_case(&p.user_name)) {
            return Some(Level::CanManage);
        }
        self.acl
            .iter()
            .filter(|g| match &g.grantee {
                Grantee::User(u) => !p.is_sp() && u.eq_ignore_ascii_case(&p.user_name),
                Grantee::ServicePrincipal(s) => p.is_sp() && s.eq_ignore_ascii_case(&p.user_name),
                Grantee::Group(g) => g == "users",
            })
            .map(|g| g.level)
            .max()
    }

    /// The deployment in progress, if any.
    pub fn pending(&self) -> Option<&Deployment> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.state == DeployState::InProgress)
    }

    /// The deployment that runs (or last ran successfully).
    pub fn active(&self) -> Option<&Deployment> {
        let id = self.active_deployment.as_ref()?;
        self.deployments.iter().find(|d| &d.id == id)
    }

    /// Whether a deployment is in progress.
    pub fn deploying(&self) -> bool {
        self.pending().is_some()
    }

    /// App JSON.
    pub fn render(&self) -> Value {
        let failed = || match self.deployments.last() {
            Some(d) if d.state == DeployState::Failed => Some(d.message.clone()),
            _ => None,
        };
        let (app_state, app_message) = match (self.compute, &self.run) {
            (Compute::Active, _) if self.deploying() => {
                ("DEPLOYING", "App is being deployed.".to_string())
            }
            (Compute::Active, RunState::Crashed(m)) => ("CRASHED", m.clone()),
            (Compute::Active, RunState::Starting) => ("DEPLOYING", "App is starting.".to_string()),
            (Compute::Active, RunState::Running | RunState::Virtual) if self.active().is_some() => {
                ("RUNNING", "App has status: App is running".to_string())
            }
            (Compute::Active, _) => match failed() {
                Some(m) => ("UNAVAILABLE", m),
                None if self.active().is_some() => {
                    ("UNAVAILABLE", "App is not running.".to_string())
                }
                None => (
                    "UNAVAILABLE",
                    "App has not been deployed yet. Run your app by deploying source code"
                        .to_string(),
                ),
            },
            (Compute::Starting, _) if self.active().is_some() => {
                ("DEPLOYING", "App is starting.".to_string())
            }
            _ => ("UNAVAILABLE", "App is not running.".to_string()),
        };
        let mut compute_status =
            json!({"state": self.compute.as_str(), "message": self.compute.message()});
        if self.compute == Compute::Active {
            compute_status["active_instances"] = json!(1);
        }
        let mut v = json!({
            "name": self.name,
            "id": self.id,
            "url": self.url,
            "creator": self.creator,
            "updater": self.updater,
            "create_time": iso8601(self.create_ms),
            "update_time": iso8601(self.update_ms),
            "service_principal_client_id": self.sp_client_id,
            "service_principal_id": self.sp_id,
            "service_principal_name": self.sp_name,
            "compute_size": self.compute_size,
            "compute_status": compute_status,
            "app_status": {"state": app_state, "message": app_message},
        });
        if let Some(d) = &self.description {
            v["description"] = json!(d);
        }
        if let Some(a) = self.active() {
            v["active_deployment"] = a.render();
            v["default_source_code_path"] = json!(a.source_code_path);
        }
        if let Some(p) = self.pending() {
            v["pending_deployment"] = p.render();
        }
        if let Some(s) = &self.user_api_scopes {
            v["user_api_scopes"] = s.clone();
            v["effective_user_api_scopes"] = s.clone();
        }
        if let Some(r) = &self.resources {
            v["resources"] = r.clone();
        }
        v
    }

    /// Moves the state machines to `now`.
    fn settle(&mut self, now: i64, delays: &StateDelays) {
        if let Some((at, to)) = self.compute_next
            && at <= now
        {
            self.compute_next = None;
            if self.compute == Compute::Deleting {
                self.gone = true;
                return;
            }
            self.compute = to;
            self.update_ms = at;
        }
        let _ = delays;
        let mut became_active = None;
        for d in &mut self.deployments {
            if d.state != DeployState::InProgress || d.done_ms > now {
                continue;
            }
            if let Some((state, message)) = &d.outcome {
                d.state = *state;
                d.message = message.clone();
                d.update_ms = d.done_ms;
                if d.state == DeployState::Succeeded {
                    became_active = Some(d.id.clone());
                }
            }
        }
        if became_active.is_some() {
            self.active_deployment = became_active;
        }
    }

    /// Starts a compute transition now.
    pub fn transition(&mut self, now: i64, through: Compute, to: Compute, after_secs: u64) {
        self.compute = through;
        self.compute_next = Some((now + secs_ms(after_secs), to));
        self.update_ms = now;
    }
}

/// Seconds to milliseconds, saturating.
pub fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4)
}

/// All apps by name.
#[derive(Debug, Default)]
pub struct Apps {
    /// Apps by name (deleted ones vanish once their `DELETING` step ends).
    pub by_name: BTreeMap<String, App>,
}

impl Apps {
    /// Moves every app's state machines to `now`; returns the service principals of apps
    /// that finished deleting.
    pub fn settle(&mut self, now: i64, delays: &StateDelays) -> Vec<u64> {
        for app in self.by_name.values_mut() {
            app.settle(now, delays);
        }
        let gone: Vec<u64> = self
            .by_name
            .values()
            .filter(|a| a.gone)
            .map(|a| a.sp_id)
            .collect();
        self.by_name.retain(|_, a| !a.gone);
        gone
    }
}
