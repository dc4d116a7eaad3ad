//! Clusters: the clock-driven state machine, init scripts read and recorded at start (a
//! missing one fails the start), edit/restart/start/terminate/permanent-delete state rules,
//! auto-termination, validation errors, single-node defaults, both API versions.

use std::time::Duration;

use crate::support::{Ctx, start};
use serde_json::{Value, json};

async fn state(c: &Ctx, id: &str) -> Value {
    c.get(&format!("/api/2.1/clusters/get?cluster_id={id}"))
        .await
        .body
}

fn spec() -> Value {
    json!({"cluster_name": "agents", "spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge",
           "num_workers": 0, "autotermination_minutes": 60})
}

#[tokio::test]
async fn lifecycle_with_init_scripts() {
    let c = start().await;
    let h = format!("/Users/{}", c.emu.user_email());
    c.post(
        "/api/2.0/workspace/mkdirs",
        json!({"path": format!("{h}/agents")}),
    )
    .await;
    c.send_bytes(
        "POST",
        &format!("/api/2.0/workspace-files/import-file{h}/agents/init.sh"),
        b"echo ws\n".to_vec(),
    )
    .await;
    c.send_bytes(
        "PUT",
        "/api/2.0/fs/files/Volumes/main/agents/scripts/init.sh",
        b"echo vol\n".to_vec(),
    )
    .await;
    // The secret the spark_env_vars reference; the cluster's start resolves it.
    let r = c
        .post("/api/2.0/secrets/scopes/create", json!({"scope": "agents"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = c
        .post(
            "/api/2.0/secrets/put",
            json!({"scope": "agents", "key": "pat", "string_value": "dapi-from-secret"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut s = spec();
    s["kind"] = json!("CLASSIC_PREVIEW");
    s["is_single_node"] = json!(true);
    s["data_security_mode"] = json!("DATA_SECURITY_MODE_DEDICATED");
    s["spark_env_vars"] = json!({"AGENTS_TOKEN": "{{secrets/agents/pat}}"});
    s["init_scripts"] = json!([
        {"workspace": {"destination": format!("/Workspace{h}/agents/init.sh")}},
        {"volumes": {"destination": "/Volumes/main/agents/scripts/init.sh"}}
    ]);
    let r = c.post("/api/2.1/clusters/create", s).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let id = r.body["cluster_id"].as_str().unwrap().to_string();
    let parts: Vec<&str> = id.split('-').collect();
    assert_eq!(
        (parts.len(), parts[0].len(), parts[1].len(), parts[2].len()),
        (3, 4, 6, 8)
    );

    let pending = state(&c, &id).await;
    assert_eq!(pending["state"], "PENDING");
    assert_eq!(pending["single_user_name"], c.emu.user_email());
    assert_eq!(pending["custom_tags"]["ResourceClass"], "SingleNode");
    assert_eq!(
        pending["spark_conf"]["spark.databricks.cluster.profile"],
        "singleNode"
    );
    assert_eq!(pending["spec"]["is_single_node"], true);
    assert!(c.emu.init_scripts(&id).unwrap().is_empty());

    c.emu.advance(Duration::from_secs(30));
    let running = state(&c, &id).await;
    assert_eq!(running["state"], "RUNNING");
    assert!(running["start_time"].as_i64().is_some());
    let runs = c.emu.init_scripts(&id).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].content.as_deref(), Some(&b"echo ws\n"[..]));
    assert_eq!(runs[1].content.as_deref(), Some(&b"echo vol\n"[..]));
    // Resolved for the script; the cluster's spec keeps the reference.
    assert_eq!(runs[0].env["AGENTS_TOKEN"], "dapi-from-secret");
    assert_eq!(
        running["spark_env_vars"]["AGENTS_TOKEN"],
        "{{secrets/agents/pat}}"
    );
    assert_eq!(runs[0].env["DB_IS_DRIVER"], "TRUE");

    // Start on a running cluster does nothing; restart goes through RESTARTING.
    assert_eq!(
        c.post("/api/2.1/clusters/start", json!({"cluster_id": id}))
            .await
            .status,
        200
    );
    assert_eq!(
        c.post("/api/2.1/clusters/restart", json!({"cluster_id": id}))
            .await
            .status,
        200
    );
    assert_eq!(state(&c, &id).await["state"], "RESTARTING");
    let edit_now = c.post("/api/2.1/clusters/edit", json!({"cluster_id": id, "spark_version": "16.4.x-scala2.12", "node_type_id": "m5d.large"})).await;
    assert_eq!(edit_now.status, 400);
    assert_eq!(edit_now.body["error_code"], "INVALID_STATE");
    c.emu.advance(Duration::from_secs(30));
    assert_eq!(state(&c, &id).await["state"], "RUNNING");

    assert_eq!(
        c.post("/api/2.0/clusters/delete", json!({"cluster_id": id}))
            .await
            .status,
        200
    );
    assert_eq!(state(&c, &id).await["state"], "TERMINATING");
    c.emu.advance(Duration::from_secs(30));
    let term = state(&c, &id).await;
    assert_eq!(term["state"], "TERMINATED");
    assert_eq!(term["termination_reason"]["code"], "USER_REQUEST");
    let restart = c
        .post("/api/2.1/clusters/restart", json!({"cluster_id": id}))
        .await;
    assert_eq!(restart.body["error_code"], "INVALID_STATE");

    // Edit while terminated keeps it terminated; start brings it back.
    let edit = c.post("/api/2.1/clusters/edit", json!({"cluster_id": id, "spark_version": "16.4.x-scala2.12", "node_type_id": "m5d.large"})).await;
    assert_eq!(edit.status, 200);
    assert_eq!(state(&c, &id).await["state"], "TERMINATED");
    c.post("/api/2.1/clusters/start", json!({"cluster_id": id}))
        .await;
    c.emu.advance(Duration::from_secs(30));
    let again = state(&c, &id).await;
    assert_eq!(
        (again["state"].as_str(), again["spark_version"].as_str()),
        (Some("RUNNING"), Some("16.4.x-scala2.12"))
    );

    assert_eq!(
        c.get("/api/2.1/clusters/list").await.body["clusters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        c.post(
            "/api/2.1/clusters/permanent-delete",
            json!({"cluster_id": id})
        )
        .await
        .status,
        200
    );
    let gone = c
        .get(&format!("/api/2.1/clusters/get?cluster_id={id}"))
        .await;
    assert_eq!(gone.status, 400);
    assert_eq!(gone.body["error_code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(gone.body["message"], format!("Cluster {id} does not exist"));
    assert_eq!(c.get("/api/2.1/clusters/list").await.body, json!({}));
}

#[tokio::test]
async fn missing_init_script_fails_the_start() {
    let c = start().await;
    let mut s = spec();
    s["init_scripts"] =
        json!([{"volumes": {"destination": "/Volumes/main/agents/scripts/missing.sh"}}]);
    let id = c.post("/api/2.1/clusters/create", s).await.body["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.emu.advance(Duration::from_secs(30));
    let st = state(&c, &id).await;
    assert_eq!(st["state"], "TERMINATED");
    assert_eq!(st["termination_reason"]["code"], "INIT_SCRIPT_FAILURE");
    assert!(c.emu.init_scripts(&id).unwrap()[0].content.is_none());
}

#[tokio::test]
async fn autotermination_on_the_clock() {
    let c = start().await;
    let id = c.post("/api/2.1/clusters/create", spec()).await.body["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.emu.advance(Duration::from_secs(30));
    assert_eq!(state(&c, &id).await["state"], "RUNNING");
    c.emu.advance(Duration::from_secs(61 * 60));
    let st = state(&c, &id).await;
    assert_eq!(st["state"], "TERMINATED");
    assert_eq!(st["termination_reason"]["code"], "INACTIVITY");
}

#[tokio::test]
async fn validation_errors_and_stubs() {
    let c = start().await;
    for (patch, needle) in [
        (json!({"spark_version": null}), "spark_version"),
        (json!({"spark_version": "banana"}), "Invalid spark version"),
        (json!({"node_type_id": "x9.mega"}), "not supported"),
        (json!({"is_single_node": true}), "CLASSIC_PREVIEW"),
        (
            json!({"autotermination_minutes": 5}),
            "between 10 and 10000",
        ),
        (json!({"init_scripts": [{"workspace": {}}]}), "init script"),
    ] {
        let mut s = spec();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        let r = c.post("/api/2.1/clusters/create", s).await;
        assert_eq!(r.status, 400, "{patch}");
        assert_eq!(r.body["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(
            r.body["message"].as_str().unwrap().contains(needle),
            "{}",
            r.body
        );
    }
    let v = c.get("/api/2.1/clusters/spark-versions").await;
    assert!(
        v.body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["key"] == "15.4.x-scala2.12")
    );
    let n = c.get("/api/2.0/clusters/list-node-types").await;
    assert!(
        n.body["node_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["node_type_id"] == "i3.xlarge")
    );
    let missing = c
        .post(
            "/api/2.1/clusters/start",
            json!({"cluster_id": "0101-000000-nothere0"}),
        )
        .await;
    assert_eq!(missing.status, 400);
}
