//! The retry policy against injected faults: 429 with Retry-After, outages beyond the budget,
//! resets, timeouts, refused connections, and what is never repeated.

use crate::common::*;
use kiln_databricks::api::tokens::CreateToken;
use kiln_databricks::{Client, ConfigLoader, Environment, Error, RetryPolicy, TransportKind};
use kiln_emulator::{Fault, FaultAction};
use std::time::{Duration, Instant};

const ME: &str = "/api/2.0/preview/scim/v2/Me";

fn with_retry(emu: &kiln_emulator::RunningEmulator, retry: RetryPolicy) -> Client {
    let config = ConfigLoader::new(env_for(emu).with_var("DATABRICKS_TOKEN", emu.user_token()))
        .load()
        .unwrap();
    let mut opts = fast();
    opts.retry = retry;
    Client::with_options(&config, opts).unwrap()
}

#[tokio::test]
async fn rate_limited_twice_then_success_honours_retry_after() {
    let emu = emulator().await;
    emu.add_fault(
        Fault::new(
            ME,
            FaultAction::RateLimit {
                retry_after_secs: 1,
            },
        )
        .times(2),
    );
    let me = user(&emu).scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.user_email());
    let log = logged(&emu, "GET", ME);
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![429, 429, 200]);
    for pair in log.windows(2) {
        let gap = pair[1].time_ms - pair[0].time_ms;
        assert!(
            gap >= 1000,
            "Retry-After: 1 not honoured: {gap} ms between attempts"
        );
    }
}

#[tokio::test]
async fn an_outage_longer_than_the_budget_fails_clearly_in_bounded_time() {
    let emu = emulator().await;
    emu.add_fault(Fault::new(
        ME,
        FaultAction::Outage {
            start_in_secs: 0,
            duration_secs: 3600,
        },
    ));
    let client = with_retry(
        &emu,
        RetryPolicy {
            budget: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            retry_after_jitter: Duration::from_millis(10),
        },
    );
    let err = tokio::time::timeout(STEP, client.scim().me())
        .await
        .unwrap()
        .unwrap_err();
    let Error::RetriesExhausted { attempts, last, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*attempts >= 2, "{attempts}");
    assert!(matches!(**last, Error::Unavailable { .. }), "{last:?}");
    assert_eq!(err.status(), Some(503));
    let msg = err.to_string();
    assert!(
        msg.starts_with("gave up after") && msg.contains("temporarily unavailable"),
        "{msg}"
    );
    assert_eq!(logged(&emu, "GET", ME).len() as u32, *attempts);
}

#[tokio::test]
async fn an_outage_shorter_than_the_budget_is_ridden_out() {
    let emu = emulator().await;
    emu.add_fault(Fault::new(
        ME,
        FaultAction::Outage {
            start_in_secs: 0,
            duration_secs: 1,
        },
    ));
    let me = user(&emu).scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.user_email());
    let log = logged(&emu, "GET", ME);
    assert!(
        log.len() >= 2 && log.last().unwrap().status == 200,
        "{log:?}"
    );
}

#[tokio::test]
async fn creating_a_token_is_not_repeated_after_a_503_but_is_after_a_429() {
    let emu = emulator().await;
    let client = user(&emu);
    let path = "/api/2.0/token/create";
    emu.add_fault(
        Fault::new(
            path,
            FaultAction::Status {
                status: 503,
                error_code: None,
                message: None,
            },
        )
        .times(1),
    );
    let err = client
        .tokens()
        .create(&CreateToken::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(logged(&emu, "POST", path).len(), 1);

    emu.clear_requests();
    emu.add_fault(
        Fault::new(
            path,
            FaultAction::RateLimit {
                retry_after_secs: 0,
            },
        )
        .times(1),
    );
    let created = client
        .tokens()
        .create(&CreateToken {
            comment: Some("after 429".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.token_info.comment.as_deref(), Some("after 429"));
    let statuses: Vec<u16> = logged(&emu, "POST", path)
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn a_reset_is_retried_for_reads_only() {
    let emu = emulator().await;
    let client = user(&emu);
    emu.add_fault(Fault::new(ME, FaultAction::Reset).times(1));
    client.scim().me().await.unwrap();
    let statuses: Vec<u16> = logged(&emu, "GET", ME).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![0, 200]);

    let path = "/api/2.0/token/create";
    emu.add_fault(Fault::new(path, FaultAction::Reset).times(1));
    let err = client
        .tokens()
        .create(&CreateToken::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(logged(&emu, "POST", path).len(), 1);
}

#[tokio::test]
async fn a_slow_response_times_out_and_is_retried() {
    let emu = emulator().await;
    emu.add_fault(Fault::new(ME, FaultAction::Latency { millis: 3000 }).times(1));
    let client = with_retry(
        &emu,
        RetryPolicy {
            budget: Duration::from_secs(20),
            request_timeout: Duration::from_millis(700),
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            retry_after_jitter: Duration::ZERO,
        },
    );
    let me = client.scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.user_email());
    // Two attempts reached the emulator: the slow one (given up by the client, or answered
    // after the client had gone) and then the retry that answered.
    let deadline = Instant::now() + STEP;
    let mut log = logged(&emu, "GET", ME);
    while log.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "only one attempt arrived: {log:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        log = logged(&emu, "GET", ME);
    }
    log.sort_by_key(|r| (r.time_ms, r.seq));
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        matches!(log[0].fault.as_deref(), Some("latency" | "abandoned")),
        "the first attempt was the slow one: {log:?}"
    );
    assert_eq!(
        (log[1].status, log[1].fault.as_deref()),
        (200, None),
        "the retry was answered: {log:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_budget() {
    // A port nobody listens on: bind, note it, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ConfigLoader::new(
        Environment::new()
            .with_var("DATABRICKS_HOST", format!("http://127.0.0.1:{port}"))
            .with_var("DATABRICKS_TOKEN", "dapi-x"),
    )
    .load()
    .unwrap();
    let mut opts = fast();
    opts.retry.budget = Duration::from_secs(1);
    let client = Client::with_options(&config, opts).unwrap();
    let start = Instant::now();
    let err = client.scim().me().await.unwrap_err();
    assert!(start.elapsed() < STEP);
    let Error::RetriesExhausted { last, attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*attempts >= 2);
    assert!(
        matches!(
            **last,
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            }
        ),
        "{last:?}"
    );
}

#[tokio::test]
async fn a_plain_error_status_is_not_retried() {
    let emu = emulator().await;
    emu.add_fault(
        Fault::new(
            ME,
            FaultAction::Status {
                status: 500,
                error_code: Some("INTERNAL_ERROR".into()),
                message: Some("boom".into()),
            },
        )
        .times(1),
    );
    let err = user(&emu).scim().me().await.unwrap_err();
    assert!(matches!(err, Error::Other(_)), "{err:?}");
    assert_eq!(err.error_code(), Some("INTERNAL_ERROR"));
    assert_eq!(logged(&emu, "GET", ME).len(), 1);
}

#[tokio::test]
async fn a_transient_message_is_retried_for_reads() {
    let emu = emulator().await;
    emu.add_fault(
        Fault::new(
            ME,
            FaultAction::Status {
                status: 500,
                error_code: Some("INTERNAL_ERROR".into()),
                message: Some("Unexpected error while fetching the user".into()),
            },
        )
        .times(1),
    );
    user(&emu).scim().me().await.unwrap();
    let statuses: Vec<u16> = logged(&emu, "GET", ME).iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 200]);
}
