//! Apps: the seeded app, create / start / stop / delete with the compute state machine,
//! deployments IN_PROGRESS → SUCCEEDED / FAILED with the snapshot copied, the documented
//! conflicts, and the switch for whether the app's service principal may read its own app.

use std::time::Duration;

use crate::support::{Ctx, into_resp, start, wait_for};
use serde_json::json;

/// A real app: Python's static file server on the port the runtime gives it.
const APP_YAML: &[u8] =
    b"command: [\"python3\", \"-m\", \"http.server\", \"$DATABRICKS_APP_PORT\"]\n";

async fn sp_token(c: &Ctx, id: &str, secret: &str) -> String {
    let resp = c
        .http
        .post(c.url("/oidc/v1/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    into_resp(resp).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn seeded_app_and_sp_switch() {
    let c = start().await;
    let app = c.get("/api/2.0/apps/kiln").await;
    assert_eq!(app.status, 200);
    assert_eq!(app.body["creator"], c.emu.user_email());
    assert_eq!(
        app.body["service_principal_client_id"],
        c.emu.sp_client_id()
    );
    assert_eq!(app.body["compute_status"]["state"], "ACTIVE");
    assert_eq!(app.body["app_status"]["state"], "RUNNING");
    assert_eq!(
        app.body["active_deployment"]["status"]["state"],
        "SUCCEEDED"
    );
    assert!(app.body["create_time"].as_str().unwrap().ends_with('Z'));

    let sp = sp_token(&c, c.emu.sp_client_id(), c.emu.sp_client_secret()).await;
    let own = c.call("GET", "/api/2.0/apps/kiln", Some(&sp), None).await;
    assert_eq!(own.status, 200);
    assert_eq!(own.body["creator"], c.emu.user_email());
    c.emu.set_sp_can_read_own_app(false);
    let denied = c.call("GET", "/api/2.0/apps/kiln", Some(&sp), None).await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["error_code"], "PERMISSION_DENIED");
    assert_eq!(
        c.get("/api/2.0/apps/kiln").await.status,
        200,
        "users still read it"
    );

    let missing = c.get("/api/2.0/apps/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn create_start_deploy_stop_delete() {
    let c = start().await;
    let h = format!("/Users/{}", c.emu.user_email());
    let created = c
        .post(
            "/api/2.0/apps",
            json!({"name": "agents", "description": "d"}),
        )
        .await;
    assert_eq!(created.status, 200);
    assert_eq!(created.body["compute_status"]["state"], "STARTING");
    assert_eq!(created.body["app_status"]["state"], "UNAVAILABLE");
    let sp_id = created.body["service_principal_client_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(sp_id, c.emu.sp_client_id());
    assert!(c.emu.app_credentials("agents").is_some());

    let dup = c.post("/api/2.0/apps", json!({"name": "agents"})).await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["error_code"], "RESOURCE_ALREADY_EXISTS");
    assert_eq!(
        dup.body["message"],
        "An app with the same name already exists: agents"
    );
    assert_eq!(
        c.post("/api/2.0/apps", json!({"name": "Bad_Name"}))
            .await
            .status,
        400
    );

    // Deploying before compute is active is refused.
    c.post(
        "/api/2.0/workspace/mkdirs",
        json!({"path": format!("{h}/app")}),
    )
    .await;
    c.send_bytes(
        "POST",
        &format!("/api/2.0/workspace-files/import-file{h}/app/app.yaml?overwrite=true"),
        APP_YAML.to_vec(),
    )
    .await;
    let early = c
        .post(
            "/api/2.0/apps/agents/deployments",
            json!({"source_code_path": format!("/Workspace{h}/app")}),
        )
        .await;
    assert_eq!(early.status, 400);
    assert_eq!(early.body["error_code"], "INVALID_STATE");

    c.emu.advance(Duration::from_secs(60));
    assert_eq!(
        c.get("/api/2.0/apps/agents").await.body["compute_status"]["state"],
        "ACTIVE"
    );

    // A missing source fails the deployment on the emulator clock; meanwhile another
    // deployment is refused.
    let bad = c
        .post(
            "/api/2.0/apps/agents/deployments",
            json!({"source_code_path": format!("{h}/missing")}),
        )
        .await;
    assert_eq!(bad.body["status"]["state"], "IN_PROGRESS");
    let bad_id = bad.body["deployment_id"].as_str().unwrap().to_string();
    let busy = c
        .post(
            "/api/2.0/apps/agents/deployments",
            json!({"source_code_path": format!("{h}/app")}),
        )
        .await;
    assert_eq!(busy.status, 400);
    assert_eq!(
        c.get("/api/2.0/apps/agents").await.body["app_status"]["state"],
        "DEPLOYING"
    );
    c.emu.advance(Duration::from_secs(60));
    let failed = c
        .get(&format!("/api/2.0/apps/agents/deployments/{bad_id}"))
        .await;
    assert_eq!(failed.body["status"]["state"], "FAILED");
    assert!(
        failed.body["status"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );

    let dep = c
        .post(
            "/api/2.0/apps/agents/deployments",
            json!({"source_code_path": format!("/Workspace{h}/app"), "mode": "SNAPSHOT",
                   "env_vars": [{"name": "SECRET_THING", "value": "hidden"}]}),
        )
        .await;
    assert_eq!(dep.status, 200);
    assert_eq!(dep.body["status"]["state"], "IN_PROGRESS");
    assert!(
        !dep.body.to_string().contains("hidden"),
        "env var values are never echoed"
    );
    let dep_id = dep.body["deployment_id"].as_str().unwrap().to_string();
    let got = wait_for("the deployment to finish", || async {
        let d = c
            .get(&format!("/api/2.0/apps/agents/deployments/{dep_id}"))
            .await
            .body;
        (d["status"]["state"] != "IN_PROGRESS").then_some(d)
    })
    .await;
    assert_eq!(got["status"]["state"], "SUCCEEDED", "{got}");
    assert_eq!(got["env_vars"], json!([{"name": "SECRET_THING"}]));
    let snapshot = got["deployment_artifacts"]["source_code_path"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(snapshot.starts_with(&format!("/Workspace/Users/{sp_id}/src/")));
    assert_eq!(
        c.emu
            .workspace_file(&format!("{snapshot}/app.yaml"))
            .unwrap(),
        APP_YAML
    );
    let app = c.get("/api/2.0/apps/agents").await;
    assert_eq!(app.body["app_status"]["state"], "RUNNING");
    assert_eq!(
        app.body["active_deployment"]["deployment_id"],
        dep_id.as_str()
    );
    let list = c.get("/api/2.0/apps/agents/deployments").await;
    assert_eq!(list.body["app_deployments"].as_array().unwrap().len(), 2);
    assert_eq!(
        c.get("/api/2.0/apps/agents/deployments/nope").await.status,
        404
    );

    let stopping = c.post("/api/2.0/apps/agents/stop", json!({})).await;
    assert_eq!(stopping.body["compute_status"]["state"], "STOPPING");
    // STOPPED once the app's process is gone.
    let stopped = wait_for("STOPPED", || async {
        let a = c.get("/api/2.0/apps/agents").await;
        (a.body["compute_status"]["state"] == "STOPPED").then_some(a)
    })
    .await;
    assert_eq!(stopped.body["compute_status"]["state"], "STOPPED");
    assert_eq!(stopped.body["app_status"]["state"], "UNAVAILABLE");
    let starting = c.post("/api/2.0/apps/agents/start", json!({})).await;
    assert_eq!(starting.body["compute_status"]["state"], "STARTING");

    let deleting = c
        .call("DELETE", "/api/2.0/apps/agents", Some(&c.token()), None)
        .await;
    assert_eq!(deleting.body["compute_status"]["state"], "DELETING");
    let again = c
        .call("DELETE", "/api/2.0/apps/agents", Some(&c.token()), None)
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.body["error_code"], "BAD_REQUEST");
    let recreate = c.post("/api/2.0/apps", json!({"name": "agents"})).await;
    assert_eq!(
        recreate.status, 409,
        "recreate fails while the old app is deleting"
    );
    c.emu.advance(Duration::from_secs(60));
    assert_eq!(c.get("/api/2.0/apps/agents").await.status, 404);
    // The deleted app's service principal is gone too.
    let (id, secret) = (sp_id, "unused");
    let resp = c
        .http
        .post(c.url("/oidc/v1/token"))
        .basic_auth(&id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn no_compute_and_list_and_permissions() {
    let c = start().await;
    let r = c
        .post("/api/2.0/apps?no_compute=true", json!({"name": "quiet"}))
        .await;
    assert_eq!(r.body["compute_status"]["state"], "STOPPED");
    let list = c.get("/api/2.0/apps?page_size=1").await;
    assert_eq!(list.body["apps"].as_array().unwrap().len(), 1);
    let next = list.body["next_page_token"].as_str().unwrap();
    let rest = c
        .get(&format!("/api/2.0/apps?page_size=1&page_token={next}"))
        .await;
    assert_eq!(rest.body["apps"].as_array().unwrap().len(), 1);
    assert!(rest.body.get("next_page_token").is_none());

    let bob = c.emu.create_user("bob@example.com").unwrap();
    let r = c
        .call(
            "POST",
            "/api/2.0/apps/quiet/start",
            Some(&bob),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 403);
    let patched = c
        .call(
            "PATCH",
            "/api/2.0/apps/quiet",
            Some(&c.token()),
            Some(json!({"description": "new"})),
        )
        .await;
    assert_eq!(patched.body["description"], "new");

    // The seeded app's SP sees only its own app in the list.
    let sp = sp_token(&c, c.emu.sp_client_id(), c.emu.sp_client_secret()).await;
    let mine = c.call("GET", "/api/2.0/apps", Some(&sp), None).await;
    let names: Vec<&str> = mine.body["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["kiln"]);
}
