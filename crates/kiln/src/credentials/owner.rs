//! Who owns this kiln on Databricks Apps: `KILN_OWNER` when set, else the app's `creator`, read
//! through the Apps API with the app's service principal (OAuth M2M). Until the owner is known
//! kiln fails closed (`server::owner` answers 503 saying why); the resolver keeps retrying with
//! backoff (1 s doubling to 60 s) and its latest reason is part of `/api/status`.

use super::backoff;
use super::clock::SharedClock;
use kiln_databricks::{Client, Error};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// First and longest pause between attempts to read the app.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Where the owner's identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerSource {
    /// The `KILN_OWNER` variable.
    KilnOwner,
    /// The app's `creator`, read with the app's service principal.
    AppsApi,
}

/// The owner as currently known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OwnerState {
    /// Not on Databricks Apps: there is no owner check (the access key guards the server).
    NotApplicable,
    /// Not known yet; every request but `/health` is refused with this message.
    Resolving {
        /// Why it is not known yet.
        message: String,
        /// Attempts made so far.
        attempts: u32,
        /// When the next attempt starts (kiln clock, epoch ms), if one is planned.
        next_retry_ms: Option<i64>,
    },
    /// Known.
    Known {
        /// The owner's email (the `X-Forwarded-Email` to accept, compared case-insensitively).
        email: String,
        /// Where it came from.
        source: OwnerSource,
    },
}

/// The shared, watchable owner state.
#[derive(Clone, Debug)]
pub struct Owner {
    tx: Arc<watch::Sender<OwnerState>>,
}

impl Owner {
    /// An owner in state `state`.
    pub fn new(state: OwnerState) -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(state)),
        }
    }

    /// The current state.
    pub fn state(&self) -> OwnerState {
        self.tx.borrow().clone()
    }

    /// The owner's email, once known.
    pub fn email(&self) -> Option<String> {
        match &*self.tx.borrow() {
            OwnerState::Known { email, .. } => Some(email.clone()),
            _ => None,
        }
    }

    /// Whether `email` is the owner's (case-insensitive); false while unknown.
    pub fn is_owner(&self, email: &str) -> bool {
        self.email().is_some_and(|o| same_email(&o, email))
    }

    fn set(&self, state: OwnerState) {
        self.tx.send_replace(state);
    }

    /// Waits until the state satisfies `pred`, and returns that state.
    pub async fn wait_for(&self, pred: impl FnMut(&OwnerState) -> bool) -> OwnerState {
        let mut rx = self.tx.subscribe();
        match rx.wait_for(pred).await {
            Ok(state) => state.clone(),
            // The sender lives in `self`: this cannot happen.
            Err(_) => std::future::pending().await,
        }
    }

    /// Waits until the owner is known.
    pub async fn known(&self) -> String {
        match self
            .wait_for(|s| matches!(s, OwnerState::Known { .. }))
            .await
        {
            OwnerState::Known { email, .. } => email,
            _ => std::future::pending().await,
        }
    }
}

/// Case-insensitive email comparison (full Unicode lowercase, so `Ä` matches `ä` too).
pub fn same_email(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// Reads the app's creator until it succeeds (or `shutdown`). `client` authenticates as the
/// app's service principal; without one the owner stays unknown with a message saying so.
pub(crate) fn spawn_resolver(
    owner: Owner,
    client: Option<Client>,
    app_name: String,
    clock: SharedClock,
    shutdown: CancellationToken,
) {
    let Some(client) = client else {
        owner.set(OwnerState::Resolving {
            message: "no workspace URL (DATABRICKS_HOST) or no service principal credentials \
                      (DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET) to read the app's \
                      creator with; set KILN_OWNER to the owner's email"
                .into(),
            attempts: 0,
            next_retry_ms: None,
        });
        return;
    };
    tokio::spawn(async move {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let message = match client.apps().get(&app_name).await {
                Ok(app) => match app.creator.filter(|c| !c.trim().is_empty()) {
                    Some(email) => {
                        tracing::info!(owner = %email, app = %app_name, "app owner resolved");
                        owner.set(OwnerState::Known {
                            email: email.trim().to_owned(),
                            source: OwnerSource::AppsApi,
                        });
                        return;
                    }
                    None => format!("app {app_name:?} has no creator"),
                },
                Err(e) => describe(&app_name, &e),
            };
            let next = clock.now_ms().saturating_add(
                i64::try_from(backoff(attempts, FIRST_RETRY, MAX_RETRY).as_millis())
                    .unwrap_or(i64::MAX / 4),
            );
            tracing::warn!(attempts, app = %app_name, error = %message, "app owner not known yet; retrying");
            owner.set(OwnerState::Resolving {
                message,
                attempts,
                next_retry_ms: Some(next),
            });
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = clock.sleep_until(next) => {}
            }
        }
    });
}

fn describe(app_name: &str, e: &Error) -> String {
    match e.root() {
        Error::PermissionDenied(_) | Error::NotFound(_) => format!(
            "the app's service principal cannot read app {app_name:?} ({e}); set KILN_OWNER to \
             the owner's email"
        ),
        _ => format!("cannot read app {app_name:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_case_insensitively() {
        assert!(same_email("Alice@Example.com", "alice@example.COM"));
        assert!(same_email(" alice@example.com", "alice@example.com"));
        assert!(!same_email("alice@example.com", "alice@example.co"));
        let o = Owner::new(OwnerState::Known {
            email: "alice@example.com".into(),
            source: OwnerSource::KilnOwner,
        });
        assert!(o.is_owner("ALICE@example.com"));
        assert!(!o.is_owner("bob@example.com"));
        let unknown = Owner::new(OwnerState::Resolving {
            message: "x".into(),
            attempts: 1,
            next_retry_ms: None,
        });
        assert!(!unknown.is_owner("alice@example.com"));
        assert_eq!(unknown.email(), None);
    }
}
