//! The auth layer and OIDC: 401 versus 403 exactly as the reference says, numeric and string
//! error codes, Basic `token:<PAT>`, PAT and OAuth expiry on the emulator clock, the token
//! endpoint with Basic and form client authentication, discovery documents.

use std::time::Duration;

use crate::support::{into_resp, start};
use base64::Engine;
use serde_json::json;

const ME: &str = "/api/2.0/preview/scim/v2/Me";

#[tokio::test]
async fn missing_credential_is_401_with_documented_body() {
    let c = start().await;
    let r = c.call("GET", ME, None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error_code"], json!(401));
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.starts_with(
        "Credential was not sent or was of an unsupported type for this API. [ReqId: "
    ));
    // An unsupported scheme is the same 401.
    let resp = c
        .http
        .get(c.url(ME))
        .header("Authorization", "Digest abc")
        .send()
        .await
        .unwrap();
    assert_eq!(into_resp(resp).await.status, 401);
}

#[tokio::test]
async fn unknown_token_is_403_invalid_access_token() {
    let c = start().await;
    let r = c
        .call(
            "GET",
            ME,
            Some("dapi0000000000000000000000000000dead"),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.body,
        json!({"error_code": 403, "message": "Invalid access token."})
    );
    c.emu
        .update_settings(|s| s.numeric_auth_error_codes = false);
    let r = c.call("GET", ME, Some("eyJnot.a.token"), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error_code"], "PERMISSION_DENIED");
    let r = c.call("GET", ME, None, None).await;
    assert_eq!(r.body["error_code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn basic_token_pat_is_accepted_and_org_id_header_is_set() {
    let c = start().await;
    let resp = c
        .http
        .get(c.url(ME))
        .basic_auth("token", Some(c.token()))
        .send()
        .await
        .unwrap();
    let r = into_resp(resp).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["userName"], c.emu.user_email());
    assert_eq!(
        r.headers["x-databricks-org-id"],
        c.emu.workspace_id().to_string().as_str()
    );
    // Basic with another user name is not a PAT credential.
    let resp = c
        .http
        .get(c.url(ME))
        .basic_auth("alice", Some(c.token()))
        .send()
        .await
        .unwrap();
    assert_eq!(into_resp(resp).await.status, 401);
}

#[tokio::test]
async fn pat_expires_on_the_emulator_clock() {
    let c = start().await;
    let short = c
        .emu
        .create_token(c.emu.user_email(), Some(Duration::from_secs(900)))
        .unwrap();
    assert_eq!(c.call("GET", ME, Some(&short), None).await.status, 200);
    c.emu.advance(Duration::from_secs(899));
    assert_eq!(c.call("GET", ME, Some(&short), None).await.status, 200);
    c.emu.advance(Duration::from_secs(2));
    let r = c.call("GET", ME, Some(&short), None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body["message"], "Invalid access token.");
    // The seeded token never expires.
    c.emu.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(c.get(ME).await.status, 200);
}

async fn oauth_token(
    c: &crate::support::Ctx,
    id: &str,
    secret: &str,
    basic: bool,
) -> crate::support::Resp {
    let mut req = c.http.post(c.url("/oidc/v1/token"));
    if basic {
        req = req
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "all-apis")]);
    } else {
        req = req.form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ]);
    }
    into_resp(req.send().await.unwrap()).await
}

#[tokio::test]
async fn oidc_token_with_basic_or_form_credentials() {
    let c = start().await;
    let (id, secret) = (
        c.emu.sp_client_id().to_string(),
        c.emu.sp_client_secret().to_string(),
    );
    for basic in [true, false] {
        let r = oauth_token(&c, &id, &secret, basic).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(r.body["expires_in"], 3600);
        assert_eq!(r.body["scope"], "all-apis");
        let token = r.body["access_token"].as_str().unwrap();
        assert_eq!(token.split('.').count(), 3);
        let me = c.call("GET", ME, Some(token), None).await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["userName"], id.as_str());
        assert_eq!(
            me.body["displayName"].as_str().unwrap().split(' ').nth(1),
            Some("kiln")
        );
        assert!(me.body.get("emails").is_none());
    }
    let bad = oauth_token(&c, &id, "wrong-secret", true).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "invalid_client");
    let unknown = oauth_token(&c, "00000000-0000-4000-8000-000000000000", &secret, false).await;
    assert_eq!(unknown.status, 401);
    let grant = c
        .http
        .post(c.url("/oidc/v1/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    let grant = into_resp(grant).await;
    assert_eq!(grant.status, 400);
    assert_eq!(grant.body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn oauth_token_expires_and_is_refused_within_30_seconds_of_expiry() {
    let c = start().await;
    c.emu.update_settings(|s| s.oauth_token_lifetime_secs = 300);
    let r = oauth_token(&c, c.emu.sp_client_id(), c.emu.sp_client_secret(), true).await;
    assert_eq!(r.body["expires_in"], 300);
    let token = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(c.call("GET", ME, Some(&token), None).await.status, 200);
    c.emu.advance(Duration::from_secs(280));
    let near = c.call("GET", ME, Some(&token), None).await;
    assert_eq!(near.status, 403);
    assert!(
        near.body["message"]
            .as_str()
            .unwrap()
            .contains("expiring within 30 seconds")
    );
    c.emu.advance(Duration::from_secs(60));
    let expired = c.call("GET", ME, Some(&token), None).await;
    assert_eq!(expired.status, 403);
    assert!(
        expired.body["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn discovery_documents() {
    let c = start().await;
    let r = c
        .call(
            "GET",
            "/oidc/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_endpoint"], c.url("/oidc/v1/token"));
    let r = c
        .call("GET", "/.well-known/databricks-config", None, None)
        .await;
    assert_eq!(r.body["oidc_endpoint"], c.url("/oidc"));
    assert_eq!(r.body["workspace_id"], c.emu.workspace_id().to_string());
}

#[tokio::test]
async fn unknown_endpoint_answers_endpoint_not_found() {
    let c = start().await;
    let r = c.post("/api/2.0/fs/create-download-url", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error_code"], "ENDPOINT_NOT_FOUND");
    // Without a credential, the auth layer answers first.
    assert_eq!(
        c.call("GET", "/api/2.0/nothing", None, None).await.status,
        401
    );
}

#[tokio::test]
async fn scim_attribute_filters() {
    let c = start().await;
    let r = c.get(&format!("{ME}?attributes=userName")).await;
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(r.body["userName"], c.emu.user_email());
    let r = c
        .get(&format!("{ME}?excludedAttributes=groups,entitlements"))
        .await;
    assert!(r.body.get("groups").is_none() && r.body.get("emails").is_some());
}

#[tokio::test]
async fn basic_header_decodes_base64() {
    // Guards the Basic parsing against padding variants.
    let c = start().await;
    let raw = base64::engine::general_purpose::STANDARD.encode(format!("token:{}", c.token()));
    let resp = c
        .http
        .get(c.url(ME))
        .header("Authorization", format!("Basic {raw}"))
        .send()
        .await
        .unwrap();
    assert_eq!(into_resp(resp).await.status, 200);
}
