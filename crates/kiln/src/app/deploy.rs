//! `kiln app deploy`: who am I -> is the name free or mine -> write the source (only changes)
//! -> create the app when missing -> wait for its compute to be `ACTIVE` (starting it when
//! stopped) -> deploy a `SNAPSHOT` -> wait for `SUCCEEDED` -> print the URL. One progress line
//! per step. Every failure after the first change to the workspace says what it left behind and
//! how to finish or undo it ([`Leftover`]).

use super::error::{AppError, AppLeft, Leftover};
use super::progress::{self, Progress};
use super::source::AppSource;
use super::upload::{self, UploadError};
use kiln_databricks::api::apps::{App, AppDeployment, ComputeState, DeploymentState, EnvVar};
use kiln_databricks::{Client, Error};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to deploy where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// App name (already checked).
    pub name: String,
    /// Workspace folder for the source; default `/Workspace/Users/<me>/apps/<name>`.
    pub source_code_path: Option<String>,
    /// Longest wait for each of compute and deployment.
    pub timeout: Duration,
    /// `" --profile P"` or empty, repeated in suggested commands.
    pub profile_flag: String,
    /// Environment sent with the deployment (overrides app.yaml).
    pub env: Vec<(String, String)>,
}

/// A finished deployment.
#[derive(Debug, Clone)]
pub struct Deployed {
    /// The app's URL.
    pub url: String,
    /// Deployment id.
    pub deployment_id: String,
    /// Where the source is.
    pub source_code_path: String,
    /// What the upload did.
    pub upload: upload::Report,
}

/// Where a deploy is, shared with the caller so an interruption can be reported.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    /// The step under way.
    pub step: String,
    /// What exists so far.
    pub leftover: Leftover,
}

/// A shared tracker.
pub type SharedTracker = Arc<Mutex<Tracker>>;

fn set_step(t: &SharedTracker, step: &str) {
    if let Ok(mut t) = t.lock() {
        t.step = step.to_owned();
    }
}

fn leftover(t: &SharedTracker) -> Leftover {
    t.lock().map(|t| t.leftover.clone()).unwrap_or_default()
}

fn describe(app: &App) -> String {
    let compute = app
        .compute_status
        .as_ref()
        .map_or("UNKNOWN".into(), |s| state_name(s.state));
    let state = app
        .app_status
        .as_ref()
        .map_or("UNKNOWN".into(), |s| state_name(s.state));
    format!("compute {compute}, app {state}")
}

/// `ACTIVE`, `CRASHED`, … from a serde enum.
pub fn state_name<T: serde::Serialize + std::fmt::Debug>(s: T) -> String {
    serde_json::to_value(&s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{s:?}").to_ascii_uppercase())
}

/// Records the app as last seen.
fn note_app(t: &SharedTracker, app: &App, created_now: bool) {
    if let Ok(mut t) = t.lock() {
        let created = created_now || t.leftover.app.as_ref().is_some_and(|a| a.created_now);
        t.leftover.app = Some(AppLeft {
            created_now: created,
            state: describe(app),
            running_deployment: app
                .active_deployment
                .as_ref()
                .and_then(|d| d.deployment_id.clone()),
        });
    }
}

/// Refreshes the app record for the leftover report (best effort).
async fn refresh(client: &Client, t: &SharedTracker, name: &str) {
    if let Ok(app) = client.apps().get(name).await {
        note_app(t, &app, false);
    }
}

fn step_error(t: &SharedTracker, step: &str, error: Error) -> AppError {
    let leftover = leftover(t);
    match error.root() {
        Error::PermissionDenied(_) if !error.is_auth_failure() => AppError::NoPermission {
            what: step.to_owned(),
            error: Box::new(error),
            hint: "Ask a workspace admin for the permission, or use a folder and an app name \
                   you own (--source-code-path, NAME)."
                .into(),
            leftover: Box::new(leftover),
        },
        Error::WaitTimeout {
            timeout,
            last_state,
            ..
        } => AppError::Timeout {
            step: step.to_owned(),
            secs: timeout.as_secs(),
            last_state: last_state.clone(),
            leftover: Box::new(leftover),
        },
        _ => AppError::Step {
            step: step.to_owned(),
            error: Box::new(error),
            leftover: Box::new(leftover),
        },
    }
}

/// Runs the deploy. `tracker` is updated as it goes (read it if the future is dropped).
pub async fn run(
    client: &Client,
    plan: &Plan,
    source: &AppSource,
    progress: &Progress,
    tracker: SharedTracker,
) -> Result<Deployed, AppError> {
    let name = plan.name.as_str();
    if let Ok(mut t) = tracker.lock() {
        t.leftover = Leftover {
            name: name.to_owned(),
            profile_flag: plan.profile_flag.clone(),
            ..Leftover::default()
        };
    }
    let t = &tracker;

    set_step(t, "asking the workspace who you are");
    let me = client.scim().me().await.map_err(|error| {
        if error.is_auth_failure() {
            AppError::Refused {
                error: Box::new(error),
                profile_flag: plan.profile_flag.clone(),
            }
        } else {
            step_error(t, "asking the workspace who you are", error)
        }
    })?;
    progress.step(format!(
        "signed in to {} as {}",
        client.host(),
        me.user_name
    ));

    set_step(t, "looking up the app");
    let existing = match client.apps().get(name).await {
        Ok(app) => Some(app),
        Err(e) if e.is_not_found() => None,
        Err(e) if matches!(e.root(), Error::PermissionDenied(_)) && !e.is_auth_failure() => {
            return Err(AppError::NoPermission {
                what: format!("reading the app {name}"),
                error: Box::new(e),
                hint: format!(
                    "The name may belong to an app of someone else: choose another name, e.g. \
                     `kiln app deploy {name}-2`."
                ),
                leftover: Box::new(leftover(t)),
            });
        }
        Err(e) => return Err(step_error(t, "looking up the app", e)),
    };
    if let Some(app) = &existing {
        let owner = app.creator.clone().unwrap_or_default();
        if !owner.eq_ignore_ascii_case(&me.user_name) {
            return Err(AppError::TakenByOther {
                name: name.to_owned(),
                owner: if owner.is_empty() {
                    "an unknown user".into()
                } else {
                    owner
                },
            });
        }
        if app.compute_state() == Some(ComputeState::Deleting) {
            return Err(AppError::Usage(format!(
                "the app {name} is being deleted; wait until it is gone (`kiln app status {name}` \
                 says it does not exist), then deploy again"
            )));
        }
        progress.step(format!(
            "app {name} exists ({}); deploying a new version",
            describe(app)
        ));
    } else {
        progress.step(format!("app {name} does not exist yet; it will be created"));
    }

    let root = match &plan.source_code_path {
        Some(p) => p.trim_end_matches('/').to_owned(),
        None => format!("/Workspace/Users/{}/apps/{name}", me.user_name),
    };
    let upload_step = format!("writing the app source to {root}");
    set_step(t, &upload_step);
    if let Ok(mut tr) = t.lock() {
        tr.leftover.source_path = Some(root.clone());
    }
    if let Some(app) = &existing {
        note_app(t, app, false);
    }
    let report = upload::sync(client, &root, source)
        .await
        .map_err(|e| match e {
            UploadError::NotAFolder(_) => AppError::Usage(e.to_string()),
            UploadError::Call { what, error } => step_error(t, &what, error),
        })?;
    if report.uploaded.is_empty() && report.deleted.is_empty() {
        progress.step(format!(
            "app source in {root} is up to date ({} files unchanged)",
            report.unchanged
        ));
    } else {
        progress.step(format!(
            "uploaded {} of {} files ({}) to {root}; {} unchanged{}",
            report.uploaded.len(),
            source.files.len(),
            progress::bytes(report.uploaded_bytes),
            report.unchanged,
            if report.deleted.is_empty() {
                String::new()
            } else {
                format!(", {} removed", report.deleted.len())
            }
        ));
    }

    let app = match existing {
        Some(app) => app,
        None => {
            set_step(t, "creating the app");
            let request = App {
                name: name.to_owned(),
                description: Some("kiln: a browser terminal for coding agents".into()),
                ..App::default()
            };
            match client.apps().create(&request, false).await {
                Ok(app) => {
                    note_app(t, &app, true);
                    progress.step(format!("created app {name} ({})", describe(&app)));
                    app
                }
                Err(e) if e.is_already_exists() => {
                    // Someone created it between our look-up and now.
                    let app = client
                        .apps()
                        .get(name)
                        .await
                        .map_err(|e| step_error(t, "looking up the app", e))?;
                    let owner = app.creator.clone().unwrap_or_default();
                    if !owner.eq_ignore_ascii_case(&me.user_name) {
                        return Err(AppError::TakenByOther {
                            name: name.to_owned(),
                            owner,
                        });
                    }
                    note_app(t, &app, false);
                    app
                }
                Err(e) if matches!(e.root(), Error::InvalidParameter(_)) => {
                    return Err(AppError::Usage(format!(
                        "the workspace refused the app name {name}: {e}"
                    )));
                }
                Err(e) => return Err(step_error(t, "creating the app", e)),
            }
        }
    };

    let waiting = format!("waiting for the compute of {name} to be ACTIVE");
    set_step(t, &waiting);
    match app.compute_state() {
        Some(ComputeState::Active) => progress.step("compute is ACTIVE"),
        Some(ComputeState::Stopped | ComputeState::Error) => {
            client
                .apps()
                .start(name)
                .await
                .map_err(|e| step_error(t, "starting the app's compute", e))?;
            progress.step("compute was stopped; starting it");
        }
        _ => {}
    }
    if app.compute_state() != Some(ComputeState::Active) {
        let active = client
            .apps()
            .wait_for_compute(name, ComputeState::Active, plan.timeout)
            .await;
        refresh(client, t, name).await;
        let active = active.map_err(|e| step_error(t, &waiting, e))?;
        note_app(t, &active, false);
        progress.step("compute is ACTIVE");
    }

    if let Some(pending) = app
        .pending_deployment
        .as_ref()
        .filter(|d| d.state() == Some(DeploymentState::InProgress))
        .and_then(|d| d.deployment_id.clone())
    {
        let step = format!("waiting for the deployment {pending} already in progress");
        set_step(t, &step);
        progress.step(&step);
        // Its outcome does not matter (ours replaces it), only that it is over.
        if let Err(e @ Error::WaitTimeout { .. }) = client
            .apps()
            .wait_for_deployment(name, &pending, plan.timeout)
            .await
        {
            return Err(step_error(t, &step, e));
        }
    }

    set_step(t, "starting the deployment");
    let request = AppDeployment {
        source_code_path: Some(root.clone()),
        mode: Some("SNAPSHOT".into()),
        env_vars: (!plan.env.is_empty()).then(|| {
            plan.env
                .iter()
                .map(|(k, v)| EnvVar {
                    name: k.clone(),
                    value: Some(v.clone()),
                    value_from: None,
                })
                .collect()
        }),
        ..AppDeployment::default()
    };
    let started = client
        .apps()
        .deploy(name, &request)
        .await
        .map_err(|e| step_error(t, "starting the deployment", e))?;
    let id = started.deployment_id.clone().unwrap_or_default();
    progress.step(format!("deployment {id} started (SNAPSHOT of {root})"));

    let step = format!("waiting for the deployment {id} to succeed");
    set_step(t, &step);
    let done = client
        .apps()
        .wait_for_deployment(name, &id, plan.timeout)
        .await;
    refresh(client, t, name).await;
    let done = match done {
        Ok(d) => d,
        Err(Error::WaitFailed { message, .. }) => {
            let app = client.apps().get(name).await.ok();
            let app_message = app
                .as_ref()
                .and_then(|a| a.app_status.as_ref())
                .and_then(|s| s.message.clone())
                .filter(|m| !m.is_empty() && *m != message)
                .map(|m| format!("; app: {m}"))
                .unwrap_or_default();
            return Err(AppError::DeployFailed {
                name: name.to_owned(),
                deployment: id,
                message,
                app_message,
                leftover: Box::new(leftover(t)),
            });
        }
        Err(e) => return Err(step_error(t, &step, e)),
    };
    let message = done
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    progress.step(format!("deployment {id} SUCCEEDED: {message}"));
    let url = client
        .apps()
        .get(name)
        .await
        .ok()
        .and_then(|a| a.url)
        .unwrap_or_default();
    progress.step(format!("{name} is live at {url}"));
    Ok(Deployed {
        url,
        deployment_id: id,
        source_code_path: root,
        upload: report,
    })
}
