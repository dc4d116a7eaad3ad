//! Who may use the cluster's gateway. The gateway holds one Databricks token (the cluster's
//! secret), so every model call made through it acts as that token's identity. On a dedicated
//! (single-user) cluster only the assigned user runs code, so any identity is fine. On a shared
//! cluster (standard access mode, no isolation, or a mode kiln does not know) every user of the
//! cluster can reach the gateway, so the token must be a service principal's: a user's token
//! would let every other user act as that user, and the gateway refuses to start with one.

use std::fmt;

/// The cluster's `data_security_mode`, as far as the gateway's policy cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// `SINGLE_USER`, `DATA_SECURITY_MODE_DEDICATED` (and the legacy single-user modes).
    Dedicated,
    /// `USER_ISOLATION`, `DATA_SECURITY_MODE_STANDARD` (and the legacy shared modes).
    Standard,
    /// `NONE`: no isolation, every user runs as the same Linux user.
    NoIsolation,
    /// Empty, `DATA_SECURITY_MODE_AUTO` or anything else: treated as shared.
    Unknown(String),
}

impl AccessMode {
    /// Reads a `data_security_mode` value (case-insensitive).
    pub fn parse(value: &str) -> AccessMode {
        match value.trim().to_ascii_uppercase().as_str() {
            "SINGLE_USER"
            | "DATA_SECURITY_MODE_DEDICATED"
            | "LEGACY_SINGLE_USER"
            | "LEGACY_SINGLE_USER_STANDARD" => AccessMode::Dedicated,
            "USER_ISOLATION"
            | "DATA_SECURITY_MODE_STANDARD"
            | "LEGACY_TABLE_ACL"
            | "LEGACY_PASSTHROUGH" => AccessMode::Standard,
            "NONE" => AccessMode::NoIsolation,
            _ => AccessMode::Unknown(value.trim().to_owned()),
        }
    }

    /// True when several users may run code on the cluster.
    pub fn is_shared(&self) -> bool {
        !matches!(self, AccessMode::Dedicated)
    }
}

impl fmt::Display for AccessMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccessMode::Dedicated => f.write_str("dedicated (single user)"),
            AccessMode::Standard => f.write_str("standard (shared, user isolation)"),
            AccessMode::NoIsolation => f.write_str("no isolation (shared)"),
            AccessMode::Unknown(v) if v.is_empty() => f.write_str("unknown (treated as shared)"),
            AccessMode::Unknown(v) => write!(f, "{v} (unknown, treated as shared)"),
        }
    }
}

/// The identity behind the cluster's token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    /// `user` or `service_principal`.
    pub kind: String,
    /// The user's email or the service principal's application id.
    pub name: String,
}

impl Identity {
    /// True for a service principal.
    pub fn is_service_principal(&self) -> bool {
        self.kind == "service_principal"
    }
}

/// Why the gateway refuses to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to share {name}'s token: the cluster's access mode is {mode}, so every user of the \
     cluster could reach the gateway and act as {name}. Put a service principal's token in the \
     secret (KILN_DATABRICKS_TOKEN), or use a dedicated (SINGLE_USER) cluster"
)]
pub struct Refusal {
    /// The token's user.
    pub name: String,
    /// The access mode.
    pub mode: String,
}

/// Decides whether a gateway holding `identity`'s token may serve every local user.
pub fn check(mode: &AccessMode, identity: &Identity) -> Result<(), Refusal> {
    if mode.is_shared() && !identity.is_service_principal() {
        return Err(Refusal {
            name: identity.name.clone(),
            mode: mode.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Identity {
        Identity {
            kind: "user".into(),
            name: "alice@example.com".into(),
        }
    }

    fn sp() -> Identity {
        Identity {
            kind: "service_principal".into(),
            name: "0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b".into(),
        }
    }

    #[test]
    fn modes() {
        assert_eq!(AccessMode::parse("single_user"), AccessMode::Dedicated);
        assert_eq!(
            AccessMode::parse("DATA_SECURITY_MODE_DEDICATED"),
            AccessMode::Dedicated
        );
        assert_eq!(AccessMode::parse("USER_ISOLATION"), AccessMode::Standard);
        assert_eq!(AccessMode::parse("NONE"), AccessMode::NoIsolation);
        assert!(AccessMode::parse("").is_shared());
        assert!(AccessMode::parse("DATA_SECURITY_MODE_AUTO").is_shared());
    }

    #[test]
    fn a_users_token_is_refused_on_every_shared_mode() {
        assert!(check(&AccessMode::Dedicated, &user()).is_ok());
        assert!(check(&AccessMode::Dedicated, &sp()).is_ok());
        for mode in ["USER_ISOLATION", "NONE", "", "DATA_SECURITY_MODE_AUTO"] {
            let m = AccessMode::parse(mode);
            let e = check(&m, &user()).unwrap_err();
            assert!(e.to_string().contains("alice@example.com"), "{e}");
            assert!(check(&m, &sp()).is_ok());
        }
    }
}
