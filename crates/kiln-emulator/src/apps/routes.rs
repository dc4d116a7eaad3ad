//! Apps REST routes: create, get, list, update, delete, start, stop, deploy, get/list
//! deployments. Users may read every app; a service principal may read only its own app,
//! and only while `Settings::sp_can_read_own_app` is on. Deploy, stop, start and delete drive
//! the runtime (`super::runtime`); a deployment that cannot start a process (bad source, bad
//! `app.yaml`) fails on the emulator clock instead.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::acl::Level;
use super::appyaml;
use super::deploy::{launch_spec, snapshot};
use super::model::{App, Compute, DeployState, Deployment, RunState, secs_ms};
use super::proxy;
use super::store::insert_app;
use super::supervisor::{self, Start};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params, parse_bool};
use crate::ids;
use crate::principals::Caller;
use crate::workspace::access::can_read;
use crate::workspace::tree::normalize;
use crate::world::{Shared, World};

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/apps", post(create).get(list))
        .route(
            "/api/2.0/apps/{name}",
            get(get_app).patch(update).delete(delete),
        )
        .route("/api/2.0/apps/{name}/start", post(start))
        .route("/api/2.0/apps/{name}/stop", post(stop))
        .route(
            "/api/2.0/apps/{name}/deployments",
            post(deploy).get(list_deployments),
        )
        .route(
            "/api/2.0/apps/{name}/deployments/{deployment_id}",
            get(get_deployment),
        )
}

fn no_such_app(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "App with name {name} does not exist or is deleted."
    ))
}

/// Finds an app the caller may see.
fn visible<'a>(w: &'a World, caller: &Caller, name: &str) -> ApiResult<&'a App> {
    let app = w.apps.by_name.get(name).ok_or_else(|| no_such_app(name))?;
    if caller.is_sp && !caller.admin {
        let own = app.sp_id == caller.id;
        if !own || !w.settings.sp_can_read_own_app {
            return Err(ApiError::permission_denied(format!(
                "Principal {} does not have permission CAN_VIEW on app {name}.",
                caller.user_name
            )));
        }
    }
    Ok(app)
}

/// Finds an app the caller may change (creator, admins, or its own SP when readable).
fn manageable<'a>(w: &'a mut World, caller: &Caller, name: &str) -> ApiResult<&'a mut App> {
    visible(w, caller, name)?;
    let level = w
        .principals
        .get(&caller.id)
        .and_then(|p| w.apps.by_name.get(name).and_then(|a| a.level_of(p)));
    let app = w
        .apps
        .by_name
        .get_mut(name)
        .ok_or_else(|| no_such_app(name))?;
    if !caller.is_sp && level != Some(Level::CanManage) {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission CAN_MANAGE on app {name}.",
            caller.user_name
        )));
    }
    Ok(app)
}

fn valid_name(name: &str) -> bool {
    (2..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

#[derive(Deserialize)]
struct CreateQuery {
    no_compute: Option<String>,
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<CreateQuery>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("Missing required field: name"));
    }
    if !valid_name(&name) {
        return Err(ApiError::invalid(format!(
            "Invalid app name {name}: names must be 2-30 characters of lowercase letters, digits and hyphens, and must not start or end with a hyphen."
        )));
    }
    let no_compute = parse_bool(q.no_compute.as_deref()).unwrap_or(false);
    let now = shared.now_ms();
    let mut w = shared.world();
    if w.apps.by_name.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "RESOURCE_ALREADY_EXISTS",
            format!("An app with the same name already exists: {name}"),
        ));
    }
    let url = proxy::open(&shared, &name).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("Could not open the app's proxy: {e}"),
        )
    })?;
    let description = body["description"].as_str().map(str::to_string);
    insert_app(
        &mut w,
        &name,
        &caller.user_name,
        description,
        None,
        None,
        now,
        false,
    );
    let start_secs = w.delays.app_start_secs;
    let app = w
        .apps
        .by_name
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    app.url = url;
    apply_update(app, &body);
    if !no_compute {
        app.transition(now, Compute::Starting, Compute::Active, start_secs);
    }
    tracing::info!(app = %name, creator = %caller.user_name, "app created");
    Ok(Json(app.render()))
}

fn apply_update(app: &mut App, body: &Value) {
    if let Some(d) = body.get("description").and_then(Value::as_str) {
        app.description = Some(d.to_string());
    }
    if let Some(s) = body.get("user_api_scopes").filter(|v| v.is_array()) {
        app.user_api_scopes = Some(s.clone());
    }
    if let Some(r) = body.get("resources").filter(|v| v.is_array()) {
        app.resources = Some(r.clone());
    }
    if let Some(c) = body.get("compute_size").and_then(Value::as_str) {
        app.compute_size = c.to_string();
    }
}

async fn get_app(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = shared.world();
    Ok(Json(visible(&w, &caller, &name)?.render()))
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ListQuery>,
) -> Json<Value> {
    let w = shared.world();
    let names: Vec<&String> = w
        .apps
        .by_name
        .keys()
        .filter(|n| visible(&w, &caller, n).is_ok())
        .filter(|n| {
            q.page_token
                .as_ref()
                .is_none_or(|t| n.as_str() > t.as_str())
        })
        .collect();
    let size = q.page_size.filter(|n| *n > 0).unwrap_or(100);
    let page: Vec<Value> = names
        .iter()
        .take(size)
        .filter_map(|n| w.apps.by_name.get(*n).map(|a| a.render()))
        .collect();
    let mut body = json!({});
    if !page.is_empty() {
        body["apps"] = json!(page);
    }
    if names.len() > size
        && let Some(last) = names.get(size - 1)
    {
        body["next_page_token"] = json!(last);
    }
    Json(body)
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let app = manageable(&mut w, &caller, &name)?;
    apply_update(app, &body);
    app.updater = caller.user_name.clone();
    app.update_ms = now;
    Ok(Json(app.render()))
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.app_delete_secs;
    let app = manageable(&mut w, &caller, &name)?;
    if app.compute == Compute::Deleting {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!(
                "Cannot delete app {name} as it is not terminal with state DELETING, and was updated less than 20 minutes ago. Please wait before trying again."
            ),
        ));
    }
    app.transition(now, Compute::Deleting, Compute::Deleting, secs);
    app.run = RunState::Idle;
    tracing::info!(app = %name, "app deleting");
    let rendered = app.render();
    drop(w);
    shared.runtime.remove(&name);
    Ok(Json(rendered))
}

async fn start(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.app_start_secs;
    let app = manageable(&mut w, &caller, &name)?;
    match app.compute {
        Compute::Stopped => {
            app.transition(now, Compute::Starting, Compute::Active, secs);
            app.run = RunState::Idle;
            if app.active().is_some_and(|d| d.spec.is_some()) {
                supervisor::restart_when_active(&shared, &name);
            }
        }
        Compute::Active | Compute::Starting => {}
        other => {
            return Err(ApiError::invalid_state(format!(
                "Cannot start app {name} while its compute is {other:?}."
            )));
        }
    }
    Ok(Json(app.render()))
}

async fn stop(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.app_stop_secs;
    let app = manageable(&mut w, &caller, &name)?;
    match app.compute {
        Compute::Active | Compute::Starting => {
            app.transition(now, Compute::Stopping, Compute::Stopped, secs);
            // With a process, the compute is STOPPED once the process is gone.
            if shared.runtime.stop(&name) {
                app.compute_next = None;
            }
        }
        Compute::Stopped | Compute::Stopping => {}
        Compute::Deleting => {
            return Err(ApiError::invalid_state(format!(
                "Cannot stop app {name} while it is being deleted."
            )));
        }
    }
    Ok(Json(app.render()))
}

#[derive(Deserialize)]
struct DeployBody {
    source_code_path: Option<String>,
    mode: Option<String>,
    command: Option<Value>,
    env_vars: Option<Vec<Value>>,
}

async fn deploy(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<DeployBody>,
) -> ApiResult<Json<Value>> {
    let source = body
        .source_code_path
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: source_code_path"))?;
    let mode = body.mode.unwrap_or_else(|| "SNAPSHOT".into());
    if mode != "SNAPSHOT" && mode != "AUTO_SYNC" {
        return Err(ApiError::invalid(format!(
            "Invalid deployment mode: {mode}"
        )));
    }
    if let Some(c) = &body.command {
        appyaml::command_override(c)
            .map_err(|e| ApiError::invalid(format!("Invalid command: {e}")))?;
    }
    let overrides = appyaml::env_overrides(body.env_vars.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::invalid(format!("Invalid env_vars: {e}")))?;
    let src_norm = normalize(&source)?;
    if !can_read(&caller, &src_norm) {
        return Err(ApiError::permission_denied(format!(
            "{} does not have Read permissions on {source}.",
            caller.user_name
        )));
    }
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.app_deploy_secs;
    let (client_id, compute, deploying) = {
        let app = manageable(&mut w, &caller, &name)?;
        (app.sp_client_id.clone(), app.compute, app.deploying())
    };
    if compute != Compute::Active {
        return Err(ApiError::invalid_state(format!(
            "Cannot deploy app {name} as its compute is not active. Start the app first."
        )));
    }
    if deploying {
        return Err(ApiError::invalid_state(format!(
            "Cannot deploy app {name}: a deployment is already in progress."
        )));
    }
    let id = ids::hex(16);
    let artifacts = format!("/Workspace/Users/{client_id}/src/{id}");
    let spec = snapshot(&mut w, &source, &artifacts, now).and_then(|()| {
        let app = w.apps.by_name.get(&name).ok_or("The app is gone.")?;
        launch_spec(&w, app, &artifacts, body.command.as_ref(), &overrides)
    });
    let (outcome, spec) = match spec {
        Ok(s) => (None, Some(Arc::new(s))),
        Err(msg) => (Some((DeployState::Failed, msg)), None),
    };
    let d = Deployment {
        id: id.clone(),
        source_code_path: source,
        mode,
        state: DeployState::InProgress,
        message: "Deployment is in progress.".into(),
        outcome,
        done_ms: now + secs_ms(secs),
        spec: spec.clone(),
        artifacts_path: artifacts,
        creator: caller.user_name.clone(),
        create_ms: now,
        update_ms: now,
        command: body.command,
        env_var_names: overrides.iter().map(|e| e.name.clone()).collect(),
    };
    let rendered = d.render();
    let app = w
        .apps
        .by_name
        .get_mut(&name)
        .ok_or_else(|| no_such_app(&name))?;
    app.deployments.push(d);
    app.update_ms = now;
    drop(w);
    if let Some(spec) = spec {
        supervisor::launch(&shared, &name, Start::Deploy(id), spec);
    }
    tracing::info!(app = %name, "app deployment started");
    Ok(Json(rendered))
}

async fn get_deployment(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path((name, deployment_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let w = shared.world();
    let app = visible(&w, &caller, &name)?;
    let d = app
        .deployments
        .iter()
        .find(|d| d.id == deployment_id)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Deployment {deployment_id} does not exist for app {name}."
            ))
        })?;
    Ok(Json(d.render()))
}

async fn list_deployments(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = shared.world();
    let app = visible(&w, &caller, &name)?;
    let all: Vec<Value> = app
        .deployments
        .iter()
        .rev()
        .map(Deployment::render)
        .collect();
    if all.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "app_deployments": all })))
}
