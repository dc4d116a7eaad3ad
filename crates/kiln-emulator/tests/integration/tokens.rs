//! Token API: create with lifetime and comment, list of valid tokens only, delete, quota,
//! admin lifetime cap, another user's token id, tokens of a service principal.

use std::time::Duration;

use crate::support::start;
use serde_json::json;

#[tokio::test]
async fn create_list_delete() {
    let c = start().await;
    let r = c
        .post(
            "/api/2.0/token/create",
            json!({"lifetime_seconds": 3600, "comment": "rotation"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let value = r.body["token_value"].as_str().unwrap().to_string();
    let info = &r.body["token_info"];
    assert!(value.starts_with("dapi") && value.len() == 36);
    assert_eq!(info["token_id"].as_str().unwrap().len(), 64);
    assert_eq!(
        info["expiry_time"].as_i64().unwrap() - info["creation_time"].as_i64().unwrap(),
        3_600_000
    );
    assert_eq!(info["comment"], "rotation");
    let id = info["token_id"].as_str().unwrap().to_string();

    let list = c.get("/api/2.0/token/list").await;
    let ids: Vec<&str> = list.body["token_infos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&id.as_str()));
    assert_eq!(ids.len(), 2, "seeded token plus the new one");

    assert_eq!(
        c.post("/api/2.0/token/delete", json!({"token_id": id}))
            .await
            .body,
        json!({})
    );
    let again = c
        .post("/api/2.0/token/delete", json!({"token_id": id}))
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
    assert_eq!(
        c.call("GET", "/api/2.0/preview/scim/v2/Me", Some(&value), None)
            .await
            .status,
        403
    );
    let missing = c.post("/api/2.0/token/delete", json!({})).await;
    assert_eq!(missing.status, 400);
}

#[tokio::test]
async fn default_lifetime_is_two_years_and_list_hides_expired() {
    let c = start().await;
    let r = c.post("/api/2.0/token/create", json!({})).await;
    let info = &r.body["token_info"];
    let life = info["expiry_time"].as_i64().unwrap() - info["creation_time"].as_i64().unwrap();
    assert_eq!(life, 2 * 365 * 24 * 3600 * 1000);
    assert!(info.get("comment").is_none());

    let short = c
        .post("/api/2.0/token/create", json!({"lifetime_seconds": 60}))
        .await;
    let short_id = short.body["token_info"]["token_id"]
        .as_str()
        .unwrap()
        .to_string();
    c.emu.advance(Duration::from_secs(61));
    let list = c.get("/api/2.0/token/list").await;
    assert!(!list.body.to_string().contains(&short_id));
}

#[tokio::test]
async fn list_is_empty_object_without_tokens() {
    // A service principal using an OAuth token owns no PAT: the list key is omitted.
    let c = start().await;
    let resp = c
        .http
        .post(c.url("/oidc/v1/token"))
        .basic_auth(c.emu.sp_client_id(), Some(c.emu.sp_client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let token = crate::support::into_resp(resp).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .call("GET", "/api/2.0/token/list", Some(&token), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({}));
}

#[tokio::test]
async fn another_users_token_cannot_be_deleted() {
    let c = start().await;
    let bob = c.emu.create_user("bob@example.com").unwrap();
    let bobs = c
        .call("GET", "/api/2.0/token/list", Some(&bob), None)
        .await
        .body["token_infos"][0]["token_id"]
        .clone();
    let r = c
        .post("/api/2.0/token/delete", json!({"token_id": bobs}))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        c.call("GET", "/api/2.0/preview/scim/v2/Me", Some(&bob), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn quota_and_lifetime_cap() {
    let c = start().await;
    c.emu.update_settings(|s| {
        s.token_quota = 3;
        s.max_token_lifetime_secs = Some(86_400);
    });
    let too_long = c
        .post("/api/2.0/token/create", json!({"lifetime_seconds": 86_401}))
        .await;
    assert_eq!(too_long.status, 400);
    assert_eq!(too_long.body["error_code"], "INVALID_PARAMETER_VALUE");
    let no_expiry = c
        .post("/api/2.0/token/create", json!({"lifetime_seconds": 0}))
        .await;
    assert_eq!(no_expiry.status, 400);
    for _ in 0..2 {
        assert_eq!(
            c.post("/api/2.0/token/create", json!({"lifetime_seconds": 60}))
                .await
                .status,
            200
        );
    }
    let over = c
        .post("/api/2.0/token/create", json!({"lifetime_seconds": 60}))
        .await;
    assert_eq!(over.status, 400);
    assert_eq!(over.body["error_code"], "QUOTA_EXCEEDED");
    // Expired tokens no longer count.
    c.emu.advance(Duration::from_secs(61));
    assert_eq!(
        c.post("/api/2.0/token/create", json!({"lifetime_seconds": 60}))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn service_principal_creates_its_own_pat() {
    let c = start().await;
    let sp_pat = c
        .emu
        .create_token(c.emu.sp_client_id(), Some(Duration::from_secs(600)))
        .unwrap();
    let r = c
        .call(
            "POST",
            "/api/2.0/token/create",
            Some(&sp_pat),
            Some(json!({"lifetime_seconds": 60})),
        )
        .await;
    let minted = r.body["token_value"].as_str().unwrap().to_string();
    let me = c
        .call("GET", "/api/2.0/preview/scim/v2/Me", Some(&minted), None)
        .await;
    assert_eq!(me.body["userName"], c.emu.sp_client_id());
    assert!(c.emu.create_token("nobody@example.com", None).is_err());
}

#[tokio::test]
async fn malformed_json_is_400() {
    let c = start().await;
    let resp = c
        .http
        .post(c.url("/api/2.0/token/create"))
        .bearer_auth(c.token())
        .body("{not json")
        .send()
        .await
        .unwrap();
    let r = crate::support::into_resp(resp).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error_code"], "MALFORMED_REQUEST");
}
