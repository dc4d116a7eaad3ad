//! The real `kiln gateway` binary: token from a `~/.databrickscfg` profile (a changed file
//! takes effect on the next request), the key and discovery files, `kiln gateway status`, a
//! clean exit on SIGTERM that removes the discovery file, loopback only, and no prompt text,
//! token or key in its log even at debug level.

use crate::support::gateway::*;
use kiln_emulator::{Emulator, EmulatorOptions};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PROMPT: &str = "please-do-not-log-this-prompt-31337";

fn kiln(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
    c.env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug");
    c
}

struct Running {
    child: Child,
    url: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kiln gateway` and waits for its URL line.
fn start(home: &Path, extra: &[&str]) -> Running {
    let mut child = kiln(home)
        .args(["gateway", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("KILN_GATEWAY_URL=") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx.recv_timeout(WAIT).expect("kiln gateway printed its URL");
    Running { child, url, stderr }
}

fn write_cfg(home: &Path, host: &str, token: &str) {
    let tmp = home.join(".databrickscfg.tmp");
    std::fs::write(&tmp, format!("[DEFAULT]\nhost = {host}\ntoken = {token}\n")).unwrap();
    std::fs::rename(&tmp, home.join(".databrickscfg")).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn runs_from_a_profile_and_exits_cleanly() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let bob = emu.create_user("bob@example.com").unwrap();
    let home = tempfile::tempdir().unwrap();
    write_cfg(home.path(), emu.url(), emu.user_token());
    let mut gw = start(home.path(), &[]);

    // Key and discovery files.
    let state = home.path().join(".kiln");
    assert_eq!(mode(&state), 0o700);
    let key_file = state.join("gateway.key");
    assert_eq!(mode(&key_file), 0o600);
    let key = std::fs::read_to_string(&key_file)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key.len(), 64);
    let discovery: Value =
        serde_json::from_slice(&std::fs::read(state.join("gateway.json")).unwrap()).unwrap();
    assert_eq!(discovery["url"], gw.url.as_str());
    assert_eq!(discovery["pid"], gw.child.id());
    assert!(discovery["started_at"].as_str().unwrap().ends_with('Z'));

    // Model calls with the local key; the token comes from the profile.
    let http = reqwest::Client::builder().timeout(WAIT).build().unwrap();
    let r = http
        .post(format!("{}/claude/v1/messages", gw.url))
        .header("x-api-key", &key)
        .json(&anthropic_body(CLAUDE, PROMPT, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = read_stream(
        http.post(format!("{}/opencode/chat/completions", gw.url))
            .bearer_auth(&key)
            .json(&chat_body(GPT, PROMPT, true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(chat_text(&s.json()).contains(PROMPT));

    // Only model paths leave: path-escape attempts are refused before anything is sent.
    let target = format!("Users/{}/pwned-by-gateway.txt", emu.user_email());
    assert_no_escape(&emu, &gw.url, &key, &target).await;
    let (status, _) = raw_post(
        &gw.url,
        &format!("/gemini/v1beta/models/{GEMINI}:generateContent"),
        &key,
        &gemini_body(PROMPT),
    )
    .await;
    assert_eq!(status, 200, "a plain Gemini model path still works");

    // A changed profile file: the next request uses the new token.
    write_cfg(home.path(), emu.url(), &bob);
    let r = http
        .post(format!("{}/hermes/chat/completions", gw.url))
        .bearer_auth(&key)
        .json(&chat_body(GPT, PROMPT, false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let last = emu
        .requests()
        .into_iter()
        .rfind(|r| r.method == "POST" && r.status == 200)
        .unwrap();
    assert_eq!(last.identity.as_deref(), Some("bob@example.com"));

    // `kiln gateway status`, found through the discovery file.
    let status = kiln(home.path())
        .args(["gateway", "status"])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let text = String::from_utf8(status.stdout).unwrap();
    assert!(text.contains(&gw.url), "{text}");
    assert!(text.contains("claude") && text.contains(CLAUDE), "{text}");
    assert!(text.contains("ai-gateway"), "{text}");
    let json = kiln(home.path())
        .args(["gateway", "status", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(usage_of(&v, "opencode", GPT)["requests"], 1);

    // SIGTERM: a clean exit that removes the discovery file.
    kill_process(Pid::from_raw(gw.child.id() as i32).unwrap(), Signal::TERM).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    let exit = loop {
        if let Some(s) = gw.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kiln gateway did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert!(!state.join("gateway.json").exists());
    assert!(key_file.exists(), "the key stays for the next run");
    let stderr = std::mem::replace(&mut gw.stderr, std::thread::spawn(String::new))
        .join()
        .unwrap();
    assert!(stderr.contains("model call"), "{stderr}");
    for secret in [PROMPT, emu.user_token(), bob.as_str(), key.as_str()] {
        assert!(!stderr.contains(secret), "{secret:?} in the log:\n{stderr}");
    }

    // A second run reuses the key.
    let again = start(home.path(), &[]);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    drop(again);
}

#[test]
fn refuses_non_loopback_and_missing_configuration() {
    let home = tempfile::tempdir().unwrap();
    write_cfg(home.path(), "https://dbc-1.cloud.databricks.com", "dapi-x");
    let out = kiln(home.path())
        .args(["gateway", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));

    let empty = tempfile::tempdir().unwrap();
    let out = kiln(empty.path())
        .args(["gateway", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no host configured")
            || String::from_utf8_lossy(&out.stderr).contains("authentication")
    );

    let out = kiln(empty.path())
        .args(["gateway", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no running gateway"));
}
