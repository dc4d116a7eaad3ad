//! The pasted token: refusals (another user's, expired, garbage) change nothing; a good one
//! becomes kiln's own short-lived token and is revoked; the broker, the `[kiln]` profile and
//! `kiln token` hand out the current token; local and configuration modes; a restarted kiln
//! revokes its orphan; a clean stop revokes everything. No token appears in any log line.

use crate::support::credentials::{
    Kiln, KilnConfig, World, assert_not_logged, capture_logs, kiln_file,
};
use kiln::credentials::remote::token_id_of;
use kiln_databricks::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pastes_change_nothing() {
    capture_logs();
    let world = World::new(|_| {}).await;
    let k = Kiln::start(&world, KilnConfig::default()).await;
    k.creds().owner().known().await;
    let before: Vec<String> = world
        .tokens()
        .await
        .into_iter()
        .map(|t| t.token_id)
        .collect();

    let bob = world.emu.create_user("bob@example.com").unwrap();
    let (status, body) = k.paste(&bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("bob@example.com") && msg.contains(&world.owner()),
        "{msg}"
    );

    let expired = world.pat(&world.owner(), Duration::from_secs(60));
    world.advance(Duration::from_secs(120));
    let (status, body) = k.paste(&expired).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid, revoked or expired")
    );

    let garbage = [
        "garbage-that-looks-like-a-token".to_owned(),
        String::new(),
        "two words".to_owned(),
        "x".repeat(10_000),
        "dapi\u{1b}[31mred".to_owned(),
    ];
    for g in &garbage {
        let (status, body) = k.paste(g).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{g:.40?}: {body}");
        assert!(body["message"].is_string());
    }
    for raw in [
        r#"{"tok":"dapi123456789"}"#,
        r#"{"token":12345678901}"#,
        "not json",
        "[]",
    ] {
        let r = k
            .req(Method::POST, "/api/credentials")
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{raw}");
    }

    let token = k.token().await;
    assert_eq!(token["state"], "needs_token");
    assert_eq!(token["generation"], 0);
    assert!(k.current_token().is_none());
    assert_eq!(
        world.count("POST", "/api/2.0/token/create", 200),
        0,
        "nothing minted"
    );
    assert_eq!(
        world.count("POST", "/api/2.0/token/delete", 200),
        0,
        "nothing revoked"
    );
    let after: Vec<String> = world
        .tokens()
        .await
        .into_iter()
        .map(|t| t.token_id)
        .collect();
    assert_eq!(before, after, "the token list is unchanged");
    // With a token in place, a refused paste leaves it in place.
    let (status, _) = k.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(status, StatusCode::OK);
    let held = k.token().await;
    let (status, _) = k.paste(&bob).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = k.paste(&garbage[0]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let now = k.token().await;
    assert_eq!(now["token_id"], held["token_id"]);
    assert_eq!(now["generation"], 1);
    assert_eq!(now["previous_tokens_alive"], 0);
    assert_eq!(world.kiln_tokens().await.len(), 1);
    let mut secrets = vec![bob, expired, garbage[0].clone()];
    secrets.push(world.emu.sp_client_secret().to_owned());
    assert_not_logged(&secrets);
    k.stop().await;
}

async fn broker_get(k: &Kiln, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(kiln_file(&k.home, "broker.json")).unwrap())
            .unwrap();
    let url = info["url"].as_str().unwrap();
    let mut r = k.http.get(format!("{url}{path}"));
    for (n, v) in headers {
        r = r.header(*n, *v);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_becomes_kilns_own_and_the_broker_serves_it() {
    capture_logs();
    let world = World::new(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".databrickscfg"),
        "[prod]\nhost = https://prod.example\n",
    )
    .unwrap();
    let k = Kiln::start(
        &world,
        KilnConfig {
            home: Some(home.path().to_path_buf()),
            ..KilnConfig::default()
        },
    )
    .await;
    k.creds().owner().known().await;
    let pat = world.pat(&world.owner(), DAY);
    let (status, body) = k.paste(&pat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], world.owner());
    assert_eq!(body["lifetime_seconds"], 900);
    assert_eq!(body["pasted"]["outcome"], "revoked");
    assert_eq!(
        body["pasted"]["token_id"],
        token_id_of(&Secret::new(pat.clone()))
    );
    assert!(!world.accepts(&pat).await, "the pasted token was revoked");

    let ours = world.kiln_tokens().await;
    assert_eq!(ours.len(), 1, "{ours:?}");
    let info = &ours[0];
    assert_eq!(
        info.expiry_time.unwrap() - info.creation_time.unwrap(),
        900_000
    );
    assert!(
        info.comment
            .as_deref()
            .unwrap()
            .starts_with("kiln app kiln instance "),
        "the comment names the app instance: {:?}",
        info.comment
    );
    let current = k.current_token().unwrap();
    assert!(world.accepts(&current).await);
    assert_eq!(info.token_id, token_id_of(&Secret::new(current.clone())));

    let status = k.credentials().await;
    assert_eq!(status["source"], "pasted");
    assert_eq!(status["mode"], "databricks_apps");
    assert_eq!(
        status["token_page_url"],
        format!("{}/settings/user/developer/access-tokens", world.emu.url())
    );
    let token = &status["token"];
    assert_eq!(token["state"], "active");
    assert_eq!(token["token_id"], info.token_id);
    assert!(
        (898..=900).contains(&token["expires_in_seconds"].as_i64().unwrap()),
        "{token}"
    );
    assert!(
        (598..=600).contains(&token["rotates_in_seconds"].as_i64().unwrap()),
        "{token}"
    );
    let all = k
        .req(Method::GET, "/api/status")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!all.contains(&current) && !all.contains(world.emu.sp_client_secret()));

    // The broker: private files, the key, loopback names only, the metadata-service protocol.
    let dir = k.home.join(".kiln");
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
    for f in ["broker.json", "broker.key", "credentials.json"] {
        assert_eq!(
            std::fs::metadata(dir.join(f)).unwrap().mode() & 0o777,
            0o600,
            "{f}"
        );
    }
    let state_file = std::fs::read_to_string(dir.join("credentials.json")).unwrap();
    assert!(state_file.contains(&info.token_id) && !state_file.contains(&current));
    let key = std::fs::read_to_string(dir.join("broker.key")).unwrap();
    let key = key.trim();
    let bearer = format!("Bearer {key}");
    let (s, v) = broker_get(&k, "/token", &[("authorization", &bearer)]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["access_token"], current);
    assert_eq!(v["token_type"], "Bearer");
    let rotate_at = (world.clock_now_ms() + 600_000) / 1000;
    assert!(
        (v["expires_on"].as_i64().unwrap() - rotate_at).abs() <= 2,
        "{v}"
    );
    assert_eq!(broker_get(&k, "/token", &[]).await.0, 401);
    assert_eq!(
        broker_get(&k, "/token", &[("authorization", "Bearer nope")])
            .await
            .0,
        401
    );
    let meta = format!("/metadata/{key}");
    assert_eq!(
        broker_get(&k, &meta, &[]).await.0,
        400,
        "version header required"
    );
    let (s, v) = broker_get(
        &k,
        &meta,
        &[
            ("x-databricks-metadata-version", "1"),
            ("x-databricks-host", world.emu.url()),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["access_token"], current);
    let v1 = [("x-databricks-metadata-version", "1")];
    assert_eq!(broker_get(&k, "/metadata/wrong-key", &v1).await.0, 401);
    assert_eq!(
        broker_get(
            &k,
            &meta,
            &[
                ("x-databricks-metadata-version", "1"),
                ("x-databricks-host", "https://other.cloud.databricks.com")
            ]
        )
        .await
        .0,
        403,
        "tokens only for kiln's workspace"
    );
    assert_eq!(
        broker_get(
            &k,
            &meta,
            &[
                ("x-databricks-metadata-version", "1"),
                ("host", "evil.example")
            ]
        )
        .await
        .0,
        403,
        "DNS rebinding"
    );
    let cfg = std::fs::read_to_string(k.home.join(".databrickscfg")).unwrap();
    assert!(
        cfg.contains("[kiln]") && cfg.contains("auth_type = metadata-service"),
        "{cfg}"
    );
    assert!(cfg.contains(&format!("/metadata/{key}")));
    assert_eq!(
        kiln::credentials::cli::fetch(&dir).await.unwrap()["access_token"],
        current
    );

    // A terminal: the profile is selected, no credential is in the environment, and
    // `kiln token` prints the current token (compared through its hash).
    let id = k.create_session().await;
    let mut t = k.term(&id).await;
    t.read_until(crate::support::credentials::PROMPT).await;
    let env = t.run("env").await;
    assert!(env.contains("DATABRICKS_CONFIG_PROFILE=kiln"), "{env}");
    for bad in [
        "TOKEN",
        "SECRET",
        "DATABRICKS_CLIENT",
        "DATABRICKS_HOST",
        current.as_str(),
    ] {
        assert!(
            !env.contains(bad),
            "{bad} in the terminal environment:\n{env}"
        );
    }
    let kiln_bin = env!("CARGO_BIN_EXE_kiln");
    let hashed = t
        .run(&format!(
            "{kiln_bin} token | tr -d '\\n' | sha256sum | cut -c1-64"
        ))
        .await;
    assert!(
        hashed.ends_with(&info.token_id),
        "kiln token in a terminal: {hashed}"
    );

    // A second paste replaces kiln's token; the replaced one is revoked after the grace period.
    let pat2 = world.pat(&world.owner(), DAY);
    let (status, body) = k.paste(&pat2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(k.token().await["previous_tokens_alive"], 1);
    world.advance(Duration::from_secs(61));
    k.settle().await;
    let ours = world.kiln_tokens().await;
    assert_eq!(ours.len(), 1, "the replaced token was revoked: {ours:?}");
    assert!(!world.accepts(&current).await);
    let newest = k.current_token().unwrap();

    // A clean stop revokes kiln's token and removes its files and profile.
    k.stop().await;
    assert!(world.kiln_tokens().await.is_empty(), "revoked at shutdown");
    assert!(!world.accepts(&newest).await);
    assert!(!dir.join("broker.json").exists() && !dir.join("broker.key").exists());
    let cfg = std::fs::read_to_string(home.path().join(".databrickscfg")).unwrap();
    assert_eq!(
        cfg, "[prod]\nhost = https://prod.example\n",
        "other profiles are untouched"
    );
    assert_not_logged(&[pat, pat2, current, newest, key.to_owned()]);
}

/// Issue 8, finding 7: a long-poll waiting for output does not hold up a clean stop: it is
/// answered `503` by the shutdown (not by its own 30 s wait), and the stop still revokes kiln's
/// token and removes the broker files and the `[kiln]` profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_with_a_long_poll_in_flight_still_cleans_up() {
    let world = World::new(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".databrickscfg"),
        "[prod]\nhost = https://prod.example\n",
    )
    .unwrap();
    let k = Kiln::start(
        &world,
        KilnConfig {
            home: Some(home.path().to_path_buf()),
            ..KilnConfig::default()
        },
    )
    .await;
    k.creds().owner().known().await;
    let (status, body) = k.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = k.current_token().unwrap();
    let id = k.create_session().await;
    // Wait until the shell is quiet (a poll answers 204), then leave a 30 s poll waiting.
    let mut offset = 0u64;
    let deadline = tokio::time::Instant::now() + crate::support::credentials::WAIT;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shell never went quiet"
        );
        let r = k
            .req(
                Method::GET,
                &format!("/api/sessions/{id}/output?offset={offset}&wait=1"),
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        offset = r.headers()["x-kiln-next-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        if status == StatusCode::NO_CONTENT {
            break;
        }
    }
    let poll = tokio::spawn(
        k.req(
            Method::GET,
            &format!("/api/sessions/{id}/output?offset={offset}&wait=30"),
        )
        .send(),
    );
    // A waiting long-poll counts as a viewer: that is how the test knows it is in flight.
    let deadline = tokio::time::Instant::now() + crate::support::credentials::WAIT;
    loop {
        let v: Value = k
            .req(Method::GET, &format!("/api/sessions/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["viewers"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the poll never arrived: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    k.stop().await;
    let answered = poll.await.unwrap().unwrap();
    assert_eq!(
        answered.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the poll was ended by the shutdown"
    );
    assert!(world.kiln_tokens().await.is_empty(), "revoked at shutdown");
    assert!(!world.accepts(&token).await);
    let dir = home.path().join(".kiln");
    assert!(!dir.join("broker.json").exists() && !dir.join("broker.key").exists());
    let cfg = std::fs::read_to_string(home.path().join(".databrickscfg")).unwrap();
    assert_eq!(cfg, "[prod]\nhost = https://prod.example\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_kiln_revokes_its_orphan_once_it_has_a_token() {
    capture_logs();
    let world = World::new(|_| {}).await;
    let home = tempfile::tempdir().unwrap();
    let cfg = || KilnConfig {
        home: Some(home.path().to_path_buf()),
        ..KilnConfig::default()
    };
    let k1 = Kiln::start(&world, cfg()).await;
    k1.creds().owner().known().await;
    let (status, _) = k1.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(status, StatusCode::OK);
    let orphan = k1.current_token().unwrap();
    k1.crash().await;
    assert!(world.accepts(&orphan).await, "a crash revokes nothing");

    let k2 = Kiln::start(&world, cfg()).await;
    k2.creds().owner().known().await;
    assert_eq!(
        k2.token().await["orphans"],
        1,
        "the orphan is known from the state file"
    );
    assert!(
        world.accepts(&orphan).await,
        "not revoked before kiln has a token"
    );
    let (status, _) = k2.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(status, StatusCode::OK);
    k2.settle().await;
    assert!(!world.accepts(&orphan).await, "the orphan was revoked");
    assert_eq!(k2.token().await["orphans"], 0);
    let ours = world.kiln_tokens().await;
    assert_eq!(ours.len(), 1);
    assert_eq!(
        ours[0].token_id,
        token_id_of(&Secret::new(k2.current_token().unwrap()))
    );
    k2.stop().await;
    assert!(world.kiln_tokens().await.is_empty());
    let state = std::fs::read_to_string(kiln_file(home.path(), "credentials.json")).unwrap();
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["tokens"], json!([]), "nothing left to revoke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_takes_any_users_token_with_the_access_key() {
    let world = World::new(|_| {}).await;
    let k = Kiln::start(
        &world,
        KilnConfig {
            apps: false,
            ..KilnConfig::default()
        },
    )
    .await;
    let status = k.credentials().await;
    assert_eq!(status["mode"], "local");
    assert_eq!(status["owner"]["state"], "not_applicable");
    assert_eq!(status["token"]["state"], "needs_token");
    let r = k.http.get(k.url("/api/credentials")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the access key guards it"
    );
    let bob = world.emu.create_user("bob@example.com").unwrap();
    let (status, body) = k.paste(&bob).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"], "bob@example.com");
    assert_eq!(k.token().await["state"], "active");
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configuration_token_is_used_as_is() {
    let world = World::new(|_| {}).await;
    let config_token = world.emu.user_token().to_owned();
    let k = Kiln::start(
        &world,
        KilnConfig {
            apps: false,
            config_token: Some(config_token.clone()),
            ..KilnConfig::default()
        },
    )
    .await;
    let status = k.credentials().await;
    assert_eq!(status["source"], "config");
    assert_eq!(status["token"]["state"], "delegated");
    let (s, body) = k.paste(&world.pat(&world.owner(), DAY)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(body["message"].as_str().unwrap().contains("configuration"));
    let dir = k.home.join(".kiln");
    assert_eq!(
        kiln::credentials::cli::fetch(&dir).await.unwrap()["access_token"],
        config_token
    );
    assert_eq!(world.count("POST", "/api/2.0/token/create", 200), 0);
    k.stop().await;
    assert!(
        world.accepts(&config_token).await,
        "a configuration token is never revoked"
    );
}
