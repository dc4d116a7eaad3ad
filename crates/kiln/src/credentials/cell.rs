//! [`TokenCell`]: kiln's one source of truth for "the current Databricks token". It implements
//! [`kiln_databricks::TokenSource`], so the gateway and every Databricks call made for the owner
//! ask it on each request, and the broker serves it to terminals; nothing keeps a copy that can
//! go stale. It holds a token kiln minted (and rotates), a delegate source (the Databricks
//! configuration, outside Databricks Apps), or nothing yet.

use super::clock::SharedClock;
use kiln_databricks::{CredentialsError, Secret, TokenFuture, TokenSource};
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// How long a delegate source's token is offered to terminals before they ask again (60 s).
const DELEGATE_LEASE: Duration = Duration::from_secs(60);

/// A token kiln minted. Times are on kiln's clock (epoch ms); the lifetime is the server's
/// (`expiry_time - creation_time`), counted from when the create request was sent, so clock skew
/// between kiln and the workspace does not matter.
pub struct MintedToken {
    /// The token.
    pub value: Secret,
    /// Its id (`token_info.token_id`).
    pub id: String,
    /// When the create request was sent.
    pub obtained_ms: i64,
    /// When it expires (never later than the server's expiry).
    pub expires_ms: i64,
    /// When its rotation starts (a third of the lifetime left).
    pub rotate_at_ms: i64,
    /// 1 for the first token of this process, then one more per token.
    pub generation: u64,
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken")
            .field("id", &self.id)
            .field("obtained_ms", &self.obtained_ms)
            .field("expires_ms", &self.expires_ms)
            .field("rotate_at_ms", &self.rotate_at_ms)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl MintedToken {
    /// Builds the record of a token whose create request was sent at `sent_ms` and which the
    /// server gave `lifetime_ms` to live.
    pub fn new(value: Secret, id: String, sent_ms: i64, lifetime_ms: i64, generation: u64) -> Self {
        let lifetime_ms = lifetime_ms.max(0);
        Self {
            value,
            id,
            obtained_ms: sent_ms,
            expires_ms: sent_ms.saturating_add(lifetime_ms),
            rotate_at_ms: sent_ms.saturating_add(lifetime_ms - lifetime_ms / 3),
            generation,
        }
    }
}

enum Held {
    Empty,
    Minted(Arc<MintedToken>),
    Delegate(Arc<dyn TokenSource>),
}

/// The token and when to ask again, as the broker hands it out.
pub struct Lease {
    /// The current token.
    pub token: Secret,
    /// Epoch ms after which the holder should ask again: the planned rotation while it is in
    /// the future, else shortly (never after the token's expiry).
    pub refresh_by_ms: i64,
}

/// The current token, shared by every consumer.
pub struct TokenCell {
    held: RwLock<Held>,
    clock: SharedClock,
    /// How soon to ask again once a rotation is due but not done yet.
    refresh_hint: Duration,
    changed: watch::Sender<u64>,
}

impl fmt::Debug for TokenCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = match &*self.read() {
            Held::Empty => "empty".to_owned(),
            Held::Minted(t) => format!("minted {}", t.id),
            Held::Delegate(s) => format!("delegate {}", s.auth_type()),
        };
        write!(f, "TokenCell({held})")
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

impl TokenCell {
    /// An empty cell.
    pub fn new(clock: SharedClock, refresh_hint: Duration) -> Self {
        Self {
            held: RwLock::new(Held::Empty),
            clock,
            refresh_hint,
            changed: watch::Sender::new(0),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Held> {
        self.held.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn replace(&self, held: Held) {
        *self.held.write().unwrap_or_else(PoisonError::into_inner) = held;
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The minted token held, if any (expired or not).
    pub fn minted(&self) -> Option<Arc<MintedToken>> {
        match &*self.read() {
            Held::Minted(t) => Some(t.clone()),
            _ => None,
        }
    }

    /// Whether the cell delegates to another source (the Databricks configuration).
    pub fn is_delegate(&self) -> bool {
        matches!(&*self.read(), Held::Delegate(_))
    }

    /// Hands a new minted token to every consumer at once.
    pub fn set_minted(&self, token: Arc<MintedToken>) {
        self.replace(Held::Minted(token));
    }

    /// Delegates to `source` from now on.
    pub fn set_delegate(&self, source: Arc<dyn TokenSource>) {
        self.replace(Held::Delegate(source));
    }

    /// Forgets the token (it expired or was revoked).
    pub fn clear(&self) {
        self.replace(Held::Empty);
    }

    /// Changes whenever the held token changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The current token and when to ask again.
    pub async fn lease(&self) -> Result<Lease, CredentialsError> {
        let now = self.clock.now_ms();
        let held = match &*self.read() {
            Held::Empty => None,
            Held::Minted(t) => Some(Ok(t.clone())),
            Held::Delegate(s) => Some(Err(s.clone())),
        };
        match held {
            None => Err(no_token()),
            Some(Ok(t)) => {
                if now >= t.expires_ms {
                    return Err(expired());
                }
                let refresh_by_ms = if now < t.rotate_at_ms {
                    t.rotate_at_ms
                } else {
                    now.saturating_add(ms(self.refresh_hint)).min(t.expires_ms)
                };
                Ok(Lease {
                    token: t.value.clone(),
                    refresh_by_ms,
                })
            }
            Some(Err(source)) => Ok(Lease {
                token: source.token().await?,
                refresh_by_ms: now.saturating_add(ms(DELEGATE_LEASE)),
            }),
        }
    }
}

fn no_token() -> CredentialsError {
    CredentialsError::Source(
        "kiln has no Databricks token yet: paste one in kiln's page (a dialog asks for it)".into(),
    )
}

fn expired() -> CredentialsError {
    CredentialsError::Source(
        "kiln's Databricks token has expired: paste a new one in kiln's page".into(),
    )
}

impl TokenSource for TokenCell {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move { self.lease().await.map(|l| l.token) })
    }

    fn auth_type(&self) -> &str {
        "kiln"
    }

    fn rejected(&self, token: &Secret) -> bool {
        let delegate = match &*self.read() {
            Held::Empty => return false,
            Held::Minted(t) => return t.value != *token,
            Held::Delegate(s) => s.clone(),
        };
        delegate.rejected(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::clock::{Clock, OffsetClock};
    use kiln_databricks::StaticToken;

    #[tokio::test]
    async fn leases_follow_the_rotation_plan() {
        let clock = Arc::new(OffsetClock::new());
        let cell = TokenCell::new(clock.clone(), Duration::from_secs(10));
        assert!(cell.token().await.is_err(), "empty at first");
        let now = clock.now_ms();
        let t = Arc::new(MintedToken::new(
            Secret::new("dapi-1"),
            "id1".into(),
            now,
            900_000,
            1,
        ));
        assert_eq!(t.rotate_at_ms, now + 600_000);
        assert!(!format!("{t:?}").contains("dapi-1"));
        cell.set_minted(t);
        let lease = cell.lease().await.unwrap();
        assert_eq!(lease.token.expose(), "dapi-1");
        assert_eq!(lease.refresh_by_ms, now + 600_000);
        clock.advance(Duration::from_secs(700));
        let lease = cell.lease().await.unwrap();
        assert!(lease.refresh_by_ms <= clock.now_ms() + 10_000);
        assert!(
            cell.rejected(&Secret::new("dapi-0")),
            "an older token: ask again"
        );
        assert!(!cell.rejected(&Secret::new("dapi-1")));
        clock.advance(Duration::from_secs(200));
        assert!(cell.token().await.is_err(), "expired");
        cell.set_delegate(Arc::new(StaticToken::new(Secret::new("dapi-cfg"))));
        assert_eq!(cell.token().await.unwrap().expose(), "dapi-cfg");
        assert!(cell.is_delegate());
        assert_eq!(format!("{cell:?}"), "TokenCell(delegate pat)");
    }
}
