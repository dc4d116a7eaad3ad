//! Who exists in the emulated workspace and who is calling: users and service principals
//! ([`Principal`]), their personal access tokens ([`Pat`]) and OAuth tokens ([`OauthToken`]),
//! and the [`Caller`] the auth layer puts on each request (plain data, a leaf module).

/// A user or a service principal.
#[derive(Debug, Clone)]
pub struct Principal {
    /// SCIM id.
    pub id: u64,
    /// Email for users, application (client) id UUID for service principals.
    pub user_name: String,
    /// Display name.
    pub display_name: String,
    /// Workspace admin.
    pub admin: bool,
    /// `Some` for service principals: SHA-256 ids of its OAuth secrets.
    pub sp_secrets: Option<Vec<String>>,
}

impl Principal {
    /// Whether this is a service principal.
    pub fn is_sp(&self) -> bool {
        self.sp_secrets.is_some()
    }
}

/// A personal access token (the value itself is never stored, only its SHA-256 id).
#[derive(Debug, Clone)]
pub struct Pat {
    /// SHA-256 hex of the value.
    pub token_id: String,
    /// Principal id.
    pub owner: u64,
    /// Epoch ms.
    pub created_ms: i64,
    /// Epoch ms, `-1` = never.
    pub expiry_ms: i64,
    /// Free text.
    pub comment: Option<String>,
    /// Scoped-PAT scopes.
    pub scopes: Option<Vec<String>>,
}

/// An OAuth access token minted by the token endpoint.
#[derive(Debug, Clone)]
pub struct OauthToken {
    /// Principal id.
    pub owner: u64,
    /// Epoch ms.
    pub expiry_ms: i64,
}

/// Who made a request (inserted into request extensions by the auth layer).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Principal id.
    pub id: u64,
    /// Email or SP application id.
    pub user_name: String,
    /// Service principal?
    pub is_sp: bool,
    /// Workspace admin?
    pub admin: bool,
}

/// "alice.smith@example.com" → "Alice Smith".
pub fn display_name_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    local
        .split(['.', '_', '-', '+'])
        .filter(|s| !s.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names() {
        assert_eq!(
            display_name_from_email("alice.smith@example.com"),
            "Alice Smith"
        );
        assert_eq!(display_name_from_email("bob@x"), "Bob");
    }
}
