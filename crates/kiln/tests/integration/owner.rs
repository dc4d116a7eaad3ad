//! Databricks Apps mode: only the owner gets in (`X-Forwarded-Email`, any letter case); another
//! user and a request without the header get 403; until the owner is known everything but
//! `/health` gets 503 saying why; cross-origin POSTs and WebSockets are refused; `KILN_OWNER`
//! works for a principal that cannot read its own app.

use crate::support::credentials::{Kiln, KilnConfig, WAIT, World};
use kiln::credentials::OwnerState;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Status of a WebSocket upgrade with the given headers (101 when it succeeds).
async fn upgrade_status(k: &Kiln, id: &str, headers: &[(&'static str, &str)]) -> u16 {
    let req = crate::support::ws_request_with(k.addr, id, None, headers);
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

async fn message(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["message"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_until_the_owner_is_known_then_only_the_owner_gets_in() {
    let world = World::new(|o| o.settings.sp_can_read_own_app = false).await;
    let k = Kiln::start(&world, KilnConfig::default()).await;
    let owner = world.owner();

    // The principal cannot read its app: nobody gets in, and the answer says why.
    let health = k.http.get(k.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "/health stays public");
    tokio::time::timeout(
        WAIT,
        k.creds()
            .owner()
            .wait_for(|s| matches!(s, OwnerState::Resolving { attempts, .. } if *attempts >= 1)),
    )
    .await
    .expect("the first attempt to read the app fails");
    for path in [
        "/api/status",
        "/api/sessions",
        "/api/credentials",
        "/",
        "/index.html",
    ] {
        let r = k.req(Method::GET, path).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{path} before the owner is known"
        );
        let text = r.text().await.unwrap();
        assert!(text.contains("owner"), "{path}: {text}");
        assert!(text.contains("cannot read app"), "{path} says why: {text}");
    }
    let r = k
        .req(Method::POST, "/api/sessions")
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        upgrade_status(&k, "any", &[("x-forwarded-email", &owner)]).await,
        503,
        "WebSocket upgrades fail closed too"
    );
    assert!(k.state.manager.list().is_empty(), "nothing was started");

    // Once the principal may read its app, the next retry (backoff on kiln's clock) resolves it.
    world.emu.set_sp_can_read_own_app(true);
    world.advance(Duration::from_secs(120));
    let resolved = tokio::time::timeout(WAIT, k.creds().owner().known())
        .await
        .expect("the owner is resolved after the retry");
    assert_eq!(resolved, owner);

    // The owner, in any letter case.
    for email in [
        owner.clone(),
        owner.to_uppercase(),
        "Alice@Example.COM".to_owned(),
    ] {
        let r = k
            .req_as(&email, Method::GET, "/api/status")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{email}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["credentials"]["owner"]["state"], "known");
        assert_eq!(v["credentials"]["owner"]["source"], "apps_api");
    }
    let page = k.req(Method::GET, "/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Another user: 403 naming the owner; a missing header: 403.
    world.emu.create_user("bob@example.com").unwrap();
    for path in ["/api/status", "/api/sessions", "/"] {
        let r = k
            .req_as("bob@example.com", Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} as bob");
        let text = r.text().await.unwrap();
        assert!(text.contains(&owner), "the refusal names the owner: {text}");
        let r = k.http.get(k.url(path)).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{path} without the header"
        );
    }
    let r = k
        .http
        .get(k.url("/api/status"))
        .header("x-forwarded-email", "")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "an empty header is no user"
    );

    // State changes: same origin (through the proxy's X-Forwarded-Host) works, foreign ones do not.
    let r = k
        .req(Method::POST, "/api/sessions")
        .header("origin", "https://kiln-1234.aws.databricksapps.com")
        .header("x-forwarded-host", "kiln-1234.aws.databricksapps.com")
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "same-origin POST");
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = k.state.manager.list().len();
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
    ] {
        let mut r = k
            .req(Method::POST, "/api/sessions")
            .header("x-forwarded-host", "kiln-1234.aws.databricksapps.com")
            .json(&serde_json::json!({"cols": 80, "rows": 24}));
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-origin POST");
    }
    assert_eq!(k.state.manager.list().len(), before, "nothing was created");
    let r = k
        .req(Method::POST, "/api/credentials")
        .header("origin", "https://evil.example")
        .json(&serde_json::json!({"token": "dapi0123456789abcdef"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-origin paste");

    // WebSockets: the owner from the app's origin gets in; a foreign origin or user does not.
    let fwd = ("x-forwarded-host", "kiln-1234.aws.databricksapps.com");
    let own_origin = ("origin", "https://kiln-1234.aws.databricksapps.com");
    assert_eq!(
        upgrade_status(&k, &id, &[("x-forwarded-email", &owner), fwd, own_origin]).await,
        101
    );
    assert_eq!(
        upgrade_status(
            &k,
            &id,
            &[
                ("x-forwarded-email", &owner),
                fwd,
                ("origin", "https://evil.example")
            ]
        )
        .await,
        403,
        "cross-origin WebSocket"
    );
    assert_eq!(
        upgrade_status(
            &k,
            &id,
            &[("x-forwarded-email", "bob@example.com"), fwd, own_origin]
        )
        .await,
        403,
        "another user's WebSocket"
    );
    assert_eq!(upgrade_status(&k, &id, &[fwd, own_origin]).await, 403);
    k.stop().await;
}

/// Issue 8, finding 5: with two `X-Forwarded-Email` headers the first used to win. Any repeated
/// identity header is now a 400, whichever copy is the owner's, WebSocket upgrades included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_identity_headers_are_refused() {
    let world = World::new(|o| o.settings.sp_can_read_own_app = false).await;
    let k = Kiln::start(
        &world,
        KilnConfig {
            owner_override: Some("alice@example.com".into()),
            ..KilnConfig::default()
        },
    )
    .await;
    let owner = world.owner();
    assert_eq!(
        k.req(Method::GET, "/api/status")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for pair in [
        [owner.as_str(), "bob@example.com"],
        ["bob@example.com", owner.as_str()],
        [owner.as_str(), owner.as_str()],
    ] {
        let r = k
            .req_as(pair[0], Method::GET, "/api/status")
            .header("x-forwarded-email", pair[1])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{pair:?}");
        assert!(message(r).await.contains("x-forwarded-email"));
    }
    let r = k
        .req(Method::POST, "/api/sessions")
        .header("x-forwarded-host", "a.example")
        .header("x-forwarded-host", "b.example")
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(message(r).await.contains("x-forwarded-host"));
    // A WebSocket upgrade too (tungstenite's request allows appending a second header).
    let created: Value = k
        .req(Method::POST, "/api/sessions")
        .json(&serde_json::json!({"cols": 80, "rows": 24}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let req = crate::support::ws_request_with(
        k.addr,
        id,
        None,
        &[
            ("x-forwarded-email", &owner),
            ("x-forwarded-email", "bob@example.com"),
        ],
    );
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 400)
        }
        other => panic!("expected a 400, got {:?}", other.map(|(_, r)| r.status())),
    }
    assert_eq!(
        upgrade_status(&k, id, &[("x-forwarded-email", owner.as_str())]).await,
        101
    );
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiln_owner_works_when_the_principal_cannot_read_its_app() {
    let world = World::new(|o| o.settings.sp_can_read_own_app = false).await;
    let k = Kiln::start(
        &world,
        KilnConfig {
            owner_override: Some("ALICE@example.com".into()),
            ..KilnConfig::default()
        },
    )
    .await;
    let r = k.req(Method::GET, "/api/status").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["credentials"]["owner"]["source"], "kiln_owner");
    let r = k
        .req_as("bob@example.com", Method::GET, "/api/status")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(message(r).await.contains("ALICE@example.com"));
    // The app was never read: KILN_OWNER is taken as is.
    assert_eq!(world.count("GET", "/api/2.0/apps/kiln", 200), 0);
    // And a paste works for the owner.
    let pat = world.pat(&world.owner(), Duration::from_secs(3600));
    let (status, body) = k.paste(&pat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    k.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_principal_credentials_or_kiln_owner_nobody_gets_in() {
    let world = World::new(|_| {}).await;
    let k = Kiln::start(
        &world,
        KilnConfig {
            with_sp: false,
            ..KilnConfig::default()
        },
    )
    .await;
    let r = k.req(Method::GET, "/api/status").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = message(r).await;
    assert!(
        text.contains("DATABRICKS_CLIENT_ID") && text.contains("KILN_OWNER"),
        "{text}"
    );
    let r = k.req(Method::GET, "/").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    k.stop().await;
}
