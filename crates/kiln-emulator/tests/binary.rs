//! The `kiln-emulator` binary: flags seed identities, it prints KEY=VALUE lines ending with
//! `KILN_EMULATOR_READY=1`, and a non-loopback `--bind` is refused with a clear error.
#![allow(clippy::unwrap_used)]

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
    let _ = rustls::crypto::ring::default_provider().install_default();
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

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
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
