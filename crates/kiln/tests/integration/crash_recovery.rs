//! Crash recovery with the real binary and the emulator: `kiln serve` is killed with SIGKILL in
//! the middle of a rotation (Databricks has minted the next token, kiln never got the answer, so
//! its id is nowhere in kiln's state file). A restart without a workspace removes the broker
//! files and the `[kiln]` profile that named the dead kiln; a restart with the workspace points
//! them at itself and, once it has a token, revokes both the recorded token and the one minted
//! mid-rotation (found by the dead instance's comment in the token list).

use crate::support::credentials::{WAIT, World};
use kiln_emulator::{Fault, FaultAction};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &str = "crash-test-key-0123456789";
const CREATE: &str = "/api/2.0/token/create";

struct Proc {
    child: Child,
    base: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kiln serve` in `home`; `host` is the workspace (none: Databricks features off).
fn start(home: &Path, host: Option<&str>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("KILN_ACCESS_KEY", KEY)
        .env("KILN_TOKEN_LIFETIME_SECONDS", "30")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(h) = host {
        cmd.env("DATABRICKS_HOST", h);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .find_map(|l| {
            l.unwrap()
                .strip_prefix("kiln: open http://")
                .map(|r| r.split('/').next().unwrap().to_owned())
        })
        .expect("kiln printed its URL");
    std::thread::spawn(move || lines.for_each(drop));
    Proc {
        child,
        base: format!("http://{addr}"),
    }
}

async fn credentials(p: &Proc) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/credentials", p.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn paste(p: &Proc, token: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/credentials", p.base))
        .bearer_auth(KEY)
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Polls `check` (async) until it holds, for at most `WAIT`.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn broker_info(home: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(home.join(".kiln/broker.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn profile(home: &Path) -> String {
    std::fs::read_to_string(home.join(".databrickscfg")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_rotation_leaves_no_live_token_and_no_stale_files() {
    let world = World::new(|_| {}).await;
    let host = world.emu.url().to_owned();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    std::fs::write(
        home.join(".databrickscfg"),
        "[work]\nhost = https://mine.example\n",
    )
    .unwrap();

    // A kiln with a token; its next mint is served by Databricks but never answered.
    let mut k1 = start(home, Some(&host));
    paste(&k1, &world.pat(&world.owner(), Duration::from_secs(3600))).await;
    let first = credentials(&k1).await["token"]["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    world.emu.add_fault(
        Fault::new(CREATE, FaultAction::SlowAnswer { millis: 600_000 })
            .method("POST")
            .times(1),
    );
    until("the rotation has minted the next token", || async {
        world.kiln_tokens().await.len() == 2
    })
    .await;
    let minted_mid_rotation = world
        .kiln_tokens()
        .await
        .into_iter()
        .find(|t| t.token_id != first)
        .unwrap();
    kill_process(Pid::from_raw(k1.child.id() as i32).unwrap(), Signal::KILL).unwrap();
    k1.child.wait().unwrap();
    drop(k1);

    // What the dead kiln left: its token ids do not include the one minted mid-rotation, but
    // its instance (the comment) is recorded; its broker files and profile name it.
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join(".kiln/credentials.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = state["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&first.as_str()), "{state}");
    assert!(
        !ids.contains(&minted_mid_rotation.token_id.as_str()),
        "the id never reached kiln: {state}"
    );
    assert_eq!(
        state["instances"][0]["comment"].as_str(),
        minted_mid_rotation.comment.as_deref(),
        "{state}"
    );
    assert!(broker_info(home).is_some());
    assert!(profile(home).contains("[kiln]"));

    // A restart without a workspace: no broker of its own, and nothing left naming the dead one.
    let k2 = start(home, None);
    until("the stale broker files are removed", || async {
        broker_info(home).is_none()
    })
    .await;
    assert!(!home.join(".kiln/broker.key").exists());
    assert_eq!(
        profile(home),
        "[work]\nhost = https://mine.example\n",
        "the stale [kiln] profile is removed, the rest kept"
    );
    drop(k2);

    // A restart with the workspace: its own broker and profile; the dead run's tokens are
    // revoked once it has a token again.
    world.emu.clear_faults();
    let k3 = start(home, Some(&host));
    let pid = u64::from(k3.child.id());
    until("the new kiln announces its broker", || async {
        broker_info(home).is_some_and(|i| i["pid"].as_u64() == Some(pid))
    })
    .await;
    let info = broker_info(home).unwrap();
    let url = info["url"].as_str().unwrap();
    // The profile is written just after broker.json: wait for it too.
    until("the new kiln's profile names its broker", || async {
        profile(home).contains(&format!("metadata_service_url = {url}/"))
    })
    .await;
    let status = credentials(&k3).await;
    assert_eq!(status["token"]["orphans"], 1, "{status}");
    assert_eq!(status["token"]["earlier_runs"], 1, "{status}");
    let alive = world.kiln_token_ids().await;
    assert!(
        alive.contains(&first) && alive.contains(&minted_mid_rotation.token_id),
        "both are still valid before the paste (this test is about revoking, not expiry)"
    );
    paste(&k3, &world.pat(&world.owner(), Duration::from_secs(3600))).await;
    until("both tokens of the killed kiln are revoked", || async {
        let alive = world.kiln_token_ids().await;
        !alive.contains(&first) && !alive.contains(&minted_mid_rotation.token_id)
    })
    .await;
    until("nothing is left to revoke", || async {
        let t = credentials(&k3).await["token"].clone();
        t["orphans"] == 0 && t["earlier_runs"] == 0
    })
    .await;
    let current = credentials(&k3).await["token"]["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = world.kiln_token_ids().await;
    assert!(left.contains(&current), "kiln's own token is kept");
}
