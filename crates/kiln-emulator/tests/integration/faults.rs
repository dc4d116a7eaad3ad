//! Fault injection (429 with Retry-After, status, connection reset, latency, outage windows
//! on the clock), the request log (no token values), and the admin API (loopback, origin
//! check, clock, users, tokens, settings, init scripts, credentials).

use std::time::Duration;

use crate::support::{TIMEOUT, into_resp, start};
use kiln_emulator::{Emulator, EmulatorError, EmulatorOptions, Fault, FaultAction};
use serde_json::json;

const ME: &str = "/api/2.0/preview/scim/v2/Me";

#[tokio::test]
async fn rate_limit_twice_then_success() {
    let c = start().await;
    c.emu.add_fault(
        Fault::new(
            ME,
            FaultAction::RateLimit {
                retry_after_secs: 7,
            },
        )
        .times(2),
    );
    for _ in 0..2 {
        let r = c.get(ME).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.headers["retry-after"], "7");
        assert_eq!(r.body["error_code"], "REQUEST_LIMIT_EXCEEDED");
    }
    assert_eq!(c.get(ME).await.status, 200);
    let log: Vec<(u16, Option<String>)> = c
        .emu
        .requests()
        .into_iter()
        .map(|r| (r.status, r.fault))
        .collect();
    assert_eq!(
        log,
        vec![
            (429, Some("rate_limit".into())),
            (429, Some("rate_limit".into())),
            (200, None)
        ]
    );
}

#[tokio::test]
async fn status_fault_by_method_and_prefix() {
    let c = start().await;
    c.emu.add_fault(
        Fault::new(
            "/api/2.0/workspace/*",
            FaultAction::Status {
                status: 503,
                error_code: Some("WORKSPACE_TEMPORARILY_UNAVAILABLE".into()),
                message: None,
            },
        )
        .method("POST"),
    );
    let r = c
        .post("/api/2.0/workspace/mkdirs", json!({"path": "/Shared/x"}))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error_code"], "WORKSPACE_TEMPORARILY_UNAVAILABLE");
    assert_eq!(
        c.get("/api/2.0/workspace/list?path=/Shared").await.status,
        200,
        "GET is not matched"
    );
    c.emu.clear_faults();
    assert_eq!(
        c.post("/api/2.0/workspace/mkdirs", json!({"path": "/Shared/x"}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn outage_window_follows_the_clock() {
    let c = start().await;
    c.emu.add_fault(Fault::new(
        "*",
        FaultAction::Outage {
            start_in_secs: 60,
            duration_secs: 120,
        },
    ));
    assert_eq!(c.get(ME).await.status, 200);
    c.emu.advance(Duration::from_secs(61));
    let r = c.get(ME).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["error_code"], "TEMPORARILY_UNAVAILABLE");
    // The data plane is inside the same outage.
    let r = c
        .post(
            "/serving-endpoints/chat/completions",
            json!({"model": "databricks-gpt-5", "messages": []}),
        )
        .await;
    assert_eq!(r.status, 503);
    c.emu.advance(Duration::from_secs(120));
    assert_eq!(c.get(ME).await.status, 200);
}

#[tokio::test]
async fn connection_reset_then_recovery() {
    let c = start().await;
    c.emu.add_fault(Fault::new(ME, FaultAction::Reset).times(1));
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(crate::support::TIMEOUT)
        .build()
        .unwrap();
    let err = fresh.get(c.url(ME)).bearer_auth(c.token()).send().await;
    assert!(err.is_err(), "the connection must be reset, got {err:?}");
    let ok = fresh
        .get(c.url(ME))
        .bearer_auth(c.token())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let log = c.emu.requests();
    assert_eq!((log[0].status, log[0].fault.as_deref()), (0, Some("reset")));
}

#[tokio::test]
async fn latency_fault_still_answers() {
    let c = start().await;
    c.emu
        .add_fault(Fault::new(ME, FaultAction::Latency { millis: 50 }).times(1));
    assert_eq!(c.get(ME).await.status, 200);
    assert_eq!(c.emu.requests()[0].fault.as_deref(), Some("latency"));
}

/// A slow answer: the token is created at once, but a client that gives up never sees it; the
/// abandoned request is still logged.
#[tokio::test]
async fn slow_answer_does_the_work_and_a_client_that_gives_up_is_logged() {
    let c = start().await;
    let path = "/api/2.0/token/create";
    c.emu
        .add_fault(Fault::new(path, FaultAction::SlowAnswer { millis: 60_000 }).times(1));
    let r = c
        .http
        .post(c.url(path))
        .bearer_auth(c.token())
        .json(&json!({"lifetime_seconds": 600, "comment": "slow one"}))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()), "the answer was held back");
    let listed = c.get("/api/2.0/token/list").await;
    let comments: Vec<&str> = listed.body["token_infos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["comment"].as_str())
        .collect();
    assert!(
        comments.contains(&"slow one"),
        "created anyway: {comments:?}"
    );
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let log = c.emu.requests();
        if let Some(r) = log.iter().find(|r| r.path == path) {
            assert_eq!((r.status, r.fault.as_deref()), (0, Some("abandoned")));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never logged: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn request_log_never_holds_tokens() {
    let c = start().await;
    let tok = c.token();
    c.get(ME).await;
    c.call(
        "GET",
        "/api/2.0/token/list?access_token=abc",
        Some("dapi-not-a-real-one"),
        None,
    )
    .await;
    let log = c.emu.requests();
    assert_eq!(log[0].identity.as_deref(), Some(c.emu.user_email()));
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[1].status, 403);
    assert_eq!(log[1].identity, None);
    assert_eq!(log[1].query, "access_token=REDACTED");
    let dump = format!("{log:?}{}", serde_json::to_string(&log).unwrap());
    assert!(!dump.contains(&tok) && !dump.contains("dapi-not-a-real-one") && !dump.contains("abc"));
    assert!(
        !format!("{:?}", c.emu).contains(&tok),
        "Debug output redacts tokens"
    );
    c.emu.clear_requests();
    assert!(c.emu.requests().is_empty());
}

#[tokio::test]
async fn admin_api() {
    let c = start().await;
    let admin = |p: &str| c.url(&format!("/__emulator{p}"));
    let info = into_resp(c.http.get(admin("/info")).send().await.unwrap()).await;
    assert_eq!(info.body["identities"]["app_name"], "kiln");
    assert_eq!(info.body["identities"]["users"][0]["token"], c.token());

    let before = c.emu.now_ms();
    let adv = into_resp(
        c.http
            .post(admin("/clock/advance"))
            .json(&json!({"seconds": 3600}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(adv.body["now_ms"].as_i64().unwrap() >= before + 3_600_000);

    let f = into_resp(
        c.http
            .post(admin("/faults"))
            .json(&json!({"path": ME, "kind": "status", "status": 500, "times": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = f.body["id"].as_u64().unwrap();
    let listed = into_resp(c.http.get(admin("/faults")).send().await.unwrap()).await;
    assert_eq!(listed.body["faults"][0]["remaining"], 1);
    assert_eq!(
        c.http
            .delete(admin(&format!("/faults/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.http
            .delete(admin(&format!("/faults/{id}")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let user = into_resp(
        c.http
            .post(admin("/users"))
            .json(&json!({"email": "dora@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let dora = user.body["token"].as_str().unwrap().to_string();
    assert_eq!(
        c.call("GET", ME, Some(&dora), None).await.body["userName"],
        "dora@example.com"
    );
    let tok = into_resp(
        c.http
            .post(admin("/tokens"))
            .json(&json!({"user": "dora@example.com", "lifetime_seconds": 30}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let short = tok.body["token_value"].as_str().unwrap().to_string();
    assert_eq!(c.call("GET", ME, Some(&short), None).await.status, 200);
    c.http
        .post(admin("/clock/advance"))
        .json(&json!({"millis": 31_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(c.call("GET", ME, Some(&short), None).await.status, 403);

    let s = into_resp(
        c.http
            .put(admin("/settings"))
            .json(&json!({"token_quota": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s.body["token_quota"], 1);
    assert_eq!(s.body["sp_can_read_own_app"], true);
    assert_eq!(c.emu.settings().token_quota, 1);
    let bad = c
        .http
        .put(admin("/settings"))
        .json(&json!({"token_quota": "many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let d = into_resp(
        c.http
            .put(admin("/delays"))
            .json(&json!({"cluster_start_secs": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(d.body["cluster_start_secs"], 1);

    let creds = into_resp(
        c.http
            .get(admin("/apps/kiln/credentials"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(creds.body["client_id"], c.emu.sp_client_id());
    assert_eq!(
        c.http
            .get(admin("/clusters/nope/init-scripts"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A page on another origin cannot drive the admin API.
    let foreign = c
        .http
        .post(admin("/clock/advance"))
        .header("Origin", "https://evil.example")
        .json(&json!({"seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    // Admin calls are not in the request log.
    assert!(
        c.emu
            .requests()
            .iter()
            .all(|r| !r.path.starts_with("/__emulator"))
    );
}

#[tokio::test]
async fn refuses_non_loopback_bind() {
    let opts = EmulatorOptions {
        bind: "0.0.0.0".parse().unwrap(),
        ..EmulatorOptions::default()
    };
    let err = Emulator::start(opts).await.unwrap_err();
    assert!(matches!(err, EmulatorError::NonLoopback(_)));
    assert!(err.to_string().contains("loopback"));
}
