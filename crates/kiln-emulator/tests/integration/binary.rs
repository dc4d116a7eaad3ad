//! The `kiln-emulator` binary: flags seed identities, it prints KEY=VALUE lines ending with
//! `KILN_EMULATOR_READY=1`, and a non-loopback `--bind` is refused with a clear error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kiln-emulator");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Proc, HashMap<String, String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut info = HashMap::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some((k, v)) = line.split_once('=').filter(|_| !line.starts_with('#')) {
                info.insert(k.to_string(), v.to_string());
                if k == "KILN_EMULATOR_READY" {
                    let _ = tx.send(info);
                    return;
                }
            }
        }
    });
    let info = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("emulator printed its identities");
    (Proc(child), info)
}

#[tokio::test]
async fn flags_seed_identities() {
    let (_p, info) = spawn(&[
        "--port",
        "0",
        "--user",
        "owner@example.com",
        "--user",
        "second@example.com",
        "--user-token",
        "second@example.com=dapi11112222333344445555666677778888",
        "--app",
        "agent-terminal",
        "--sp-client-id",
        "0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
        "--sp-client-secret",
        "dose-test-secret",
    ]);
    let host = info["DATABRICKS_HOST"].clone();
    assert!(host.starts_with("http://127.0.0.1:"));
    assert_eq!(info["KILN_EMULATOR_USER"], "owner@example.com");
    assert_eq!(info["KILN_EMULATOR_USER_2"], "second@example.com");
    assert_eq!(
        info["KILN_EMULATOR_TOKEN_2"],
        "dapi11112222333344445555666677778888"
    );
    assert_eq!(
        info["DATABRICKS_CLIENT_ID"],
        "0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b"
    );
    assert_eq!(info["DATABRICKS_APP_NAME"], "agent-terminal");
    assert!(info["DATABRICKS_APP_URL"].starts_with("http://127.0.0.1:"));

    let http = crate::support::http_client();
    let me: serde_json::Value = http
        .get(format!("{host}/api/2.0/preview/scim/v2/Me"))
        .bearer_auth("dapi11112222333344445555666677778888")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["userName"], "second@example.com");
    let app: serde_json::Value = http
        .get(format!("{host}/api/2.0/apps/agent-terminal"))
        .bearer_auth(&info["DATABRICKS_TOKEN"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app["creator"], "owner@example.com");
    let tok = http
        .post(format!("{host}/oidc/v1/token"))
        .basic_auth(
            "0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b",
            Some("dose-test-secret"),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(tok.status(), 200);
}

#[test]
fn non_loopback_bind_is_refused() {
    let out = Command::new(BIN)
        .args(["--bind", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
    let out = Command::new(BIN)
        .args(["--user-token", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("EMAIL=TOKEN"));
}

/// SIGTERM to the emulator ends the app processes it started (no orphans).
#[tokio::test]
async fn sigterm_ends_the_apps_it_runs() {
    let (mut p, info) = spawn(&["--port", "0", "--user", "owner@example.com"]);
    let host = info["DATABRICKS_HOST"].clone();
    let token = info["DATABRICKS_TOKEN"].clone();
    let http = crate::support::http_client();
    let src = "/Users/owner@example.com/srv";
    let r = http
        .post(format!("{host}/api/2.0/workspace/mkdirs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "path": src }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!(
            "{host}/api/2.0/workspace-files/import-file{src}/app.yaml?overwrite=true"
        ))
        .bearer_auth(&token)
        .body("command: [\"python3\", \"-m\", \"http.server\", \"$DATABRICKS_APP_PORT\"]\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = http
        .post(format!("{host}/api/2.0/apps/kiln/deployments"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "source_code_path": src }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = d["deployment_id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d: serde_json::Value = http
            .get(format!("{host}/api/2.0/apps/kiln/deployments/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if d["status"]["state"] == "SUCCEEDED" {
            break;
        }
        assert_eq!(d["status"]["state"], "IN_PROGRESS", "{d}");
        assert!(std::time::Instant::now() < deadline, "deployment timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The app is the emulator's child: find it under /proc.
    let emu_pid = p.0.id();
    let app_pid = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = s.rsplit_once(')')?.1.to_string();
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(emu_pid)
        })
        .expect("the app runs as the emulator's child");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(i32::try_from(emu_pid).unwrap()).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let status = p.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // Gone, or a zombie of a process that is itself gone.
    while std::fs::read_to_string(format!("/proc/{app_pid}/stat"))
        .ok()
        .is_some_and(|s| !s.rsplit_once(')').unwrap().1.trim_start().starts_with('Z'))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the app outlived the emulator"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
