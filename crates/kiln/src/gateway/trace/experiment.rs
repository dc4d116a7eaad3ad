//! `MLFLOW_EXPERIMENT_NAME` on an http(s) MLflow tracking server: the experiment's id from
//! MLflow's REST API (`GET /api/2.0/mlflow/experiments/get-by-name`), creating the experiment
//! (`POST /api/2.0/mlflow/experiments/create`) when it does not exist, as MLflow's own client
//! does for `mlflow.set_experiment`.

use reqwest::Url;
use serde_json::Value;

fn api(base: &Url, path: &str) -> Result<Url, String> {
    let mut u = base.clone();
    u.set_path(&format!(
        "{}/api/2.0/mlflow/experiments/{path}",
        base.path().trim_end_matches('/')
    ));
    u.set_query(None);
    Ok(u)
}

/// The id of experiment `name`, created if missing.
pub async fn resolve(http: &reqwest::Client, base: &Url, name: &str) -> Result<String, String> {
    let get = api(base, "get-by-name")?;
    let response = http
        .get(get)
        .query(&[("experiment_name", name)])
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach MLflow: {}",
                crate::http::client::error_chain(&e)
            )
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return body
            .pointer("/experiment/experiment_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| "MLflow answered without an experiment id".to_owned());
    }
    let missing = status.as_u16() == 404
        || body.get("error_code").and_then(Value::as_str) == Some("RESOURCE_DOES_NOT_EXIST");
    if !missing {
        return Err(format!("get-by-name answered {status}"));
    }
    let create = api(base, "create")?;
    let response = http
        .post(create)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach MLflow: {}",
                crate::http::client::error_chain(&e)
            )
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("create answered {status}"));
    }
    tracing::info!(
        experiment = name,
        "MLflow experiment created for kiln's traces"
    );
    body.get("experiment_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "MLflow created the experiment without answering its id".to_owned())
}
