//! The Databricks calls of the credential machinery, each made with an explicit token: SCIM Me
//! (who a pasted token belongs to), token create / list / delete. Rotation calls make a single
//! attempt (the rotation state machine retries on kiln's clock, with backoff); calls a person
//! is waiting for get a short retry budget.

use super::cell::MintedToken;
use super::clock::SharedClock;
use kiln_databricks::api::scim::User;
use kiln_databricks::api::tokens::{CreateToken, TokenInfo};
use kiln_databricks::{
    Attr, Client, ClientOptions, Config, ConfigError, ConfigLoader, Environment, Error,
    RetryPolicy, Secret, StaticToken,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Per-request timeout (20 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Retry budget when a person waits for the answer (10 s).
const PATIENT_BUDGET: Duration = Duration::from_secs(10);

/// How hard a call tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// One attempt: the caller retries on its own schedule.
    Once,
    /// Retries transient failures for a few seconds.
    Patient,
}

/// What a revocation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The token was revoked now.
    Now,
    /// It was already gone (revoked or expired).
    AlreadyGone,
}

/// A token create answer, reduced to what kiln keeps.
pub struct Created {
    /// The token.
    pub value: Secret,
    /// Its id.
    pub id: String,
    /// When the request was sent (kiln clock).
    pub sent_ms: i64,
    /// Lifetime granted by the server (its `expiry_time - creation_time`), in ms.
    pub lifetime_ms: i64,
}

impl Created {
    /// The rotation record of this token.
    pub fn into_minted(self, generation: u64) -> MintedToken {
        MintedToken::new(
            self.value,
            self.id,
            self.sent_ms,
            self.lifetime_ms,
            generation,
        )
    }
}

/// One workspace, reached with whatever token a call is given.
#[derive(Clone)]
pub struct Remote {
    config: Config,
    clock: SharedClock,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.host())
    }
}

impl Remote {
    /// The workspace at `host` (normalised like the SDKs: a bare host name gets `https://`).
    pub fn new(
        host: &str,
        workspace_id: Option<&str>,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        let mut loader =
            ConfigLoader::new(Environment::new()).set_from(Attr::Host, host, "the workspace URL");
        if let Some(id) = workspace_id {
            loader = loader.set_from(Attr::WorkspaceId, id, "DATABRICKS_WORKSPACE_ID");
        }
        Ok(Self {
            config: loader.load()?,
            clock,
        })
    }

    /// The normalised workspace URL.
    pub fn host(&self) -> &str {
        self.config.host().unwrap_or_default()
    }

    fn client(&self, token: &Secret, patience: Patience) -> Result<Client, Error> {
        let budget = match patience {
            Patience::Once => Duration::ZERO,
            Patience::Patient => PATIENT_BUDGET,
        };
        let options = ClientOptions {
            retry: RetryPolicy {
                budget,
                request_timeout: REQUEST_TIMEOUT,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        };
        Client::with_token_source(
            &self.config,
            Arc::new(StaticToken::new(token.clone())),
            options,
        )
    }

    /// Who `token` belongs to.
    pub async fn me(&self, token: &Secret, patience: Patience) -> Result<User, Error> {
        self.client(token, patience)?.scim().me().await
    }

    /// Mints a token of `lifetime` with `comment`, authenticated by `token`.
    pub async fn mint(
        &self,
        token: &Secret,
        lifetime: Duration,
        comment: &str,
        patience: Patience,
    ) -> Result<Created, Error> {
        let client = self.client(token, patience)?;
        let requested_ms = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX / 4);
        let sent_ms = self.clock.now_ms();
        let created = client
            .tokens()
            .create(&CreateToken {
                lifetime_seconds: Some(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
                comment: Some(comment.to_owned()),
            })
            .await?;
        let info = &created.token_info;
        let lifetime_ms = match (info.creation_time, info.expiry_time) {
            (Some(c), Some(e)) if e > c => (e - c).min(requested_ms),
            _ => requested_ms,
        };
        Ok(Created {
            id: info.token_id.clone(),
            value: created.token_value,
            sent_ms,
            lifetime_ms,
        })
    }

    /// The caller's valid tokens.
    pub async fn list(&self, token: &Secret, patience: Patience) -> Result<Vec<TokenInfo>, Error> {
        self.client(token, patience)?.tokens().list().await
    }

    /// Revokes token `id`, authenticated by `token`.
    pub async fn revoke(
        &self,
        token: &Secret,
        id: &str,
        patience: Patience,
    ) -> Result<Revoked, Error> {
        match self.client(token, patience)?.tokens().delete(id).await {
            Ok(()) => Ok(Revoked::Now),
            Err(e) if e.is_not_found() => Ok(Revoked::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

/// The id Databricks shows for a token: lowercase hex SHA-256 of its value (as the SDK documents
/// `token_id`). Used only to recognise a pasted token in the token list.
pub fn token_id_of(token: &Secret) -> String {
    Sha256::digest(token.expose().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_sha256_hex() {
        assert_eq!(
            token_id_of(&Secret::new("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
