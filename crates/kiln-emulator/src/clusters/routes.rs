//! Clusters REST routes (`/api/2.0/clusters/*` and `/api/2.1/clusters/*`): create, edit,
//! update, get, list, start, restart, delete (terminate), permanent-delete, spark-versions,
//! list-node-types. Unknown ids answer 400 `INVALID_PARAMETER_VALUE` "Cluster … does not
//! exist" like the real service; wrong states answer 400 `INVALID_STATE`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::model::{Cluster, State as S};
use crate::clock::mmdd_hhmmss;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params};
use crate::ids;
use crate::principals::Caller;
use crate::world::{Shared, World};

/// Routes of this module, under both API versions.
pub fn router() -> Router<Arc<Shared>> {
    let mut r = Router::new();
    for v in ["2.0", "2.1"] {
        let p = format!("/api/{v}/clusters");
        r = r
            .route(&format!("{p}/create"), post(create))
            .route(&format!("{p}/edit"), post(edit))
            .route(&format!("{p}/update"), post(update))
            .route(&format!("{p}/get"), get(get_cluster))
            .route(&format!("{p}/list"), get(list))
            .route(&format!("{p}/start"), post(start))
            .route(&format!("{p}/restart"), post(restart))
            .route(&format!("{p}/delete"), post(terminate))
            .route(&format!("{p}/permanent-delete"), post(permanent_delete))
            .route(&format!("{p}/spark-versions"), get(spark_versions))
            .route(&format!("{p}/list-node-types"), get(list_node_types));
    }
    r
}

/// Node types offered by `list-node-types`.
pub fn node_types() -> Vec<Value> {
    let nt = |id: &str, mem: i64, cores: f64, cat: &str| {
        json!({"node_type_id": id, "memory_mb": mem, "num_cores": cores, "description": id,
               "instance_type_id": id, "category": cat, "is_deprecated": false})
    };
    vec![
        nt("i3.xlarge", 31_232, 4.0, "Storage Optimized"),
        nt("i3.2xlarge", 62_464, 8.0, "Storage Optimized"),
        nt("m5d.large", 8_192, 2.0, "General Purpose"),
        nt("m5d.xlarge", 16_384, 4.0, "General Purpose"),
        nt("m5d.2xlarge", 32_768, 8.0, "General Purpose"),
        nt("m6i.xlarge", 16_384, 4.0, "General Purpose"),
        nt("m6i.2xlarge", 32_768, 8.0, "General Purpose"),
        nt("m6i.4xlarge", 65_536, 16.0, "General Purpose"),
        nt("r5d.xlarge", 32_768, 4.0, "Memory Optimized"),
        nt("Standard_DS3_v2", 14_336, 4.0, "General Purpose"),
        nt("Standard_D4ds_v5", 16_384, 4.0, "General Purpose"),
        nt("n2-highmem-4", 32_768, 4.0, "Memory Optimized"),
    ]
}

fn versions() -> Vec<Value> {
    [
        (
            "17.3.x-scala2.13",
            "17.3 LTS (includes Apache Spark 4.0.0, Scala 2.13)",
        ),
        (
            "16.4.x-scala2.12",
            "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)",
        ),
        (
            "15.4.x-scala2.12",
            "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
        ),
        (
            "15.4.x-cpu-ml-scala2.12",
            "15.4 LTS ML (includes Apache Spark 3.5.0, Scala 2.12)",
        ),
        (
            "14.3.x-scala2.12",
            "14.3 LTS (includes Apache Spark 3.5.0, Scala 2.12)",
        ),
    ]
    .into_iter()
    .map(|(k, n)| json!({"key": k, "name": n}))
    .collect()
}

async fn spark_versions() -> Json<Value> {
    Json(json!({ "versions": versions() }))
}

async fn list_node_types() -> Json<Value> {
    Json(json!({ "node_types": node_types() }))
}

fn no_such(id: &str) -> ApiError {
    ApiError::invalid(format!("Cluster {id} does not exist"))
}

fn wrong_state(id: &str, s: S) -> ApiError {
    ApiError::invalid_state(format!(
        "Cluster {id} is in unexpected state {}.",
        s.title()
    ))
}

/// Validates a spec and returns its effective form (server-side defaults applied).
fn effective_spec(req: &Map<String, Value>, creator: &str) -> ApiResult<Map<String, Value>> {
    let sv = req
        .get("spark_version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if sv.is_empty() {
        return Err(ApiError::invalid("Missing required field: spark_version"));
    }
    let known = versions().iter().any(|v| v["key"] == sv);
    let shaped = sv
        .split_once(".x-")
        .is_some_and(|(n, _)| n.split('.').all(|p| p.parse::<u32>().is_ok()));
    if !known && !shaped {
        return Err(ApiError::invalid(format!("Invalid spark version {sv}.")));
    }
    let has_pool = req.get("instance_pool_id").is_some() || req.get("policy_id").is_some();
    match req.get("node_type_id").and_then(Value::as_str) {
        Some(n) if !node_types().iter().any(|t| t["node_type_id"] == n) => {
            return Err(ApiError::invalid(format!(
                "Node type {n} is not supported. Supported node types: {}",
                node_types()
                    .iter()
                    .filter_map(|t| t["node_type_id"].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        None if !has_pool => return Err(ApiError::invalid("Missing required field: node_type_id")),
        _ => {}
    }
    let kind = req.get("kind").and_then(Value::as_str);
    let single = req
        .get("is_single_node")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if (single || req.contains_key("use_ml_runtime")) && kind != Some("CLASSIC_PREVIEW") {
        return Err(ApiError::invalid(
            "is_single_node and use_ml_runtime can only be set when kind = CLASSIC_PREVIEW.",
        ));
    }
    if let Some(m) = req.get("autotermination_minutes").and_then(Value::as_i64)
        && m != 0
        && !(10..=10_000).contains(&m)
    {
        return Err(ApiError::invalid(
            "Autotermination minutes must be between 10 and 10000, or 0 to disable.",
        ));
    }
    if req
        .get("custom_tags")
        .and_then(Value::as_object)
        .is_some_and(|t| t.len() > 45)
    {
        return Err(ApiError::invalid(
            "A cluster can have at most 45 custom tags.",
        ));
    }
    if let Some(list) = req.get("init_scripts") {
        let ok = list.as_array().is_some_and(|l| {
            l.iter().all(|s| {
                s.as_object().is_some_and(|o| {
                    o.len() == 1
                        && o.iter().all(|(k, v)| {
                            ["workspace", "volumes", "file", "dbfs", "s3", "abfss", "gcs"]
                                .contains(&k.as_str())
                                && v.get("destination")
                                    .and_then(Value::as_str)
                                    .is_some_and(|d| !d.is_empty())
                        })
                })
            })
        });
        if !ok {
            return Err(ApiError::invalid(
                "Each init script must set exactly one of workspace, volumes, file, dbfs, s3, abfss, gcs with a destination.",
            ));
        }
    }
    let mut eff = req.clone();
    eff.remove("cluster_id");
    if single {
        eff.insert("num_workers".into(), json!(0));
        let conf = eff.entry("spark_conf").or_insert_with(|| json!({}));
        if let Some(c) = conf.as_object_mut() {
            c.insert(
                "spark.databricks.cluster.profile".into(),
                json!("singleNode"),
            );
            c.insert("spark.master".into(), json!("local[*, 4]"));
        }
        let tags = eff.entry("custom_tags").or_insert_with(|| json!({}));
        if let Some(t) = tags.as_object_mut() {
            t.insert("ResourceClass".into(), json!("SingleNode"));
        }
    }
    let dsm = eff
        .get("data_security_mode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if matches!(dsm, "DATA_SECURITY_MODE_DEDICATED" | "SINGLE_USER")
        && !eff.contains_key("single_user_name")
    {
        eff.insert("single_user_name".into(), json!(creator));
    }
    if !eff.contains_key("num_workers") && !eff.contains_key("autoscale") {
        eff.insert("num_workers".into(), json!(0));
    }
    Ok(eff)
}

fn cluster_mut<'a>(w: &'a mut World, id: &str) -> ApiResult<&'a mut Cluster> {
    w.clusters.by_id.get_mut(id).ok_or_else(|| no_such(id))
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let eff = effective_spec(&req, &caller.user_name)?;
    let now = shared.now_ms();
    let id = format!("{}-{}", mmdd_hhmmss(now), ids::alnum8());
    let mut w = shared.world();
    let secs = w.delays.cluster_start_secs;
    let mut c = Cluster {
        id: id.clone(),
        request: req,
        effective: eff,
        creator: caller.user_name.clone(),
        state: S::Pending,
        message: String::new(),
        next: None,
        start_ms: None,
        terminated_ms: None,
        termination_reason: None,
        pending_reason: None,
        init_runs: Vec::new(),
        spark_context_id: 0,
    };
    c.begin(
        now,
        S::Pending,
        S::Running,
        secs,
        "Finding instances for new nodes, acquiring more instances if necessary",
    );
    w.clusters.by_id.insert(id.clone(), c);
    tracing::info!(cluster_id = %id, creator = %caller.user_name, "cluster created");
    Ok(Json(json!({ "cluster_id": id })))
}

fn id_of(body: &Map<String, Value>) -> ApiResult<String> {
    body.get("cluster_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid("Missing required field: cluster_id"))
}

fn apply_new_spec(
    shared: &Shared,
    id: &str,
    req: Map<String, Value>,
    caller: &Caller,
) -> ApiResult<()> {
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.cluster_start_secs;
    let c = cluster_mut(&mut w, id)?;
    let eff = effective_spec(&req, &c.creator)?;
    match c.state {
        S::Running => c.begin(
            now,
            S::Restarting,
            S::Running,
            secs,
            "Restarting the cluster to apply the new configuration",
        ),
        S::Terminated => {}
        other => return Err(wrong_state(id, other)),
    }
    c.request = req;
    c.effective = eff;
    tracing::info!(cluster_id = %id, by = %caller.user_name, "cluster edited");
    Ok(())
}

async fn edit(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&req)?;
    apply_new_spec(&shared, &id, req, &caller)?;
    Ok(Json(json!({})))
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&body)?;
    let mask = body
        .get("update_mask")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if mask.is_empty() {
        return Err(ApiError::invalid("Missing required field: update_mask"));
    }
    let patch = body
        .get("cluster")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut req = {
        let mut w = shared.world();
        cluster_mut(&mut w, &id)?.request.clone()
    };
    for field in mask.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match patch.get(field) {
            Some(v) => req.insert(field.to_string(), v.clone()),
            None => req.remove(field),
        };
    }
    apply_new_spec(&shared, &id, req, &caller)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct GetQuery {
    cluster_id: Option<String>,
}

async fn get_cluster(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Params(q): Params<GetQuery>,
) -> ApiResult<Json<Value>> {
    let id = q
        .cluster_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: cluster_id"))?;
    let w = shared.world();
    let c = w.clusters.by_id.get(&id).ok_or_else(|| no_such(&id))?;
    Ok(Json(c.render(&node_types())))
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Params(q): Params<ListQuery>,
) -> Json<Value> {
    let w = shared.world();
    let nt = node_types();
    let ids: Vec<&String> = w
        .clusters
        .by_id
        .keys()
        .filter(|k| {
            q.page_token
                .as_ref()
                .is_none_or(|t| k.as_str() > t.as_str())
        })
        .collect();
    let size = q.page_size.filter(|n| *n > 0).unwrap_or(usize::MAX);
    let page: Vec<Value> = ids
        .iter()
        .take(size)
        .filter_map(|k| w.clusters.by_id.get(*k).map(|c| c.render(&nt)))
        .collect();
    let mut body = json!({});
    if !page.is_empty() {
        body["clusters"] = json!(page);
    }
    if ids.len() > size
        && let Some(last) = ids.get(size - 1)
    {
        body["next_page_token"] = json!(last);
    }
    Json(body)
}

async fn start(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&body)?;
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.cluster_start_secs;
    let c = cluster_mut(&mut w, &id)?;
    match c.state {
        S::Terminated => c.begin(now, S::Pending, S::Running, secs, "Starting the cluster"),
        S::Terminating => return Err(wrong_state(&id, c.state)),
        _ => {}
    }
    Ok(Json(json!({})))
}

async fn restart(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&body)?;
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.cluster_start_secs;
    let c = cluster_mut(&mut w, &id)?;
    match c.state {
        S::Running => c.begin(
            now,
            S::Restarting,
            S::Running,
            secs,
            "Restarting the cluster",
        ),
        other => return Err(wrong_state(&id, other)),
    }
    Ok(Json(json!({})))
}

async fn terminate(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&body)?;
    let now = shared.now_ms();
    let mut w = shared.world();
    let secs = w.delays.cluster_terminate_secs;
    let c = cluster_mut(&mut w, &id)?;
    if matches!(c.state, S::Pending | S::Running | S::Restarting) {
        c.pending_reason = Some(json!({"code": "USER_REQUEST", "type": "SUCCESS",
                                       "parameters": {"username": caller.user_name}}));
        c.begin(
            now,
            S::Terminating,
            S::Terminated,
            secs,
            "Terminating the cluster",
        );
    }
    Ok(Json(json!({})))
}

async fn permanent_delete(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let id = id_of(&body)?;
    let mut w = shared.world();
    w.clusters.by_id.remove(&id).ok_or_else(|| no_such(&id))?;
    Ok(Json(json!({})))
}
