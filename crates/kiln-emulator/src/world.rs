//! The emulated workspace's state: principals (users and service principals), personal
//! access tokens, OAuth access tokens, settings, and the per-API stores. One `World` lives
//! behind a mutex in [`Shared`]; handlers lock it briefly and never across `.await`.
//!
//! This module composes leaves: the stores' `model` modules, `principals` and `settings`
//! import nothing from here (routes and middleware do), so there is no module cycle.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::apps::Apps;
use crate::clock::Clock;
use crate::clusters::Clusters;
use crate::faults::Faults;
use crate::files::Volumes;
use crate::ids;
use crate::principals::{OauthToken, Pat, Principal, display_name_from_email};
use crate::reqlog::RequestLog;
use crate::serving::ServingState;
use crate::settings::{Settings, StateDelays};
use crate::workspace::tree::Tree;

/// Everything the emulator knows about its workspace.
pub struct World {
    /// Run-time switches.
    pub settings: Settings,
    /// State-machine step lengths.
    pub delays: StateDelays,
    /// Principals by id.
    pub principals: BTreeMap<u64, Principal>,
    /// PATs by token id.
    pub pats: HashMap<String, Pat>,
    /// OAuth tokens by SHA-256 of the value.
    pub oauth: HashMap<String, OauthToken>,
    /// Databricks Apps.
    pub apps: Apps,
    /// Workspace files, directories and notebooks.
    pub tree: Tree,
    /// Unity Catalog volume files.
    pub volumes: Volumes,
    /// Clusters.
    pub clusters: Clusters,
    /// Browser sessions of the app proxies: SHA-256 of the cookie value → principal id.
    pub app_sessions: HashMap<String, u64>,
    /// Secret scopes.
    pub secrets: crate::secrets::Secrets,
}

impl World {
    /// An empty workspace (only the root folders).
    pub fn new(settings: Settings, delays: StateDelays, now_ms: i64) -> Self {
        Self {
            settings,
            delays,
            principals: BTreeMap::new(),
            pats: HashMap::new(),
            oauth: HashMap::new(),
            apps: Apps::default(),
            tree: Tree::new(now_ms),
            volumes: Volumes::default(),
            clusters: Clusters::default(),
            app_sessions: HashMap::new(),
            secrets: crate::secrets::Secrets::default(),
        }
    }

    /// Finds a principal by user name (case-insensitive) or numeric id.
    pub fn principal_by_name(&self, name: &str) -> Option<&Principal> {
        self.principals
            .values()
            .find(|p| p.user_name.eq_ignore_ascii_case(name) || p.id.to_string() == name)
    }

    /// Adds a user (idempotent on the email) and gives it a home folder; returns its id.
    pub fn add_user(&mut self, email: &str, admin: bool, now_ms: i64) -> u64 {
        if let Some(p) = self.principal_by_name(email) {
            return p.id;
        }
        let id = ids::numeric_id();
        self.principals.insert(
            id,
            Principal {
                id,
                user_name: email.to_string(),
                display_name: display_name_from_email(email),
                admin,
                sp_secrets: None,
            },
        );
        self.tree.ensure_home(email, now_ms);
        id
    }

    /// Adds a service principal with one OAuth secret; returns its id.
    pub fn add_service_principal(
        &mut self,
        application_id: &str,
        display_name: &str,
        secret: &str,
        now_ms: i64,
    ) -> u64 {
        let id = ids::numeric_id();
        self.principals.insert(
            id,
            Principal {
                id,
                user_name: application_id.to_string(),
                display_name: display_name.to_string(),
                admin: false,
                sp_secrets: Some(vec![ids::token_id(secret)]),
            },
        );
        self.tree.ensure_home(application_id, now_ms);
        id
    }

    /// Stores a PAT with a known value for `owner`; returns its token id.
    pub fn insert_pat(
        &mut self,
        owner: u64,
        value: &str,
        created_ms: i64,
        expiry_ms: i64,
        comment: Option<String>,
    ) -> String {
        let token_id = ids::token_id(value);
        self.pats.insert(
            token_id.clone(),
            Pat {
                token_id: token_id.clone(),
                owner,
                created_ms,
                expiry_ms,
                comment,
                scopes: None,
            },
        );
        token_id
    }

    /// Moves every state machine forward to `now_ms`.
    pub fn settle(&mut self, now_ms: i64) {
        let delays = self.delays.clone();
        for sp in self.apps.settle(now_ms, &delays) {
            self.principals.remove(&sp);
            self.pats.retain(|_, t| t.owner != sp);
            self.oauth.retain(|_, t| t.owner != sp);
        }
        let failure = self.settings.init_script_failure.clone();
        let World {
            clusters,
            tree,
            volumes,
            secrets,
            ..
        } = self;
        let inputs = crate::clusters::StartInputs {
            tree,
            volumes,
            secrets,
            init_script_failure: failure.as_deref(),
        };
        clusters.settle(now_ms, &delays, &inputs);
    }
}

/// State shared by every handler.
pub struct Shared {
    /// The emulator clock.
    pub clock: Clock,
    /// The workspace.
    pub world: Mutex<World>,
    /// Fault injection rules.
    pub faults: Faults,
    /// Request log.
    pub log: RequestLog,
    /// The model-serving data plane's state (endpoints, scripts).
    pub serving: Arc<ServingState>,
    /// Workspace id (also `X-Databricks-Org-Id`).
    pub workspace_id: u64,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// What the workspace was seeded with.
    pub identities: Identities,
    /// The Apps runtime: app processes, logs and proxies.
    pub runtime: crate::apps::runtime::Runtime,
}

impl Shared {
    /// Locks the world after settling its state machines to the current clock time.
    pub fn world(&self) -> MutexGuard<'_, World> {
        let now = self.clock.now_ms();
        let mut w = self.world.lock().unwrap_or_else(|p| p.into_inner());
        w.settle(now);
        w
    }

    /// Current emulator time, epoch ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A seeded user and its personal access token.
#[derive(Clone, Serialize)]
pub struct SeededUser {
    /// Email (SCIM `userName`).
    pub email: String,
    /// A PAT that never expires.
    pub token: String,
}

impl fmt::Debug for SeededUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeededUser")
            .field("email", &self.email)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The identities a started emulator was seeded with.
#[derive(Clone, Serialize)]
pub struct Identities {
    /// `http://127.0.0.1:PORT`.
    pub workspace_url: String,
    /// Workspace id.
    pub workspace_id: u64,
    /// Users; the first created the app.
    pub users: Vec<SeededUser>,
    /// The app's name.
    pub app_name: String,
    /// The app's service principal client id.
    pub sp_client_id: String,
    /// The app's service principal OAuth secret.
    pub sp_client_secret: String,
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("workspace_url", &self.workspace_url)
            .field("workspace_id", &self.workspace_id)
            .field("users", &self.users)
            .field("app_name", &self.app_name)
            .field("sp_client_id", &self.sp_client_id)
            .field("sp_client_secret", &"<redacted>")
            .finish()
    }
}
