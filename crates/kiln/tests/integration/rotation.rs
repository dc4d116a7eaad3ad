//! The rotation state machine against kiln-emulator with both clocks moved together: two hours
//! of rotations (always a valid token, at most one previous kiln token alive, every older one
//! revoked, a terminal working throughout, no token in any log line); a five-minute outage of
//! the tokens API (shown in the status, recovered without a new paste); an outage outlasting the
//! token; the token left to lapse without terminals or activity, then revived; and project sync
//! carrying on across rotations, each commit mirrored while the tokens it replaced are revoked.

use crate::support::credentials::{
    Kiln, KilnConfig, PROMPT, World, assert_not_logged, capture_logs,
};
use kiln::credentials::remote::token_id_of;
use kiln_databricks::Secret;
use kiln_emulator::{Fault, FaultAction};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);
const MIN: Duration = Duration::from_secs(60);

async fn started(world: &World, cfg: KilnConfig) -> (Kiln, String) {
    let k = Kiln::start(world, cfg).await;
    k.creds().owner().known().await;
    let pat = world.pat(&world.owner(), DAY);
    let (status, body) = k.paste(&pat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (k, pat)
}

/// Token ids of `values`.
fn ids(values: &[String]) -> Vec<String> {
    values
        .iter()
        .map(|v| token_id_of(&Secret::new(v.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hours_of_rotation_keep_one_valid_token_and_revoke_every_older_one() {
    capture_logs();
    let world = World::new(|_| {}).await;
    let (k, pat) = started(&world, KilnConfig::default()).await;
    let session = k.create_session().await;
    let mut term = k.term(&session).await;
    term.read_until(PROMPT).await;

    let mut seen = vec![k.current_token().unwrap()];
    let step = Duration::from_secs(30);
    for i in 1..=240u32 {
        world.advance(step);
        k.settle().await;
        let current = k.current_token().expect("kiln always holds a token");
        assert!(
            world.accepts(&current).await,
            "step {i}: the current token is valid"
        );
        if seen.last() != Some(&current) {
            seen.push(current.clone());
        }
        let alive = world.kiln_token_ids().await;
        let known = ids(&seen);
        let (older, recent) = known.split_at(known.len().saturating_sub(2));
        assert!(
            alive.len() <= 2,
            "step {i}: at most the current and one previous: {alive:?}"
        );
        for id in &alive {
            assert!(
                recent.contains(id),
                "step {i}: {id} should have been revoked"
            );
        }
        for id in older {
            assert!(
                !alive.contains(id),
                "step {i}: an older token is still alive"
            );
        }
        let token = k.token().await;
        assert!(
            token["previous_tokens_alive"].as_u64().unwrap() <= 1,
            "{token}"
        );
        if i % 20 == 0 {
            let out = term.run(&format!("echo tick-$((6*{i}))")).await;
            assert_eq!(
                out,
                format!("tick-{}", 6 * i),
                "the terminal works at step {i}"
            );
        }
    }
    let token = k.token().await;
    assert_eq!(token["state"], "active", "{token}");
    assert_eq!(
        token["rotations"], 12,
        "one rotation per 10 minutes: {token}"
    );
    assert_eq!(token["failures"], 0);
    assert_eq!(seen.len(), 13);
    // Revoked, not merely expired: one delete per replaced token, plus the pasted one.
    assert!(
        world.count("POST", "/api/2.0/token/delete", 200) > seen.len() - 2,
        "deletes: {}",
        world.count("POST", "/api/2.0/token/delete", 200)
    );
    let sessions: Value = k.get_json("/api/sessions").await;
    assert!(
        sessions["sessions"][0]["exit"].is_null(),
        "the shell ran throughout"
    );
    let mut secrets = seen.clone();
    secrets.push(pat);
    k.stop().await;
    assert_not_logged(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_minute_outage_shows_and_rotation_recovers_without_a_new_paste() {
    capture_logs();
    let world = World::new(|_| {}).await;
    let (k, _pat) = started(&world, KilnConfig::default()).await;
    let first = k.current_token().unwrap();
    for _ in 0..8 {
        world.advance(MIN);
        k.settle().await;
    }
    // Minute 8: the tokens API goes away for 5 minutes (the rotation is due at minute 10).
    world.emu.add_fault(Fault::new(
        "/api/2.0/token/*",
        FaultAction::Outage {
            start_in_secs: 0,
            duration_secs: 300,
        },
    ));
    let mut minute = 8.0f64;
    let mut saw_failure = false;
    let recovered_at = loop {
        world.advance(Duration::from_secs(30));
        minute += 0.5;
        k.settle().await;
        let current = k.current_token().expect("the token has not expired");
        assert!(
            world.accepts(&current).await,
            "minute {minute}: still valid"
        );
        let token = k.token().await;
        if token["state"] == "retrying" {
            saw_failure = true;
            assert!((10.0..=13.0).contains(&minute), "minute {minute}: {token}");
            let error = token["error"].as_str().unwrap();
            assert!(error.contains("unavailable"), "{error}");
            assert!(token["failures"].as_u64().unwrap() >= 1);
            let left = token["expires_in_seconds"].as_i64().unwrap();
            assert!(left > 0 && left <= 300, "time left is shown: {token}");
            assert!(token["next_retry_in_seconds"].is_i64(), "{token}");
            let status: Value = k.get_json("/api/status").await;
            assert_eq!(status["credentials"]["token"]["state"], "retrying");
            assert_eq!(status["credentials"]["token"]["error"], token["error"]);
        }
        if token["rotations"] == 1 {
            assert_eq!(token["state"], "active");
            assert_eq!(token["failures"], 0);
            assert!(token["error"].is_null());
            break minute;
        }
        assert!(minute < 15.0, "no recovery before expiry: {token}");
    };
    assert!(saw_failure, "the outage was visible");
    assert!(
        recovered_at >= 13.0,
        "recovered after the outage, at minute {recovered_at}"
    );
    assert_eq!(k.token().await["generation"], 2, "no new paste");
    assert_ne!(k.current_token().unwrap(), first);
    for _ in 0..3 {
        world.advance(MIN);
        k.settle().await;
    }
    assert!(
        !world.accepts(&first).await,
        "the previous token was revoked after the outage"
    );
    assert_eq!(world.kiln_tokens().await.len(), 1);
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_outlasting_the_token_asks_for_a_new_one() {
    let world = World::new(|_| {}).await;
    let (k, _pat) = started(&world, KilnConfig::default()).await;
    world.emu.add_fault(Fault::new(
        "/api/2.0/token/create",
        FaultAction::Status {
            status: 503,
            error_code: Some("TEMPORARILY_UNAVAILABLE".into()),
            message: Some("down for maintenance".into()),
        },
    ));
    for _ in 0..16 {
        world.advance(MIN);
        k.settle().await;
    }
    let token = k.token().await;
    assert_eq!(token["state"], "needs_token", "{token}");
    let reason = token["reason"].as_str().unwrap();
    assert!(
        reason.contains("expired before kiln could replace it"),
        "{reason}"
    );
    assert!(reason.contains("down for maintenance"), "{reason}");
    assert!(k.current_token().is_none());
    world.emu.clear_faults();
    let (status, body) = k.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(k.token().await["state"], "active");
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_terminal_keeps_rotation_going_past_a_day() {
    let world = World::new(|_| {}).await;
    let (k, _pat) = started(&world, KilnConfig::default()).await;
    let _session = k.create_session().await;
    for _ in 0..(25 * 15) {
        world.advance(Duration::from_secs(240));
        k.settle().await;
        assert_eq!(k.token().await["state"], "active");
    }
    assert!(world.accepts(&k.current_token().unwrap()).await);
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_terminals_or_activity_the_token_lapses_after_a_day() {
    let world = World::new(|_| {}).await;
    let (k, _pat) = started(&world, KilnConfig::default()).await;
    let mut elapsed = Duration::ZERO;
    while k.token().await["state"] != "lapsing" {
        world.advance(Duration::from_secs(240));
        elapsed += Duration::from_secs(240);
        k.settle().await;
        assert!(
            elapsed <= DAY + 20 * MIN,
            "still rotating after {elapsed:?}"
        );
        // Status polls are not activity.
        k.credentials().await;
    }
    assert!(elapsed >= DAY, "lapsing after {elapsed:?}");
    let last = k.current_token().unwrap();
    assert!(world.accepts(&last).await, "left to lapse, not revoked");
    for _ in 0..3 {
        world.advance(Duration::from_secs(120));
        k.settle().await;
    }
    let token = k.token().await;
    assert_eq!(token["state"], "needs_token", "{token}");
    assert!(
        token["reason"].as_str().unwrap().contains("lapse"),
        "{token}"
    );
    let (status, body) = k.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the next visit pastes a new one: {body}"
    );
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_revives_a_lapsing_token() {
    let world = World::new(|_| {}).await;
    let (k, _pat) = started(
        &world,
        KilnConfig {
            activity_window: Some(Duration::from_secs(3600)),
            ..KilnConfig::default()
        },
    )
    .await;
    while k.token().await["state"] != "lapsing" {
        world.advance(MIN);
        k.settle().await;
    }
    let rotations = k.token().await["rotations"].as_u64().unwrap();
    let r = k.req(Method::GET, "/api/sessions").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    k.settle().await;
    let token = k.token().await;
    assert_eq!(token["state"], "active", "{token}");
    assert_eq!(
        token["rotations"].as_u64().unwrap(),
        rotations + 1,
        "rotated at once"
    );
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_keep_syncing_across_rotations_with_only_live_tokens() {
    use crate::support::sync::{assert_mirrors, git, new_repo, wait_until, write};
    capture_logs();
    let world = World::new(|_| {}).await;
    let cfg = KilnConfig {
        sync: true,
        ..KilnConfig::default()
    };
    let (k, pat) = started(&world, cfg).await;
    let root = format!("/Workspace/Users/{}/projects/demo", world.owner());
    let dir = new_repo(&k.home, "demo", &[("notes.txt", b"first\n")]);
    let synced = |commit: String| {
        let k = &k;
        async move {
            wait_until(&format!("demo synced at {commit}"), || async {
                let doc: Value = k.get_json("/api/sync").await;
                doc["projects"].as_array().is_some_and(|ps| {
                    ps.iter().any(|p| {
                        p["name"] == "demo"
                            && p["state"] == "synced"
                            && p["synced_commit"] == commit.as_str()
                    })
                })
            })
            .await;
        }
    };
    let head = |dir: &std::path::Path| git(&k.home, dir, &["rev-parse", "HEAD"]).trim().to_owned();
    synced(head(&dir)).await;
    assert_mirrors(&world.emu, &root, &dir, &[]).await;

    // Three rotations, a commit after each: every one reaches the workspace with the token of
    // the moment, while the tokens it replaced are revoked.
    let mut seen = vec![k.current_token().unwrap()];
    for round in 1..=3u32 {
        world.advance(Duration::from_secs(11 * 60));
        k.settle().await;
        let current = k.current_token().unwrap();
        assert_ne!(seen.last(), Some(&current), "round {round}: a new token");
        seen.push(current);
        write(
            &dir.join(format!("round-{round}.txt")),
            format!("round {round}\n").as_bytes(),
        );
        git(&k.home, &dir, &["add", "-A"]);
        git(
            &k.home,
            &dir,
            &["commit", "-q", "-m", &format!("round {round}")],
        );
        synced(head(&dir)).await;
        assert_mirrors(&world.emu, &root, &dir, &[]).await;
        let alive = world.kiln_token_ids().await;
        for old in ids(&seen[..seen.len().saturating_sub(2)]) {
            assert!(
                !alive.contains(&old),
                "round {round}: a replaced token is alive"
            );
        }
    }
    let doc: Value = k.get_json("/api/sync").await;
    assert!(
        !doc.to_string().contains(seen.last().unwrap().as_str()),
        "the sync status shows no token"
    );
    let mut secrets = seen.clone();
    secrets.push(pat);
    k.stop().await;
    assert_not_logged(&secrets);
}
