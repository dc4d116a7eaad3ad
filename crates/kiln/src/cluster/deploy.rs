//! `kiln cluster deploy` and `kiln cluster status`: what `databricks bundle deploy` does with
//! kiln's bundle, natively. Checks the secret scope and key, uploads the init script and the
//! kiln binary (workspace files for `dev`, the Volume through the Files API for `prod`), creates
//! the cluster or edits the one it made before (found by the `kiln_deployment` tag, so never a
//! second one), and with `--start` waits for `RUNNING`, printing each state change. Every
//! failure a user can fix says how.

use super::bundle::{
    self, BINARY_NAME, DEPLOY_TAG, Deployer, Resolved, SCRIPT_NAME, Settings, Target,
};
use super::script;
use crate::agents::resolve;
use bytes::Bytes;
use kiln_databricks::api::clusters::{ClusterDetails, ClusterState};
use kiln_databricks::{Client, Error as ApiError};
use std::time::{Duration, Instant};

/// Options shared by `deploy` and `status`.
#[derive(Debug, Clone, clap::Args)]
pub struct WhereArgs {
    /// dev (dedicated cluster, workspace files) or prod (shared cluster, Volume).
    #[arg(long, value_enum, default_value_t = Target::Dev)]
    pub target: Target,
    /// Profile of ~/.databrickscfg (default: DATABRICKS_HOST/DATABRICKS_TOKEN or DEFAULT).
    #[arg(long, env = "DATABRICKS_CONFIG_PROFILE")]
    pub profile: Option<String>,
    /// Bundle name (paths `.bundle/<name>/<target>`, tag `<name>-<target>`).
    #[arg(long, default_value = "kiln")]
    pub name: String,
}

/// Options of `kiln cluster deploy` (and `bundle`): the bundle's variables.
#[derive(Debug, Clone, clap::Args)]
pub struct SettingsArgs {
    /// Secret scope holding the Databricks token the cluster's gateway uses.
    #[arg(long, default_value = "kiln")]
    pub secret_scope: String,
    /// Key of the token in that scope (for prod: a service principal's token).
    #[arg(long, default_value = "databricks-token")]
    pub secret_key: String,
    /// Catalog of the Volume (prod).
    #[arg(long, default_value = "main")]
    pub catalog: String,
    /// Schema of the Volume (prod).
    #[arg(long, default_value = "kiln")]
    pub schema: String,
    /// Volume holding the script and the binary (prod).
    #[arg(long, default_value = "init_scripts")]
    pub volume: String,
    /// Node type (default m6i.xlarge for dev, m6i.2xlarge for prod).
    #[arg(long)]
    pub node_type_id: Option<String>,
    /// Databricks Runtime.
    #[arg(long, default_value = "15.4.x-scala2.12")]
    pub spark_version: String,
}

impl SettingsArgs {
    /// The bundle settings these flags give.
    pub fn settings(&self, name: &str, target: Target) -> Settings {
        let mut s = Settings {
            name: name.to_owned(),
            secret_scope: self.secret_scope.clone(),
            secret_key: self.secret_key.clone(),
            catalog: self.catalog.clone(),
            schema: self.schema.clone(),
            volume: self.volume.clone(),
            spark_version: self.spark_version.clone(),
            ..Settings::default()
        };
        if let Some(n) = &self.node_type_id {
            match target {
                Target::Dev => s.dev_node_type = n.clone(),
                Target::Prod => s.prod_node_type = n.clone(),
            }
        }
        s
    }
}

/// Arguments of `kiln cluster deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub place: WhereArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Start the cluster (if it is not running) and wait for RUNNING, showing progress.
    #[arg(long)]
    pub start: bool,
    /// The kiln binary to upload.
    #[command(flatten)]
    pub binary: super::script::BinaryArgs,
    /// Longest wait for the cluster, seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout_secs: u64,
}

/// Failures with the fix in their message.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The Volume does not exist.
    #[error(
        "the Volume {path} does not exist (or you cannot see it). Create it, e.g. \
         `databricks volumes create {catalog} {schema} {volume} MANAGED`, and have a metastore \
         admin add {path}/ to the artifact allowlist for init scripts (Catalog Explorer > \
         Metastore > Allowed JARs/Init Scripts), or a shared cluster will not run the script"
    )]
    MissingVolume {
        /// `/Volumes/c/s/v`.
        path: String,
        /// Catalog.
        catalog: String,
        /// Schema.
        schema: String,
        /// Volume.
        volume: String,
    },
    /// Writing was refused.
    #[error("no permission to write {path}: {detail}. {fix}")]
    NoPermission {
        /// What was written.
        path: String,
        /// The server's words.
        detail: String,
        /// What grants it.
        fix: String,
    },
    /// The secret scope is missing.
    #[error(
        "no secret scope {scope:?}: create it and put the token the cluster's gateway should use: \
         `databricks secrets create-scope {scope}` then `databricks secrets put-secret {scope} {key}` \
         (or pass --secret-scope / --secret-key)"
    )]
    NoSecretScope {
        /// Scope.
        scope: String,
        /// Key.
        key: String,
    },
    /// The key is missing from the scope.
    #[error(
        "the secret scope {scope:?} has no key {key:?}: `databricks secrets put-secret {scope} {key}` \
         (a service principal's token for prod)"
    )]
    NoSecretKey {
        /// Scope.
        scope: String,
        /// Key.
        key: String,
    },
    /// The cluster stopped while starting.
    #[error(
        "cluster {cluster_id} did not start: {reason}. {hint} Its init-script logs: the cluster's \
         page > Event log and Driver logs, or <cluster log destination>/{cluster_id}/init_scripts/ \
         when log delivery is on; kiln's own log on the driver is /var/log/kiln/init-script.log"
    )]
    StartFailed {
        /// Cluster id.
        cluster_id: String,
        /// Termination reason.
        reason: String,
        /// What to check first.
        hint: String,
    },
    /// Waiting ran out of time.
    #[error("cluster {cluster_id} is still {state} after {secs} s (see `kiln cluster status`)")]
    Timeout {
        /// Cluster id.
        cluster_id: String,
        /// Last state.
        state: String,
        /// Seconds waited.
        secs: u64,
    },
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn permission(path: &str, e: &ApiError, fix: &str) -> Option<DeployError> {
    matches!(e, ApiError::PermissionDenied(_)).then(|| DeployError::NoPermission {
        path: path.to_owned(),
        detail: e.to_string(),
        fix: fix.to_owned(),
    })
}

/// The configured client and who it acts for.
pub async fn connect(profile: Option<&str>) -> anyhow::Result<(Client, Deployer)> {
    let client = resolve::client_from_config(profile, None).map_err(anyhow::Error::msg)?;
    let me = client
        .scim()
        .me()
        .await
        .map_err(|e| anyhow::anyhow!("cannot sign in to {} ({e})", client.host()))?;
    let who = Deployer {
        user_name: me.user_name.clone(),
        host: client.host().to_owned(),
    };
    Ok((client, who))
}

async fn check_secret(client: &Client, s: &Settings) -> Result<(), DeployError> {
    let keys = match client.secrets().list_secrets(&s.secret_scope).await {
        Ok(k) => k,
        Err(ApiError::NotFound(_)) => {
            return Err(DeployError::NoSecretScope {
                scope: s.secret_scope.clone(),
                key: s.secret_key.clone(),
            });
        }
        Err(e) => {
            return Err(permission(
                &format!("secret scope {}", s.secret_scope),
                &e,
                "You need READ on the scope (and the cluster's owner does too)",
            )
            .unwrap_or_else(|| DeployError::Other(e.into())));
        }
    };
    if !keys.iter().any(|k| k.key == s.secret_key) {
        return Err(DeployError::NoSecretKey {
            scope: s.secret_scope.clone(),
            key: s.secret_key.clone(),
        });
    }
    Ok(())
}

async fn upload(
    client: &Client,
    s: &Settings,
    r: &Resolved,
    files: [(&str, Bytes); 2],
) -> Result<(), DeployError> {
    if r.in_volume {
        let exists = client
            .files()
            .directory_exists(&r.source_dir)
            .await
            .map_err(anyhow::Error::from)?;
        if !exists {
            return Err(DeployError::MissingVolume {
                path: r.source_dir.clone(),
                catalog: s.catalog.clone(),
                schema: s.schema.clone(),
                volume: s.volume.clone(),
            });
        }
        for (name, bytes) in files {
            let path = format!("{}/{name}", r.source_dir);
            println!("uploading {path} ({} bytes, Files API)", bytes.len());
            client
                .files()
                .upload(&path, bytes, true)
                .await
                .map_err(|e| {
                    permission(
                        &path,
                        &e,
                        "You need WRITE VOLUME on the Volume (and USE CATALOG, USE SCHEMA)",
                    )
                    .unwrap_or_else(|| DeployError::Other(e.into()))
                })?;
        }
    } else {
        client
            .workspace()
            .mkdirs(&r.source_dir)
            .await
            .map_err(|e| {
                permission(&r.source_dir, &e, "You need CAN MANAGE on the folder")
                    .unwrap_or_else(|| DeployError::Other(e.into()))
            })?;
        for (name, bytes) in files {
            let path = format!("{}/{name}", r.source_dir);
            println!("uploading {path} ({} bytes, workspace file)", bytes.len());
            client
                .workspace()
                .import_file(&path, bytes, true)
                .await
                .map_err(|e| {
                    permission(&path, &e, "You need CAN MANAGE on the folder")
                        .unwrap_or_else(|| DeployError::Other(e.into()))
                })?;
        }
    }
    Ok(())
}

/// The cluster kiln deployed for this target (by tag; in dev, also created by this user).
pub async fn find(
    client: &Client,
    r: &Resolved,
    who: &Deployer,
) -> anyhow::Result<Option<ClusterDetails>> {
    let mut matches: Vec<ClusterDetails> = client
        .clusters()
        .list()
        .await?
        .into_iter()
        .filter(|c| c.fields.custom_tags.get(DEPLOY_TAG) == Some(&r.tag_value))
        .filter(|c| {
            r.target == Target::Prod
                || c.creator_user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(&who.user_name))
        })
        .collect();
    matches.sort_by(|a, b| a.cluster_id.cmp(&b.cluster_id));
    if matches.len() > 1 {
        let ids: Vec<&str> = matches.iter().map(|c| c.cluster_id.as_str()).collect();
        eprintln!(
            "kiln cluster: several clusters carry the tag {DEPLOY_TAG}={}: {}; using {}",
            r.tag_value,
            ids.join(", "),
            ids[0]
        );
    }
    Ok(matches.into_iter().next())
}

fn state_of(c: &ClusterDetails) -> ClusterState {
    c.state.unwrap_or(ClusterState::Unknown)
}

fn reason_text(c: &ClusterDetails) -> (String, String) {
    let Some(r) = &c.termination_reason else {
        return (
            c.state_message
                .clone()
                .unwrap_or_else(|| "no reason given".into()),
            String::new(),
        );
    };
    let code = r["code"].as_str().unwrap_or("UNKNOWN");
    let msg = r["parameters"]["databricks_error_message"]
        .as_str()
        .unwrap_or_default();
    let hint = match code {
        "INIT_SCRIPT_FAILURE" => "kiln's init script failed (or could not be read).",
        "SECRET_RESOLUTION_ERROR" => {
            "The token's secret reference does not resolve: check the scope and key, and that the cluster's owner has READ on the scope."
        }
        _ => "",
    };
    (format!("{code}: {msg}"), hint.to_owned())
}

/// Waits for `RUNNING`, printing each state change; fails on `TERMINATED` / `ERROR`.
pub async fn wait_running(
    client: &Client,
    id: &str,
    timeout: Duration,
) -> Result<ClusterDetails, DeployError> {
    let started = Instant::now();
    let mut last: Option<(ClusterState, String)> = None;
    loop {
        let c = client
            .clusters()
            .get(id)
            .await
            .map_err(anyhow::Error::from)?;
        let state = state_of(&c);
        let msg = c.state_message.clone().unwrap_or_default();
        if last.as_ref() != Some(&(state, msg.clone())) {
            let secs = started.elapsed().as_secs();
            if msg.is_empty() {
                println!("[{secs:>4} s] {id}: {state}");
            } else {
                println!("[{secs:>4} s] {id}: {state} ({msg})");
            }
            last = Some((state, msg));
        }
        match state {
            ClusterState::Running => return Ok(c),
            ClusterState::Terminated | ClusterState::Error => {
                let (reason, hint) = reason_text(&c);
                return Err(DeployError::StartFailed {
                    cluster_id: id.to_owned(),
                    reason,
                    hint,
                });
            }
            _ => {}
        }
        if started.elapsed() >= timeout {
            return Err(DeployError::Timeout {
                cluster_id: id.to_owned(),
                state: state.to_string(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the cluster is in a state that allows `edit` (RUNNING or TERMINATED).
async fn wait_editable(
    client: &Client,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<ClusterState> {
    let started = Instant::now();
    loop {
        let state = state_of(&client.clusters().get(id).await?);
        if matches!(state, ClusterState::Running | ClusterState::Terminated) {
            return Ok(state);
        }
        if started.elapsed() >= timeout {
            anyhow::bail!(
                "cluster {id} is still {state}; try again once it is RUNNING or TERMINATED"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs `kiln cluster deploy`.
pub async fn deploy(a: DeployArgs) -> Result<(), DeployError> {
    let target = a.place.target;
    let s = a.settings.settings(&a.place.name, target);
    let (client, who) = connect(a.place.profile.as_deref()).await?;
    let r = bundle::resolve(&s, target, &who);
    println!(
        "deploying {target} to {} as {} (script and binary in {})",
        who.host, who.user_name, r.source_dir
    );
    check_secret(&client, &s).await?;

    let (_, bin) = a.binary.load()?;
    let sha = script::sha256_bytes(&bin);
    let text = script::render(&sha);
    upload(
        &client,
        &s,
        &r,
        [
            (SCRIPT_NAME, Bytes::from(text)),
            (BINARY_NAME, Bytes::from(bin)),
        ],
    )
    .await?;

    let timeout = Duration::from_secs(a.timeout_secs);
    let id = match find(&client, &r, &who).await? {
        Some(existing) => {
            let id = existing.cluster_id.clone();
            let state = wait_editable(&client, &id, timeout).await?;
            client
                .clusters()
                .edit(&id, &r.spec)
                .await
                .map_err(anyhow::Error::from)?;
            println!("updated cluster {id} (it was {state}; a running cluster restarts)");
            if a.start && state == ClusterState::Terminated {
                client
                    .clusters()
                    .start(&id)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            id
        }
        None => {
            let id = client.clusters().create(&r.spec).await.map_err(|e| {
                permission(
                    "a cluster",
                    &e,
                    "You need the allow-cluster-create entitlement or a cluster policy that permits this spec",
                )
                .unwrap_or_else(|| DeployError::Other(e.into()))
            })?;
            println!("created cluster {id} (creating a cluster starts it)");
            id
        }
    };
    if a.start {
        wait_running(&client, &id, timeout).await?;
        println!("cluster {id} is RUNNING: open a web terminal or a notebook %sh and run `claude`");
    } else {
        println!("`kiln cluster status --target {target}` shows its state");
    }
    Ok(())
}

/// Arguments of `kiln cluster status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub place: WhereArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Runs `kiln cluster status`.
pub async fn status(a: StatusArgs) -> anyhow::Result<()> {
    let target = a.place.target;
    let s = a.settings.settings(&a.place.name, target);
    let (client, who) = connect(a.place.profile.as_deref()).await?;
    let r = bundle::resolve(&s, target, &who);
    println!("target:     {target} ({} as {})", who.host, who.user_name);
    for name in [SCRIPT_NAME, BINARY_NAME] {
        let path = format!("{}/{name}", r.source_dir);
        let present = if r.in_volume {
            client.files().metadata(&path).await.is_ok()
        } else {
            client.workspace().get_status(&path).await.is_ok()
        };
        println!(
            "{:<11} {path} ({})",
            format!("{name}:"),
            if present {
                "uploaded"
            } else {
                "missing: run kiln cluster deploy"
            }
        );
    }
    let Some(c) = find(&client, &r, &who).await? else {
        println!(
            "cluster:    none (tag {DEPLOY_TAG}={}); run `kiln cluster deploy --target {target}`",
            r.tag_value
        );
        return Ok(());
    };
    let f = &c.fields;
    println!(
        "cluster:    {} {:?}",
        c.cluster_id,
        f.cluster_name.as_deref().unwrap_or("")
    );
    let mut state = state_of(&c).to_string();
    if let Some(m) = c.state_message.as_deref().filter(|m| !m.is_empty()) {
        state = format!("{state} ({m})");
    }
    println!("state:      {state}");
    if state_of(&c) == ClusterState::Terminated {
        let (reason, hint) = reason_text(&c);
        println!("stopped:    {reason} {hint}");
    }
    println!(
        "node type:  {}   access mode: {}   runtime: {}",
        f.node_type_id.as_deref().unwrap_or("?"),
        f.data_security_mode.as_deref().unwrap_or("?"),
        f.spark_version
    );
    println!(
        "page:       {}/#setting/clusters/{}/configuration",
        who.host, c.cluster_id
    );
    Ok(())
}
