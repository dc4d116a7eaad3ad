//! SCIM `Me` (`GET /api/2.0/preview/scim/v2/Me`) for users and service principals, with
//! `attributes` / `excludedAttributes` filtering.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::extract::Params;
use crate::principals::{Caller, Principal};
use crate::world::Shared;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const WORKSPACE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:workspace:2.0:User";
const USERS_GROUP_ID: &str = "1111222233334444";
const ADMINS_GROUP_ID: &str = "5555666677778888";

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new().route("/api/2.0/preview/scim/v2/Me", get(me))
}

#[derive(Deserialize)]
struct MeQuery {
    attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    excluded_attributes: Option<String>,
}

async fn me(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<MeQuery>,
) -> ApiResult<Json<Value>> {
    let p = shared
        .world()
        .principals
        .get(&caller.id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("User not found"))?;
    let mut doc = render(&p);
    filter(
        &mut doc,
        q.attributes.as_deref(),
        q.excluded_attributes.as_deref(),
    );
    Ok(Json(Value::Object(doc)))
}

/// The SCIM User document for a principal.
pub fn render(p: &Principal) -> Map<String, Value> {
    let mut groups = vec![json!({
        "display": "users", "type": "direct", "value": USERS_GROUP_ID,
        "$ref": format!("Groups/{USERS_GROUP_ID}")
    })];
    if p.admin {
        groups.push(json!({
            "display": "admins", "type": "direct", "value": ADMINS_GROUP_ID,
            "$ref": format!("Groups/{ADMINS_GROUP_ID}")
        }));
    }
    let mut doc = json!({
        "schemas": [USER_SCHEMA, WORKSPACE_USER_SCHEMA],
        "id": p.id.to_string(),
        "userName": p.user_name,
        "displayName": p.display_name,
        "active": true,
        "groups": groups,
        "entitlements": [{"value": "workspace-access"}, {"value": "databricks-sql-access"}],
    });
    if !p.is_sp() {
        let mut parts = p.display_name.splitn(2, ' ');
        let given = parts.next().unwrap_or_default();
        let family = parts.next().unwrap_or_default();
        doc["name"] = json!({"givenName": given, "familyName": family});
        doc["emails"] = json!([{"type": "work", "value": p.user_name, "primary": true}]);
    }
    match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// SCIM attribute selection; `id` and `schemas` are always returned.
fn filter(doc: &mut Map<String, Value>, attributes: Option<&str>, excluded: Option<&str>) {
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|a| a.trim().to_ascii_lowercase())
            .filter(|a| !a.is_empty())
            .collect()
    };
    if let Some(attrs) = attributes.map(split).filter(|a| !a.is_empty()) {
        doc.retain(|k, _| k == "id" || k == "schemas" || attrs.contains(&k.to_ascii_lowercase()));
    }
    if let Some(ex) = excluded.map(split) {
        doc.retain(|k, _| k == "id" || k == "schemas" || !ex.contains(&k.to_ascii_lowercase()));
    }
}
