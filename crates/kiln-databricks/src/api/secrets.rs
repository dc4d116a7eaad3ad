//! Secrets: scopes and the keys in them (`/api/2.0/secrets/...`). Values are written with
//! [`SecretsApi::put`] and never read back (a cluster reads them through
//! `{{secrets/<scope>/<key>}}` references).

use crate::Client;
use crate::error::Result;
use crate::http::Request;
use crate::secret::Secret;
use serde::Deserialize;

/// A secret scope.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecretScope {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// `DATABRICKS` or `AZURE_KEYVAULT`.
    #[serde(default)]
    pub backend_type: Option<String>,
}

/// A key in a scope (the value is never listed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SecretMetadata {
    /// Key.
    #[serde(default)]
    pub key: String,
    /// Last update, epoch ms.
    #[serde(default)]
    pub last_updated_timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct Scopes {
    #[serde(default)]
    scopes: Vec<SecretScope>,
}

#[derive(Deserialize)]
struct Keys {
    #[serde(default)]
    secrets: Vec<SecretMetadata>,
}

/// Secrets calls.
#[derive(Debug, Clone, Copy)]
pub struct SecretsApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Secrets calls.
    pub fn secrets(&self) -> SecretsApi<'_> {
        SecretsApi { client: self }
    }
}

impl SecretsApi<'_> {
    /// `GET /api/2.0/secrets/scopes/list`.
    pub async fn list_scopes(&self) -> Result<Vec<SecretScope>> {
        let req = Request::get("/api/2.0/secrets/scopes/list");
        Ok(self.client.execute(req).await?.json::<Scopes>()?.scopes)
    }

    /// `GET /api/2.0/secrets/list?scope=`: the keys of a scope (unknown scope: not found).
    pub async fn list_secrets(&self, scope: &str) -> Result<Vec<SecretMetadata>> {
        let req = Request::get("/api/2.0/secrets/list").query("scope", scope);
        Ok(self.client.execute(req).await?.json::<Keys>()?.secrets)
    }

    /// `POST /api/2.0/secrets/scopes/create` (a Databricks-backed scope).
    pub async fn create_scope(&self, scope: &str) -> Result<()> {
        let req = Request::post("/api/2.0/secrets/scopes/create")
            .json(&serde_json::json!({ "scope": scope }))?
            .not_idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `POST /api/2.0/secrets/put` with a string value.
    pub async fn put(&self, scope: &str, key: &str, value: &Secret) -> Result<()> {
        let req = Request::post("/api/2.0/secrets/put")
            .json(&serde_json::json!({
                "scope": scope,
                "key": key,
                "string_value": value.expose(),
            }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `POST /api/2.0/secrets/delete`: removes a key.
    pub async fn delete_secret(&self, scope: &str, key: &str) -> Result<()> {
        let req = Request::post("/api/2.0/secrets/delete")
            .json(&serde_json::json!({ "scope": scope, "key": key }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }
}
