//! App permissions (`CAN_MANAGE`, `CAN_USE`): who may open an app through its proxy and who
//! may change it, and the Permissions API routes `GET/PUT/PATCH /api/2.0/permissions/apps/
//! {name}` and `…/permissionLevels` (reference §5.1). The creator holds `CAN_MANAGE`, workspace
//! admins inherit it; grants go to users, service principals or the `users` / `admins` groups
//! (the grants themselves are `acl`, who holds what `App::level_of`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::acl::{Grant, Grantee, Level};
use super::model::App;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::principals::Caller;
use crate::world::{Shared, World};

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/api/2.0/permissions/apps/{name}",
            get(get_permissions)
                .put(put_permissions)
                .patch(patch_permissions),
        )
        .route(
            "/api/2.0/permissions/apps/{name}/permissionLevels",
            get(levels),
        )
}

fn no_such_app(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "App with name {name} does not exist or is deleted."
    ))
}

fn caller_level(w: &World, caller: &Caller, app: &App) -> Option<Level> {
    w.principals.get(&caller.id).and_then(|p| app.level_of(p))
}

/// ObjectPermissions JSON.
fn render(app: &App) -> Value {
    let mut acl = vec![json!({
        "user_name": app.creator,
        "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": false}],
    })];
    for g in &app.acl {
        let (key, name) = match &g.grantee {
            Grantee::User(u) => ("user_name", u),
            Grantee::ServicePrincipal(s) => ("service_principal_name", s),
            Grantee::Group(g) => ("group_name", g),
        };
        acl.push(json!({
            key: name,
            "all_permissions": [{"permission_level": g.level.as_str(), "inherited": false}],
        }));
    }
    acl.push(json!({
        "group_name": "admins",
        "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": true,
                             "inherited_from_object": ["/apps/"]}],
    }));
    json!({
        "object_id": format!("/apps/{}", app.id),
        "object_type": "apps",
        "access_control_list": acl,
    })
}

async fn get_permissions(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let w = shared.world();
    let app = w
        .apps
        .by_name
        .get(&name)
        .ok_or_else(|| no_such_app(&name))?;
    if caller_level(&w, &caller, app).is_none() {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission to view permissions of app {name}.",
            caller.user_name
        )));
    }
    Ok(Json(render(app)))
}

async fn levels(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if !shared.world().apps.by_name.contains_key(&name) {
        return Err(no_such_app(&name));
    }
    Ok(Json(json!({"permission_levels": [
        {"permission_level": "CAN_MANAGE", "description": "Can manage, deploy and use the app"},
        {"permission_level": "CAN_USE", "description": "Can use the app"},
    ]})))
}

async fn put_permissions(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    change(&shared, &caller, &name, &body, true)
}

async fn patch_permissions(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Json<Value>> {
    change(&shared, &caller, &name, &body, false)
}

fn change(
    shared: &Shared,
    caller: &Caller,
    name: &str,
    body: &Value,
    replace: bool,
) -> ApiResult<Json<Value>> {
    let mut w = shared.world();
    let app = w.apps.by_name.get(name).ok_or_else(|| no_such_app(name))?;
    if caller_level(&w, caller, app) != Some(Level::CanManage) {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have permission CAN_MANAGE on app {name}.",
            caller.user_name
        )));
    }
    let entries = body["access_control_list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let grants = entries
        .iter()
        .map(|e| parse_grant(&w, e))
        .collect::<ApiResult<Vec<Grant>>>()?;
    let app = w
        .apps
        .by_name
        .get_mut(name)
        .ok_or_else(|| no_such_app(name))?;
    if replace {
        app.acl.clear();
    }
    for g in grants {
        app.acl.retain(|x| x.grantee != g.grantee);
        app.acl.push(g);
    }
    tracing::info!(app = %name, grants = app.acl.len(), "app permissions changed");
    Ok(Json(render(app)))
}

fn parse_grant(w: &World, e: &Value) -> ApiResult<Grant> {
    let level = e["permission_level"]
        .as_str()
        .and_then(Level::parse)
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "Invalid permission level {} for apps; use CAN_MANAGE or CAN_USE.",
                e["permission_level"]
            ))
        })?;
    let grantee = match (
        e["user_name"].as_str(),
        e["service_principal_name"].as_str(),
        e["group_name"].as_str(),
    ) {
        (Some(u), None, None) => match w.principal_by_name(u) {
            Some(p) if !p.is_sp() => Grantee::User(p.user_name.clone()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "Principal: UserName({u}) does not exist"
                )));
            }
        },
        (None, Some(s), None) => match w.principal_by_name(s) {
            Some(p) if p.is_sp() => Grantee::ServicePrincipal(p.user_name.clone()),
            _ => {
                return Err(ApiError::invalid(format!(
                    "Principal: ServicePrincipal({s}) does not exist"
                )));
            }
        },
        (None, None, Some(g)) if g == "users" || g == "admins" => Grantee::Group(g.to_string()),
        (None, None, Some(g)) => {
            return Err(ApiError::invalid(format!(
                "Principal: GroupName({g}) does not exist"
            )));
        }
        _ => {
            return Err(ApiError::invalid(
                "Each access control entry needs exactly one of user_name, group_name or service_principal_name.",
            ));
        }
    };
    Ok(Grant { grantee, level })
}
