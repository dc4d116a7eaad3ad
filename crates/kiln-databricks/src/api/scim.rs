//! SCIM `Me`: who the credential belongs to (`GET /api/2.0/preview/scim/v2/Me`).

use crate::Client;
use crate::error::Result;
use crate::http::Request;
use serde::Deserialize;

/// A SCIM multi-valued attribute entry (`emails`, `groups`, `entitlements`, …).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ComplexValue {
    /// The value (an email, a group id, an entitlement name).
    #[serde(default)]
    pub value: Option<String>,
    /// Display text.
    #[serde(default)]
    pub display: Option<String>,
    /// Whether this is the primary entry.
    #[serde(default)]
    pub primary: Option<bool>,
    /// Kind (`work`, `direct`, …).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A user's name parts.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
}

/// The calling identity (a user or a service principal).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// SCIM id (numeric-looking string).
    #[serde(default)]
    pub id: String,
    /// Email for users; the application id (a UUID) for service principals.
    #[serde(default)]
    pub user_name: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the identity is active.
    #[serde(default)]
    pub active: Option<bool>,
    /// Name parts.
    #[serde(default)]
    pub name: Option<Name>,
    /// Emails.
    #[serde(default)]
    pub emails: Vec<ComplexValue>,
    /// Group memberships.
    #[serde(default)]
    pub groups: Vec<ComplexValue>,
    /// Entitlements.
    #[serde(default)]
    pub entitlements: Vec<ComplexValue>,
    /// External id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Workspace id, from the `X-Databricks-Org-Id` response header.
    #[serde(skip)]
    pub workspace_id: Option<String>,
}

impl User {
    /// True when `userName` is a UUID: the caller is a service principal (the CLI's test).
    pub fn is_service_principal(&self) -> bool {
        is_uuid(&self.user_name)
    }

    /// The primary email, else the first, else `userName` if it looks like one.
    pub fn email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .and_then(|e| e.value.as_deref())
            .or_else(|| {
                self.user_name
                    .contains('@')
                    .then_some(self.user_name.as_str())
            })
    }
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// SCIM calls.
#[derive(Debug, Clone, Copy)]
pub struct ScimApi<'a> {
    client: &'a Client,
}

impl Client {
    /// SCIM (identity) calls.
    pub fn scim(&self) -> ScimApi<'_> {
        ScimApi { client: self }
    }
}

impl ScimApi<'_> {
    /// `GET /api/2.0/preview/scim/v2/Me`: the identity behind the credential.
    pub async fn me(&self) -> Result<User> {
        let resp = self
            .client
            .execute(Request::get("/api/2.0/preview/scim/v2/Me"))
            .await?;
        let mut user: User = resp.json()?;
        user.workspace_id = resp.header("x-databricks-org-id").map(str::to_owned);
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_shapes() {
        let u: User = serde_json::from_str(
            r#"{"schemas":["x"],"id":"7201","userName":"alice@example.com","displayName":"Alice",
                "active":true,"name":{"givenName":"Alice","familyName":"Example"},
                "emails":[{"type":"work","value":"alice@corp.com","primary":true}],
                "groups":[{"display":"admins","value":"1","$ref":"Groups/1"}],"unknown":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(u.user_name, "alice@example.com");
        assert_eq!(u.email(), Some("alice@corp.com"));
        assert!(!u.is_service_principal());
        let sp: User = serde_json::from_str(
            r#"{"id":"9","userName":"0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b","displayName":"app-sp"}"#,
        )
        .unwrap();
        assert!(sp.is_service_principal());
        assert_eq!(sp.email(), None);
        assert!(sp.emails.is_empty());
    }
}
