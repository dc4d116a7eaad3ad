//! Authentication against the emulator: PAT, OAuth M2M, refresh ahead of expiry, a refused
//! token replaced once, wrong secrets, token sources, headers and secrets kept out of output.

use crate::common::*;
use kiln_databricks::{
    Client, ConfigLoader, CredentialsError, Error, Secret, TokenFuture, TokenSource,
};
use kiln_emulator::EmulatorOptions;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[tokio::test]
async fn pat_identifies_the_user() {
    let emu = emulator().await;
    let me = user(&emu).scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.user_email());
    assert!(!me.is_service_principal());
    assert_eq!(
        me.workspace_id.as_deref(),
        Some(emu.workspace_id().to_string().as_str())
    );
    assert_eq!(me.email(), Some(emu.user_email()));
}

#[tokio::test]
async fn oauth_m2m_identifies_the_service_principal() {
    let emu = emulator().await;
    let client = sp(&emu);
    assert_eq!(client.auth_type(), "oauth-m2m");
    let me = client.scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.sp_client_id());
    assert!(me.is_service_principal());
    // Cached: a second call fetches no new token.
    client.scim().me().await.unwrap();
    assert_eq!(logged(&emu, "POST", "/oidc/v1/token").len(), 1);
}

#[tokio::test]
async fn invalid_pat_is_permission_denied_without_the_token() {
    let emu = emulator().await;
    let err = token_client(&emu, "dapi-made-up-token-0000")
        .scim()
        .me()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(err.is_auth_failure());
    assert!(err.to_string().contains("Invalid access token"), "{err}");
    assert!(!err.to_string().contains("dapi-made-up-token-0000"));
    assert!(!format!("{err:?}").contains("dapi-made-up-token-0000"));
    // A refused static token is not retried.
    assert_eq!(logged(&emu, "GET", "/api/2.0/preview/scim/v2/Me").len(), 1);
}

#[tokio::test]
async fn string_error_codes_work_too() {
    let emu = emulator().await;
    emu.update_settings(|s| s.numeric_auth_error_codes = false);
    let err = token_client(&emu, "dapi-nope")
        .scim()
        .me()
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("PERMISSION_DENIED"));
    assert!(err.is_auth_failure());
}

#[tokio::test]
async fn wrong_client_secret_is_a_credentials_error() {
    let emu = emulator().await;
    let config = ConfigLoader::new(
        env_for(&emu)
            .with_var("DATABRICKS_CLIENT_ID", emu.sp_client_id())
            .with_var("DATABRICKS_CLIENT_SECRET", "dose-wrong-secret-value"),
    )
    .load()
    .unwrap();
    let client = Client::with_options(&config, fast()).unwrap();
    let err = client.scim().me().await.unwrap_err();
    assert!(
        matches!(err, Error::Credentials(CredentialsError::TokenRequest(_))),
        "{err:?}"
    );
    assert!(err.is_auth_failure());
    let msg = err.to_string();
    assert!(msg.contains("invalid_client"), "{msg}");
    assert!(
        !msg.contains("dose-wrong-secret-value")
            && !format!("{err:?}").contains("dose-wrong-secret-value")
    );
    assert!(
        logged(&emu, "GET", "/api/2.0/preview/scim/v2/Me").is_empty(),
        "no API call without a token"
    );
}

#[tokio::test]
async fn oauth_token_is_refreshed_before_expiry_without_a_failed_request() {
    // 16 s: background refresh from 8 s, the token unused from 12 s (a quarter of the lifetime),
    // refused by the emulator from 15 s. With 8 s, a 3 s stall of a loaded machine (and the
    // emulator's wall clock against the client's monotonic one) left no margin.
    let mut opts = EmulatorOptions::default();
    opts.settings.oauth_token_lifetime_secs = 16;
    opts.settings.oauth_expiry_margin_secs = 1;
    let emu = emulator_with(opts).await;
    let client = sp(&emu);
    let deadline = Instant::now() + STEP;
    // Call until a second token has been fetched (background refresh after ~8 s).
    while logged(&emu, "POST", "/oidc/v1/token").len() < 2 {
        client.scim().me().await.unwrap();
        assert!(Instant::now() < deadline, "no refresh within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Keep going past the first token's expiry (16 s from its issue) with the new one.
    let first_issued = logged(&emu, "POST", "/oidc/v1/token")[0].time_ms;
    while emu.now_ms() < first_issued + 17_000 {
        client.scim().me().await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let me_calls = logged(&emu, "GET", "/api/2.0/preview/scim/v2/Me");
    assert!(me_calls.iter().all(|r| r.status == 200), "{me_calls:?}");
    assert!(
        logged(&emu, "POST", "/oidc/v1/token")
            .iter()
            .all(|r| r.status == 200)
    );
}

#[tokio::test]
async fn a_token_refused_as_expired_is_replaced_once() {
    let emu = emulator().await;
    let client = sp(&emu);
    client.scim().me().await.unwrap();
    // The workspace clock jumps past the token's life; the client still thinks it is fresh.
    emu.advance(Duration::from_secs(3700));
    let me = client.scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.sp_client_id());
    let statuses: Vec<u16> = logged(&emu, "GET", "/api/2.0/preview/scim/v2/Me")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![200, 403, 200]);
    assert_eq!(logged(&emu, "POST", "/oidc/v1/token").len(), 2);
}

/// A caller-supplied source that counts calls and can switch tokens.
struct Rotating {
    tokens: Vec<String>,
    calls: AtomicU32,
    current: AtomicU32,
}

impl TokenSource for Rotating {
    fn token(&self) -> TokenFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let t = self.tokens[self.current.load(Ordering::SeqCst) as usize].clone();
        Box::pin(async move { Ok(Secret::new(t)) })
    }

    fn auth_type(&self) -> &str {
        "rotating"
    }

    fn rejected(&self, _token: &Secret) -> bool {
        let next = self.current.load(Ordering::SeqCst) + 1;
        if (next as usize) < self.tokens.len() {
            self.current.store(next, Ordering::SeqCst);
            true
        } else {
            false
        }
    }
}

#[tokio::test]
async fn token_source_is_asked_on_every_request_and_can_rotate() {
    let emu = emulator().await;
    let source = Arc::new(Rotating {
        tokens: vec!["dapi-revoked-already".into(), emu.user_token().into()],
        calls: AtomicU32::new(0),
        current: AtomicU32::new(0),
    });
    // The configuration carries no credentials at all; the source supplies them.
    let config = ConfigLoader::new(env_for(&emu)).load().unwrap();
    let client = Client::with_token_source(&config, source.clone(), fast()).unwrap();
    assert_eq!(client.auth_type(), "rotating");
    assert!(client.user_agent().contains("auth/rotating"));
    let me = client.scim().me().await.unwrap();
    assert_eq!(me.user_name, emu.user_email());
    client.scim().me().await.unwrap();
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_debug_and_errors_hold_no_secret() {
    let emu = emulator().await;
    let client = sp(&emu);
    let dbg = format!("{client:?}");
    assert!(!dbg.contains(emu.sp_client_secret()), "{dbg}");
    assert!(dbg.contains("client_secret=***"), "{dbg}");
    let pat_client = user(&emu);
    assert!(!format!("{pat_client:?}").contains(emu.user_token()));
    assert!(
        pat_client.user_agent().starts_with("kiln/"),
        "{}",
        pat_client.user_agent()
    );
    assert!(pat_client.user_agent().ends_with("auth/pat"));
}
