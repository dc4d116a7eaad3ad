//! The real `kiln serve` outside Databricks Apps takes its token from the usual Databricks
//! configuration (`--profile`), serves it through the broker, and follows an edit of the profile
//! file without a restart; other profiles of the file are left alone.

use crate::support::credentials::World;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const KEY: &str = "local-test-key-0123456789";

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_token_is_served_and_follows_edits_of_the_file() {
    let world = World::new(|_| {}).await;
    let first = world.pat(&world.owner(), Duration::from_secs(3600));
    let second = world.pat(&world.owner(), Duration::from_secs(3600));
    let home = tempfile::tempdir().unwrap();
    let cfg_path = home.path().join(".databrickscfg");
    let other = "[DEFAULT]\nhost = https://other.example\ntoken = dapi-not-used\n\n";
    std::fs::write(
        &cfg_path,
        format!(
            "{other}[work]\nhost = {}\ntoken = {first}\n",
            world.emu.url()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", "--bind", "127.0.0.1:0", "--profile", "work"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KILN_ACCESS_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines
        .by_ref()
        .find_map(|l| {
            l.unwrap()
                .strip_prefix("kiln: open http://")
                .map(|r| r.split('/').next().unwrap().to_owned())
        })
        .expect("kiln printed its URL");
    let _proc = Proc(child);
    std::thread::spawn(move || lines.for_each(drop));

    let http = reqwest::Client::new();
    let status: Value = http
        .get(format!("http://{addr}/api/credentials"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["source"], "config", "{status}");
    assert_eq!(status["token"]["state"], "delegated");
    assert_eq!(status["workspace"], world.emu.url());
    assert!(
        status["config"].as_str().unwrap().contains("work"),
        "{status}"
    );

    let kiln_dir = home.path().join(".kiln");
    let broker_token = || async {
        kiln::credentials::cli::fetch(&kiln_dir).await.unwrap()["access_token"].clone()
    };
    assert_eq!(broker_token().await, first.as_str());
    let text = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(text.starts_with(other), "other profiles untouched: {text}");
    assert!(text.contains("[kiln]"));

    // Edit the profile's token in place (kiln's own section stays): the next request uses it.
    std::fs::write(&cfg_path, text.replace(&first, &second)).unwrap();
    assert_eq!(
        broker_token().await,
        second.as_str(),
        "the edit is picked up at once"
    );
    assert_eq!(
        world.count("POST", "/api/2.0/token/create", 200),
        0,
        "nothing minted"
    );
}
