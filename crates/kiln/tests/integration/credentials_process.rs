//! The real `kiln serve` binary as a Databricks App, run as an unprivileged user (nobody, when
//! the test runs as root): the service principal secret is gone from its environment (it
//! re-executed itself without it), a terminal (same user) cannot read `/proc/<kiln>/environ`,
//! `/mem` or `/fd`, a terminal's environment holds no credential, and no token, pasted or minted,
//! nor the secret appears in any log line (trace level, captured and scanned).

use crate::support::credentials::{WAIT, World};
use futures_util::{SinkExt, StreamExt};
use kiln::credentials::remote::token_id_of;
use kiln_databricks::Secret;
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const NOBODY: u32 = 65534;

struct Proc {
    child: Child,
    port: u16,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn spawn_kiln(world: &World, home: &std::path::Path, log: &std::path::Path) -> Proc {
    let port = crate::support::free_port();
    let kiln = env!("CARGO_BIN_EXE_kiln");
    let mut cmd = if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            kiln,
        ]);
        c
    } else {
        Command::new(kiln)
    };
    cmd.args(["serve", "--shell", "/bin/bash"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("LANG", "C.UTF-8")
        .env("RUST_LOG", "trace")
        .env("KILN_TOKEN_LIFETIME_SECONDS", "12")
        .envs(world.emu.app_env(port))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()));
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut serving = false;
    for line in lines.by_ref() {
        if line
            .unwrap()
            .starts_with("kiln: serving on http://0.0.0.0:")
        {
            serving = true;
            break;
        }
    }
    assert!(
        serving,
        "kiln printed where it serves: {}",
        std::fs::read_to_string(log).unwrap()
    );
    std::thread::spawn(move || lines.for_each(drop));
    Proc {
        child,
        port,
        base: format!("http://127.0.0.1:{port}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_process_keeps_its_secrets_from_terminals_and_logs() {
    let world = World::new(|_| {}).await;
    let owner = world.owner();
    let home = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("kiln.log");
    if is_root() {
        std::os::unix::fs::chown(home.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let kiln = spawn_kiln(&world, home.path(), &log);
    let pid = kiln.child.id();
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", kiln.base))
            .header("x-forwarded-email", &owner)
    };

    // The owner is resolved through the app's service principal (OAuth M2M against the emulator).
    let deadline = tokio::time::Instant::now() + WAIT;
    let status: Value = loop {
        let r = get("/api/credentials").send().await.unwrap();
        if r.status() == 200 {
            break r.json().await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the owner is never resolved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["owner"]["email"], owner);
    assert_eq!(status["non_dumpable"], true);

    if is_root() {
        // Only root can look: the re-executed kiln has no secret in its environment.
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let environ = String::from_utf8_lossy(&environ);
        assert!(!environ.contains("DATABRICKS_CLIENT_SECRET"), "{environ}");
        assert!(!environ.contains(world.emu.sp_client_secret()));
        assert!(
            environ.contains("KILN_SP_SECRET_STDIN=1"),
            "kiln re-executed itself"
        );
        assert!(environ.contains("DATABRICKS_CLIENT_ID="));
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(
            st.lines()
                .any(|l| l.starts_with("Uid:") && l.contains("65534")),
            "{st}"
        );
    }

    // Paste, then wait for a rotation so that more than one minted token exists.
    let pat = world.pat(&owner, Duration::from_secs(3600));
    let r = http
        .post(format!("{}/api/credentials", kiln.base))
        .header("x-forwarded-email", &owner)
        .json(&json!({ "token": pat }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let key = std::fs::read_to_string(home.path().join(".kiln/broker.key")).unwrap();
    let info: Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join(".kiln/broker.json")).unwrap(),
    )
    .unwrap();
    let broker = info["url"].as_str().unwrap().to_owned();
    let current = || async {
        let v: Value = http
            .get(format!("{broker}/token"))
            .bearer_auth(key.trim())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    };
    let mut minted = vec![current().await];
    let deadline = tokio::time::Instant::now() + WAIT;
    while minted.len() < 2 {
        let t = current().await;
        if !minted.contains(&t) {
            minted.push(t);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no rotation in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A terminal of the same user cannot look into kiln.
    let r = http
        .post(format!("{}/api/sessions", kiln.base))
        .header("x-forwarded-email", &owner)
        .json(&json!({"cols": 120, "rows": 40}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = crate::support::ws_request_with(
        format_args!("127.0.0.1:{}", kiln.port),
        &id,
        None,
        &[("x-forwarded-email", &owner)],
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let mut seen = String::new();
    let mut n = 0;
    let mut run = async |cmd: &str| -> String {
        n += 1;
        let line = format!("echo B''EGIN{n}; {cmd}; echo E''ND{n}\r");
        ws.send(Message::Binary(line.into_bytes().into()))
            .await
            .unwrap();
        let end = format!("END{n}");
        let deadline = tokio::time::Instant::now() + WAIT;
        while !seen.contains(&end) {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => seen.push_str(&String::from_utf8_lossy(&b)),
                Ok(Some(Ok(_))) => {}
                other => panic!("terminal ended or timed out ({other:?}): {seen}"),
            }
        }
        let start = seen.rfind(&format!("BEGIN{n}")).unwrap() + format!("BEGIN{n}").len();
        seen[start..seen.rfind(&end).unwrap()].trim().to_owned()
    };
    assert_eq!(
        run("echo $PPID").await,
        pid.to_string(),
        "kiln is the shell's parent"
    );
    if is_root() {
        assert_eq!(run("id -u").await, NOBODY.to_string());
    }
    assert_eq!(
        run("test -r /proc/self/environ && echo readable").await,
        "readable"
    );
    let out = run("cat /proc/$PPID/environ >/dev/null; echo rc=$?").await;
    assert!(
        out.contains("Permission denied") && out.ends_with("rc=1"),
        "environ: {out}"
    );
    let out = run("head -c 16 /proc/$PPID/mem >/dev/null; echo rc=$?").await;
    assert!(
        out.contains("Permission denied") && out.ends_with("rc=1"),
        "mem: {out}"
    );
    let out = run("ls /proc/$PPID/fd >/dev/null; echo rc=$?").await;
    assert!(
        out.contains("Permission denied") && out.ends_with("rc=2"),
        "fd: {out}"
    );
    let env = run("env").await;
    assert!(env.contains("DATABRICKS_CONFIG_PROFILE=kiln"), "{env}");
    for bad in [
        "TOKEN",
        "SECRET",
        "DATABRICKS_CLIENT_ID",
        "DATABRICKS_HOST",
        world.emu.sp_client_secret(),
        world.emu.sp_client_id(),
        pat.as_str(),
        minted[0].as_str(),
        minted[1].as_str(),
    ] {
        assert!(
            !env.contains(bad),
            "{bad} in a terminal's environment:\n{env}"
        );
    }
    let latest = current().await;
    let hashed = run(&format!(
        "{} token | tr -d '\\n' | sha256sum | cut -c1-64",
        env!("CARGO_BIN_EXE_kiln")
    ))
    .await;
    assert!(
        hashed.ends_with(&token_id_of(&Secret::new(latest.clone()))),
        "kiln token in the terminal: {hashed}"
    );
    if !minted.contains(&latest) {
        minted.push(latest);
    }

    // SIGTERM: kiln revokes its tokens on the way out.
    kill_process(Pid::from_raw(pid as i32).unwrap(), Signal::TERM).unwrap();
    let mut kiln = kiln;
    let exited = tokio::task::spawn_blocking(move || {
        let status = kiln.child.wait().unwrap();
        drop(kiln);
        status
    });
    let status = tokio::time::timeout(WAIT, exited).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(world.kiln_tokens().await.is_empty(), "revoked at shutdown");

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 20, "trace logging was on: {text}");
    assert!(text.contains("token rotated"), "the rotation was logged");
    let mut secrets = minted.clone();
    secrets.push(pat.clone());
    secrets.push(world.emu.sp_client_secret().to_owned());
    secrets.push(key.trim().to_owned());
    for s in &secrets {
        if let Some(line) = text.lines().find(|l| l.contains(s.as_str())) {
            panic!("a secret was logged: {line}");
        }
    }
}
