//! The official Python `databricks-sdk`, run in a kiln terminal, acts as the owner through the
//! `[kiln]` profile (`metadata-service` auth pointed at kiln's broker) and keeps working across
//! rotations: one `WorkspaceClient` makes a call, kiln rotates twice (the first token is revoked),
//! and the same client's next call still succeeds. Real time, 12-second tokens.

use crate::support::credentials::{Kiln, KilnConfig, PROMPT, WAIT, World};
use reqwest::StatusCode;
use std::path::PathBuf;
use std::time::Duration;

const SCRIPT: &str = r#"
import sys
from databricks.sdk import WorkspaceClient
w = WorkspaceClient()
print("auth", w.config.auth_type, flush=True)
print("first", w.current_user.me().user_name, flush=True)
sys.stdin.readline()
print("second", w.current_user.me().user_name, flush=True)
"#;

fn venv_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: create it with `python3 -m venv .venv && .venv/bin/pip install -r \
         tests/contract/requirements.txt` (scripts/test does)",
        p.display()
    );
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_in_a_terminal_acts_as_the_owner_across_rotations() {
    let python = venv_python();
    let world = World::new(|_| {}).await;
    let k = Kiln::start(
        &world,
        KilnConfig {
            apps: false,
            real_clock: true,
            lifetime: Duration::from_secs(12),
            ..KilnConfig::default()
        },
    )
    .await;
    let pat = world.pat(&world.owner(), Duration::from_secs(3600));
    let (status, body) = k.paste(&pat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = k.current_token().unwrap();
    let mut generations = k.creds().cell().subscribe();

    std::fs::write(k.home.join("sdk_check.py"), SCRIPT).unwrap();
    let id = k.create_session().await;
    let mut t = k.term(&id).await;
    t.read_until(PROMPT).await;
    t.send(&format!("{} ~/sdk_check.py\r", python.display()))
        .await;
    t.read_until("auth metadata-service").await;
    t.read_until(&format!("first {}", world.owner())).await;

    // Two rotations: the first token is replaced, then revoked after the grace period.
    tokio::time::timeout(WAIT, async {
        loop {
            if k.creds().cell().minted().is_some_and(|m| m.generation >= 3) {
                break;
            }
            generations.changed().await.unwrap();
        }
    })
    .await
    .expect("two rotations within the wait");
    assert!(
        !world.accepts(&first).await,
        "the token the SDK first got is revoked"
    );

    t.send("\r").await;
    let out = t.read_until(&format!("second {}", world.owner())).await;
    assert!(!out.contains("Traceback"), "{out}");
    let token = k.token().await;
    assert!(token["rotations"].as_u64().unwrap() >= 2, "{token}");
    k.stop().await;
}
