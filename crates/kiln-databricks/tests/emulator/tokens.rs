//! Personal access tokens: create, list, delete, expiry, quota.

use crate::common::*;
use kiln_databricks::Error;
use kiln_databricks::api::tokens::CreateToken;
use kiln_emulator::EmulatorOptions;
use std::time::Duration;

#[tokio::test]
async fn create_use_list_delete() {
    let emu = emulator().await;
    let client = user(&emu);
    let created = client
        .tokens()
        .create(&CreateToken {
            lifetime_seconds: Some(900),
            comment: Some("kiln test".into()),
        })
        .await
        .unwrap();
    assert!(created.token_value.expose().starts_with("dapi"));
    assert!(!format!("{created:?}").contains(created.token_value.expose()));
    let info = &created.token_info;
    assert_eq!(info.comment.as_deref(), Some("kiln test"));
    let (c, e) = (info.creation_time.unwrap(), info.expiry_time.unwrap());
    assert_eq!(e - c, 900_000, "epoch milliseconds, lifetime honoured");

    // The new token works on its own.
    let me = token_client(&emu, created.token_value.expose())
        .scim()
        .me()
        .await
        .unwrap();
    assert_eq!(me.user_name, emu.user_email());

    let listed = client.tokens().list().await.unwrap();
    assert!(
        listed.iter().any(|t| t.token_id == info.token_id),
        "{listed:?}"
    );

    client.tokens().delete(&info.token_id).await.unwrap();
    assert!(
        !client
            .tokens()
            .list()
            .await
            .unwrap()
            .iter()
            .any(|t| t.token_id == info.token_id)
    );
    let err = token_client(&emu, created.token_value.expose())
        .scim()
        .me()
        .await
        .unwrap_err();
    assert!(err.is_auth_failure(), "revoked token refused: {err:?}");

    let err = client.tokens().delete(&info.token_id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn an_expired_token_is_refused_and_no_longer_listed() {
    let emu = emulator().await;
    let client = user(&emu);
    let created = client
        .tokens()
        .create(&CreateToken {
            lifetime_seconds: Some(60),
            comment: None,
        })
        .await
        .unwrap();
    let short = token_client(&emu, created.token_value.expose());
    short.scim().me().await.unwrap();
    emu.advance(Duration::from_secs(120));
    let err = short.scim().me().await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(
        !client
            .tokens()
            .list()
            .await
            .unwrap()
            .iter()
            .any(|t| t.token_id == created.token_info.token_id)
    );
}

#[tokio::test]
async fn quota_exceeded_is_not_retried() {
    let mut opts = EmulatorOptions::default();
    opts.settings.token_quota = 1;
    let emu = emulator_with(opts).await;
    let client = user(&emu);
    // The seeded PAT already uses the one slot.
    let err = client
        .tokens()
        .create(&CreateToken::default())
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("QUOTA_EXCEEDED"), "{err:?}");
    assert!(matches!(err, Error::Other(_)));
    assert_eq!(logged(&emu, "POST", "/api/2.0/token/create").len(), 1);
}
