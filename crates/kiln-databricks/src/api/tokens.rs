//! Personal access tokens: create, list, delete (`/api/2.0/token/...`).

use super::is_none;
use crate::Client;
use crate::error::Result;
use crate::http::Request;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Public information about a token (never its value).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct TokenInfo {
    /// Token id (not the token).
    #[serde(default)]
    pub token_id: String,
    /// Creation time, epoch milliseconds.
    #[serde(default)]
    pub creation_time: Option<i64>,
    /// Expiry time, epoch milliseconds; `-1` when it never expires.
    #[serde(default)]
    pub expiry_time: Option<i64>,
    /// Last use, epoch milliseconds.
    #[serde(default)]
    pub last_accessed_time: Option<i64>,
    /// Free-text comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Scopes of a scoped token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Request of `token/create`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreateToken {
    /// Lifetime in seconds (the workspace may cap it); absent means the server default.
    #[serde(skip_serializing_if = "is_none")]
    pub lifetime_seconds: Option<i64>,
    /// Comment shown in the UI.
    #[serde(skip_serializing_if = "is_none")]
    pub comment: Option<String>,
}

/// A freshly created token: the value is only ever returned here.
#[derive(Clone, Deserialize)]
pub struct CreatedToken {
    /// The token itself.
    pub token_value: Secret,
    /// Its public information.
    #[serde(default)]
    pub token_info: TokenInfo,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token_value", &self.token_value)
            .field("token_info", &self.token_info)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenList {
    #[serde(default)]
    token_infos: Vec<TokenInfo>,
}

/// Token calls.
#[derive(Debug, Clone, Copy)]
pub struct TokensApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Personal access token calls.
    pub fn tokens(&self) -> TokensApi<'_> {
        TokensApi { client: self }
    }
}

impl TokensApi<'_> {
    /// `POST /api/2.0/token/create`. Not repeated after the server may have acted (it would
    /// mint a second token); a 429 or a refused connection is still retried.
    pub async fn create(&self, request: &CreateToken) -> Result<CreatedToken> {
        let req = Request::post("/api/2.0/token/create").json(request)?;
        self.client.execute(req).await?.json()
    }

    /// `GET /api/2.0/token/list`: the caller's valid tokens.
    pub async fn list(&self) -> Result<Vec<TokenInfo>> {
        let list: TokenList = self
            .client
            .execute(Request::get("/api/2.0/token/list"))
            .await?
            .json()?;
        Ok(list.token_infos)
    }

    /// `POST /api/2.0/token/delete` (revoke). Unknown ids give [`crate::Error::NotFound`].
    pub async fn delete(&self, token_id: &str) -> Result<()> {
        let req = Request::post("/api/2.0/token/delete")
            .json(&serde_json::json!({ "token_id": token_id }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let c: CreatedToken = serde_json::from_str(
            r#"{"token_value":"dapi-secret-123","token_info":{"token_id":"abc","creation_time":1,"expiry_time":-1,"comment":"c","new_field":[1]}}"#,
        )
        .unwrap();
        assert_eq!(c.token_value.expose(), "dapi-secret-123");
        assert_eq!(c.token_info.expiry_time, Some(-1));
        assert!(!format!("{c:?}").contains("dapi-secret-123"));
        let l: TokenList = serde_json::from_str("{}").unwrap();
        assert!(l.token_infos.is_empty());
        let body = serde_json::to_string(&CreateToken {
            lifetime_seconds: Some(900),
            comment: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"lifetime_seconds":900}"#);
    }
}
