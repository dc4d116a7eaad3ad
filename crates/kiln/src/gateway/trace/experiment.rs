//! `MLFLOW_EXPERIMENT_NAME` on an http(s) MLflow tracking server: the experiment's id from
//! MLflow's REST API (`GET /api/2.0/mlflow/experiments/get-by-name`), creating the experiment
//! (`POST /api/2.0/mlflow/experiments/create`) when it does not exist, as MLflow's own client
//! does for `mlflow.set_experiment`.

use super::config::under;
use reqwest::{StatusCode, Url};
use serde_json::Value;

fn api(base: &Url, path: &str) -> Url {
    under(base, &format!("api/2.0/mlflow/experiments/{path}"))
}

/// Sends `request`: the status and the JSON body (`null` when the body is not JSON).
async fn send(request: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
    let response = request.send().await.map_err(|e| {
        format!(
            "cannot reach MLflow: {}",
            crate::http::client::error_chain(&e)
        )
    })?;
    let status = response.status();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// The id of experiment `name`, created if missing.
pub async fn resolve(http: &reqwest::Client, base: &Url, name: &str) -> Result<String, String> {
    let (status, body) = send(
        http.get(api(base, "get-by-name"))
            .query(&[("experiment_name", name)]),
    )
    .await?;
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
    let (status, body) = send(
        http.post(api(base, "create"))
            .json(&serde_json::json!({ "name": name })),
    )
    .await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::{Query, State};
    use axum::http::StatusCode as Status;
    use axum::routing::{get, post};
    use axum::{Json, Router};
    use serde_json::json;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    type Experiments = Arc<Mutex<HashMap<String, String>>>;

    /// MLflow's two experiment routes under `/mlflow`, over a name -> id map.
    async fn mlflow(experiments: Experiments) -> Url {
        async fn by_name(
            State(e): State<Experiments>,
            Query(q): Query<HashMap<String, String>>,
        ) -> (Status, Json<Value>) {
            let name = q.get("experiment_name").cloned().unwrap_or_default();
            match e.lock().unwrap().get(&name) {
                Some(id) => (
                    Status::OK,
                    Json(json!({"experiment": {"experiment_id": id}})),
                ),
                None => (
                    Status::NOT_FOUND,
                    Json(json!({"error_code": "RESOURCE_DOES_NOT_EXIST"})),
                ),
            }
        }
        async fn create(State(e): State<Experiments>, Json(body): Json<Value>) -> Json<Value> {
            let mut e = e.lock().unwrap();
            let id = (e.len() + 7).to_string();
            e.insert(body["name"].as_str().unwrap().to_owned(), id.clone());
            Json(json!({"experiment_id": id}))
        }
        let app = Router::new()
            .route(
                "/mlflow/api/2.0/mlflow/experiments/get-by-name",
                get(by_name),
            )
            .route("/mlflow/api/2.0/mlflow/experiments/create", post(create))
            .with_state(experiments);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Url::parse(&format!("http://{addr}/mlflow/?ignored=1")).unwrap()
    }

    #[tokio::test]
    async fn a_missing_experiment_is_created_then_found() {
        crate::http::client::install_crypto_provider();
        let http = reqwest::Client::new();
        let experiments = Experiments::default();
        let base = mlflow(experiments.clone()).await;
        assert_eq!(resolve(&http, &base, "kiln").await.as_deref(), Ok("7"));
        assert_eq!(resolve(&http, &base, "kiln").await.as_deref(), Ok("7"));
        assert_eq!(experiments.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error() {
        crate::http::client::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let e = resolve(&reqwest::Client::new(), &base, "kiln")
            .await
            .unwrap_err();
        assert!(e.starts_with("cannot reach MLflow"), "{e}");
    }
}
