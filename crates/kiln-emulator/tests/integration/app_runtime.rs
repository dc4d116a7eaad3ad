//! The Apps runtime: a small Python app deployed from workspace files runs as a real process
//! behind the per-app proxy. Environment, identity headers (forged ones stripped), WebSockets
//! both ways, refused users, crash → CRASHED with logs, exit at start → FAILED, stop → SIGTERM
//! (SIGKILL after the grace period), redeploy replaces the process, drop leaves no process, and
//! descendants that left the process group are killed too.

use std::time::Duration;

use crate::support::{Ctx, start, wait_for};
use futures_util::{SinkExt, StreamExt};
use kiln_emulator::StateDelays;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const APP_PY: &str = include_str!("fixtures/echo_app.py");
/// Generous bound for a WebSocket exchange.
const WAIT: Duration = Duration::from_secs(60);

fn home(c: &Ctx) -> String {
    format!("/Users/{}", c.emu.user_email())
}

/// Writes the app source (the echo app, `app.yaml`) under the user's home.
async fn upload(c: &Ctx, dir: &str, app_yaml: &str, app_py: &str) {
    let root = format!("{}/{dir}", home(c));
    assert_eq!(
        c.post("/api/2.0/workspace/mkdirs", json!({"path": root}))
            .await
            .status,
        200
    );
    for (name, body) in [("app.yaml", app_yaml), ("echo_app.py", app_py)] {
        let r = c
            .send_bytes(
                "POST",
                &format!("/api/2.0/workspace-files/import-file{root}/{name}?overwrite=true"),
                body.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
}

const YAML: &str = "command: [\"python3\", \"echo_app.py\", \"$DATABRICKS_APP_PORT\"]\n";

/// Creates an app and waits until its compute is active.
async fn create(c: &Ctx, name: &str) {
    let r = c.post("/api/2.0/apps", json!({"name": name})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    c.emu.advance(Duration::from_secs(60));
    assert_eq!(
        c.get(&format!("/api/2.0/apps/{name}")).await.body["compute_status"]["state"],
        "ACTIVE"
    );
}

/// Deploys `/Workspace/Users/<me>/<dir>` and waits until the deployment is no longer in
/// progress; returns the final deployment.
async fn deploy(c: &Ctx, name: &str, dir: &str) -> Value {
    let r = c
        .post(
            &format!("/api/2.0/apps/{name}/deployments"),
            json!({"source_code_path": format!("/Workspace{}/{dir}", home(c)), "mode": "SNAPSHOT"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let id = r.body["deployment_id"].as_str().unwrap().to_string();
    wait_for("the deployment to finish", || async {
        let d = c
            .get(&format!("/api/2.0/apps/{name}/deployments/{id}"))
            .await
            .body;
        (d["status"]["state"] != "IN_PROGRESS").then_some(d)
    })
    .await
}

async fn app_state(c: &Ctx, name: &str) -> Value {
    c.get(&format!("/api/2.0/apps/{name}")).await.body
}

/// GET through the app's proxy with a cookie and extra headers.
async fn via_proxy(
    c: &Ctx,
    name: &str,
    path: &str,
    cookie: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let url = format!("{}{path}", c.emu.app_url(name).unwrap());
    let mut req = c.http.get(url);
    if let Some(k) = cookie {
        req = req.header("Cookie", k);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

/// Creates `name`, deploys the echo app to it from `/Users/<me>/<name>` and waits for it to run.
async fn running(c: &Ctx, name: &str) {
    create(c, name).await;
    upload(c, name, YAML, APP_PY).await;
    let d = deploy(c, name, name).await;
    assert_eq!(d["status"]["state"], "SUCCEEDED", "{d}");
}

/// GET `path` through the app's proxy with `cookie`; the JSON answer.
async fn fetch_json(c: &Ctx, name: &str, path: &str, cookie: &str) -> Value {
    let r = via_proxy(c, name, path, Some(cookie), &[]).await;
    assert_eq!(r.status(), 200, "{path}");
    r.json().await.unwrap()
}

fn pid_in(v: &Value, key: &str) -> u32 {
    u32::try_from(v[key].as_u64().unwrap()).unwrap()
}

fn alive(pid: u32) -> bool {
    // Gone, or a zombie waiting to be reaped, counts as not running.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .is_some_and(|zombie| !zombie)
}

#[tokio::test]
async fn deployed_app_gets_the_apps_environment_and_identity_headers() {
    let c = start().await;
    create(&c, "echo").await;
    let patched = c
        .call(
            "PATCH",
            "/api/2.0/apps/echo",
            Some(&c.token()),
            Some(json!({"resources": [{"name": "llm", "serving_endpoint": {"name": "claude-x", "permission": "CAN_QUERY"}}]})),
        )
        .await;
    assert_eq!(patched.status, 200);
    let yaml = format!(
        "{YAML}env:\n  - name: LOG_LEVEL\n    value: debug\n  - name: SERVING_ENDPOINT\n    valueFrom: llm\n"
    );
    upload(&c, "echo", &yaml, APP_PY).await;
    let d = deploy(&c, "echo", "echo").await;
    assert_eq!(d["status"]["state"], "SUCCEEDED", "{d}");
    let app = app_state(&c, "echo").await;
    assert_eq!(app["app_status"]["state"], "RUNNING");
    let url = c.emu.app_url("echo").unwrap();
    assert_eq!(app["url"], url.as_str());
    assert!(url.starts_with("http://127.0.0.1:"));

    let alice = c.emu.app_cookie(c.emu.user_email()).unwrap();
    let got: Value = fetch_json(&c, "echo", "/env", &alice).await;
    let env = &got["env"];
    let (id, secret) = c.emu.app_credentials("echo").unwrap();
    assert_eq!(env["DATABRICKS_APP_NAME"], "echo");
    assert_eq!(env["DATABRICKS_HOST"], c.emu.url());
    assert_eq!(
        env["DATABRICKS_WORKSPACE_ID"],
        c.emu.workspace_id().to_string()
    );
    assert_eq!(env["DATABRICKS_CLIENT_ID"], id.as_str());
    assert_eq!(env["DATABRICKS_CLIENT_SECRET"], secret.as_str());
    assert_eq!(env["DATABRICKS_APP_URL"], url.as_str());
    assert_eq!(env["LOG_LEVEL"], "debug");
    assert_eq!(env["SERVING_ENDPOINT"], "claude-x");
    let port = env["DATABRICKS_APP_PORT"].as_str().unwrap();
    assert!(
        c.emu
            .app_logs("echo")
            .unwrap()
            .contains(&format!("listening on {port}")),
        "$DATABRICKS_APP_PORT was substituted in the command"
    );
    assert_eq!(got["home_writable"], true);
    assert!(
        env.get("CARGO_PKG_NAME").is_none(),
        "nothing leaks from the emulator's environment"
    );
    let names: Vec<&String> = env.as_object().unwrap().keys().collect();
    for n in &names {
        assert!(
            n.starts_with("DATABRICKS_")
                || ["PATH", "HOME", "LOG_LEVEL", "SERVING_ENDPOINT"].contains(&n.as_str())
                // Python and pyenv's shim add their own.
                || n.starts_with("PYENV")
                || n.starts_with("_PYENV")
                || ["LC_CTYPE", "PWD", "OLDPWD", "SHLVL", "_"].contains(&n.as_str()),
            "unexpected variable {n}"
        );
    }

    let headers: Value = via_proxy(
        &c,
        "echo",
        "/headers",
        Some(&format!("{alice}; theme=dark")),
        &[
            ("X-Forwarded-Email", "mallory@example.com"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Real-Ip", "6.6.6.6"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(headers["x-forwarded-email"], c.emu.user_email());
    assert_eq!(headers["x-forwarded-preferred-username"], "Alice");
    let user = headers["x-forwarded-user"].as_str().unwrap();
    assert!(
        user.ends_with(&format!("@{}", c.emu.workspace_id())),
        "{user}"
    );
    assert_eq!(headers["x-real-ip"], "127.0.0.1");
    assert!(headers.get("x-forwarded-for").is_none());
    assert_eq!(
        headers["x-forwarded-host"],
        url.trim_start_matches("http://")
    );
    assert_eq!(headers["x-request-id"].as_str().unwrap().len(), 36);
    assert_eq!(
        headers["cookie"], "theme=dark",
        "the emulator's session cookie stays out"
    );
    let expected = c.emu.proxy_headers(c.emu.user_email());
    let user_expected = &expected
        .iter()
        .find(|(k, _)| k == "X-Forwarded-User")
        .unwrap()
        .1;
    assert_eq!(user, user_expected);
}

#[tokio::test]
async fn websockets_pass_through_the_proxy_both_ways() {
    let c = start().await;
    running(&c, "ws").await;
    let url = c.emu.app_url("ws").unwrap().replace("http://", "ws://") + "/ws";
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert(
        "Cookie",
        c.emu
            .app_cookie(c.emu.user_email())
            .unwrap()
            .parse()
            .unwrap(),
    );
    let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(m, Message::text(format!("hello {i}")));
    }
    let big = vec![7u8; 100_000];
    ws.send(Message::binary(big.clone())).await.unwrap();
    let m = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m.into_data().to_vec(), big);
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn the_proxy_refuses_users_without_can_use() {
    let c = start().await;
    running(&c, "guarded").await;
    let bob_pat = c.emu.create_user("bob@example.com").unwrap();
    let bob = c.emu.app_cookie("bob@example.com").unwrap();

    let refused = via_proxy(&c, "guarded", "/headers", Some(&bob), &[]).await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(text.contains("does not have CAN_USE permission"), "{text}");

    // Nobody signed in: a browser goes to the sign-in page, an API client gets 401.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let app_url = c.emu.app_url("guarded").unwrap();
    let browser = no_redirect
        .get(format!("{app_url}/x?y=1"))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 302);
    let login = browser.headers()["location"].to_str().unwrap().to_string();
    assert!(
        login.starts_with(&format!("{}/__emulator/login?next=", c.emu.url())),
        "{login}"
    );
    let chooser = no_redirect
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chooser.contains("bob@example.com"));
    assert_eq!(
        via_proxy(&c, "guarded", "/headers", None, &[])
            .await
            .status(),
        401
    );
    let with_pat = via_proxy(
        &c,
        "guarded",
        "/headers",
        None,
        &[("Authorization", &format!("Bearer {bob_pat}"))],
    )
    .await;
    assert_eq!(
        with_pat.status(),
        401,
        "PATs are not accepted by the apps proxy"
    );

    // The sign-in link sets the cookie and returns to the app.
    let signed = no_redirect
        .get(format!(
            "{}/__emulator/login?user=bob%40example.com&next={}",
            c.emu.url(),
            urlencode(&format!("{app_url}/headers"))
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), 303);
    assert_eq!(
        signed.headers()["location"],
        format!("{app_url}/headers").as_str()
    );
    let set = signed.headers()["set-cookie"].to_str().unwrap();
    let bob2 = set.split(';').next().unwrap().to_string();
    assert!(set.contains("HttpOnly"));

    // CAN_USE granted: bob gets in, as himself.
    let granted = c
        .call(
            "PATCH",
            "/api/2.0/permissions/apps/guarded",
            Some(&c.token()),
            Some(json!({"access_control_list": [{"user_name": "bob@example.com", "permission_level": "CAN_USE"}]})),
        )
        .await;
    assert_eq!(granted.status, 200, "{:?}", granted.body);
    let ok = via_proxy(&c, "guarded", "/headers", Some(&bob2), &[]).await;
    assert_eq!(ok.status(), 200);
    let h: Value = ok.json().await.unwrap();
    assert_eq!(h["x-forwarded-email"], "bob@example.com");
    // CAN_USE does not let bob manage the app.
    let stop = c
        .call(
            "POST",
            "/api/2.0/apps/guarded/stop",
            Some(&bob_pat),
            Some(json!({})),
        )
        .await;
    assert_eq!(stop.status, 403);
    // Revoked again (PUT replaces the direct grants): refused.
    let put = c
        .call(
            "PUT",
            "/api/2.0/permissions/apps/guarded",
            Some(&c.token()),
            Some(json!({"access_control_list": []})),
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        via_proxy(&c, "guarded", "/headers", Some(&bob2), &[])
            .await
            .status(),
        403
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_crash_marks_the_app_crashed_and_keeps_its_logs() {
    let c = start().await;
    running(&c, "crashy").await;
    let alice = c.emu.app_cookie(c.emu.user_email()).unwrap();
    let pid = c.emu.app_pid("crashy").unwrap();
    let pids: Value = fetch_json(&c, "crashy", "/pids", &alice).await;
    let helper = pid_in(&pids, "helper");
    // The app exits while answering: the request fails or gets a 502.
    let _ = via_proxy(&c, "crashy", "/crash", Some(&alice), &[]).await;
    let app = wait_for("CRASHED", || async {
        let a = app_state(&c, "crashy").await;
        (a["app_status"]["state"] == "CRASHED").then_some(a)
    })
    .await;
    assert!(
        app["app_status"]["message"]
            .as_str()
            .unwrap()
            .contains("exited with code 3"),
        "{app}"
    );
    assert_eq!(app["compute_status"]["state"], "ACTIVE");
    assert!(!alive(pid));
    // Its helper left the process group (own session) and goes too.
    wait_for("the crashed app's helper to be gone", || async {
        (!alive(helper)).then_some(())
    })
    .await;
    let logs = c.emu.app_logs("crashy").unwrap();
    assert!(logs.contains("crashing"), "{logs}");
    assert!(logs.contains("[SYSTEM] App crashed unexpectedly"), "{logs}");
    let admin = c
        .http
        .get(c.url("/__emulator/apps/crashy/logs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(admin, logs);
    let logz = via_proxy(&c, "crashy", "/logz", Some(&alice), &[]).await;
    assert_eq!(logz.status(), 200);
    assert!(logz.text().await.unwrap().contains("crashing"));
    assert_eq!(
        via_proxy(&c, "crashy", "/env", Some(&alice), &[])
            .await
            .status(),
        503
    );
}

#[tokio::test]
async fn an_app_that_exits_at_start_fails_its_deployment() {
    let c = start().await;
    create(&c, "boom").await;
    upload(
        &c,
        "boom",
        &format!("{YAML}env:\n  - name: FAIL_AT_START\n    value: \"1\"\n"),
        APP_PY,
    )
    .await;
    let d = deploy(&c, "boom", "boom").await;
    assert_eq!(d["status"]["state"], "FAILED");
    let msg = d["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("exited with code 2") && msg.contains("boom"),
        "{msg}"
    );
    let app = app_state(&c, "boom").await;
    assert_eq!(app["app_status"]["state"], "UNAVAILABLE");
    assert!(c.emu.app_logs("boom").unwrap().contains("boom\n"));

    // A command that cannot run, and an app.yaml that cannot be read, fail too.
    upload(&c, "boom", "command: [\"./no-such-binary\"]\n", APP_PY).await;
    let d = deploy(&c, "boom", "boom").await;
    assert_eq!(d["status"]["state"], "FAILED");
    assert!(
        d["status"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot run ./no-such-binary")
    );
    // Bad overrides in the request are refused outright.
    let src = format!("/Workspace{}/boom", home(&c));
    for body in [
        json!({"source_code_path": src, "command": "python3 app.py"}),
        json!({"source_code_path": src, "env_vars": [{"name": "X"}]}),
        json!({"source_code_path": src, "env_vars": [{"name": "1X", "value": "v"}]}),
    ] {
        let r = c.post("/api/2.0/apps/boom/deployments", body).await;
        assert_eq!(r.status, 400, "{:?}", r.body);
        assert_eq!(r.code(), "INVALID_PARAMETER_VALUE");
    }
    // The request's command and env_vars override app.yaml.
    let r = c
        .post(
            "/api/2.0/apps/boom/deployments",
            json!({"source_code_path": src,
                   "command": ["python3", "echo_app.py", "$DATABRICKS_APP_PORT"],
                   "env_vars": [{"name": "FAIL_AT_START", "value": ""}]}),
        )
        .await;
    let id = r.body["deployment_id"].as_str().unwrap().to_string();
    let d = wait_for("the override deployment", || async {
        let d = c
            .get(&format!("/api/2.0/apps/boom/deployments/{id}"))
            .await
            .body;
        (d["status"]["state"] != "IN_PROGRESS").then_some(d)
    })
    .await;
    assert_eq!(d["status"]["state"], "SUCCEEDED", "{d}");
    assert_eq!(d["command"][0], "python3");

    c.emu.set_delays(StateDelays {
        app_deploy_secs: 0,
        ..StateDelays::default()
    });
    upload(&c, "boom", "command: python3 echo_app.py\n", APP_PY).await;
    let d = deploy(&c, "boom", "boom").await;
    assert_eq!(d["status"]["state"], "FAILED");
    assert!(
        d["status"]["message"]
            .as_str()
            .unwrap()
            .contains("list of strings")
    );
}

#[tokio::test]
async fn stop_sends_sigterm_then_sigkill_and_start_runs_it_again() {
    let c = start().await;
    running(&c, "stoppy").await;
    let pid = c.emu.app_pid("stoppy").unwrap();
    let stopping = c.post("/api/2.0/apps/stoppy/stop", json!({})).await;
    assert_eq!(stopping.status, 200);
    wait_for("STOPPED", || async {
        (app_state(&c, "stoppy").await["compute_status"]["state"] == "STOPPED").then_some(())
    })
    .await;
    assert!(!alive(pid));
    let logs = c.emu.app_logs("stoppy").unwrap();
    assert!(logs.contains("got SIGTERM"), "{logs}");
    assert_eq!(
        app_state(&c, "stoppy").await["app_status"]["state"],
        "UNAVAILABLE"
    );

    // Start: once the compute is active again, the active deployment runs anew.
    c.post("/api/2.0/apps/stoppy/start", json!({})).await;
    c.emu.advance(Duration::from_secs(60));
    wait_for("RUNNING again", || async {
        (app_state(&c, "stoppy").await["app_status"]["state"] == "RUNNING").then_some(())
    })
    .await;
    let again = c.emu.app_pid("stoppy").unwrap();
    assert_ne!(again, pid);

    // An app that ignores SIGTERM is killed after the grace period (1 s here, 15 s default).
    c.emu.update_settings(|s| s.app_stop_grace_secs = 1);
    upload(
        &c,
        "stoppy",
        &format!("{YAML}env:\n  - name: IGNORE_TERM\n    value: \"1\"\n"),
        APP_PY,
    )
    .await;
    assert_eq!(
        deploy(&c, "stoppy", "stoppy").await["status"]["state"],
        "SUCCEEDED"
    );
    let stubborn = c.emu.app_pid("stoppy").unwrap();
    c.post("/api/2.0/apps/stoppy/stop", json!({})).await;
    wait_for("STOPPED after SIGKILL", || async {
        (app_state(&c, "stoppy").await["compute_status"]["state"] == "STOPPED").then_some(())
    })
    .await;
    assert!(!alive(stubborn));
    assert!(c.emu.app_logs("stoppy").unwrap().contains("SIGKILL"));
}

#[tokio::test]
async fn a_redeploy_replaces_the_process_and_delete_ends_it() {
    let c = start().await;
    running(&c, "redo").await;
    let alice = c.emu.app_cookie(c.emu.user_email()).unwrap();
    let v: Value = fetch_json(&c, "redo", "/version", &alice).await;
    assert_eq!(v["version"], "one");
    let first = c.emu.app_pid("redo").unwrap();
    upload(
        &c,
        "redo",
        YAML,
        &APP_PY.replace("VERSION = \"one\"", "VERSION = \"two\""),
    )
    .await;
    let d = deploy(&c, "redo", "redo").await;
    assert_eq!(d["status"]["state"], "SUCCEEDED");
    let v: Value = fetch_json(&c, "redo", "/version", &alice).await;
    assert_eq!(v["version"], "two");
    assert_ne!(c.emu.app_pid("redo").unwrap(), first);
    assert!(!alive(first));
    assert!(c.emu.app_logs("redo").unwrap().contains("got SIGTERM"));
    let app = app_state(&c, "redo").await;
    assert_eq!(
        app["active_deployment"]["deployment_id"],
        d["deployment_id"]
    );
    let list = c.get("/api/2.0/apps/redo/deployments").await;
    assert_eq!(list.body["app_deployments"].as_array().unwrap().len(), 2);

    // Deleting the app ends its process.
    let last = c.emu.app_pid("redo").unwrap();
    let deleted = c
        .call("DELETE", "/api/2.0/apps/redo", Some(&c.token()), None)
        .await;
    assert_eq!(deleted.status, 200);
    wait_for("the deleted app's process to be gone", || async {
        (!alive(last)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dropping_the_emulator_leaves_no_process() {
    let c = start().await;
    running(&c, "orphans").await;
    let alice = c.emu.app_cookie(c.emu.user_email()).unwrap();
    let pids: Value = fetch_json(&c, "orphans", "/pids", &alice).await;
    let pid = pid_in(&pids, "pid");
    let helper = pid_in(&pids, "helper");
    assert!(alive(pid) && alive(helper));
    let env: Value = fetch_json(&c, "orphans", "/env", &alice).await;
    // HOME is <runtime dir>/<app>/home.
    let home = std::path::PathBuf::from(env["env"]["HOME"].as_str().unwrap());
    let root = home.parent().unwrap().parent().unwrap().to_path_buf();
    assert!(root.is_dir());
    drop(c);
    assert!(!root.exists(), "the runtime's files are removed");
    wait_for("the app and its helper to be gone", || async {
        (!alive(pid) && !alive(helper)).then_some(())
    })
    .await;
}
