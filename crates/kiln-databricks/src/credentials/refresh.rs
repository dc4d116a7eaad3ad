//! The token cache shared by refreshing credentials (OAuth M2M, metadata service): a token is
//! used until its refresh-ahead window, refreshed in the background within it, refreshed in the
//! foreground only when nearly expired, and never fetched twice at once (single-flight).

use crate::error::CredentialsError;
use crate::secret::Secret;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// A token is never used closer than this to its expiry (Databricks refuses tokens ~30 s
/// before expiry; the SDK keeps 40 s). Shorter for very short-lived tokens: a quarter of the TTL.
const EXPIRY_MARGIN: Duration = Duration::from_secs(40);
/// Background refresh starts when less than min(TTL/2, this) remains (as the SDK does).
const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(20 * 60);
/// Pause after a failed background refresh before trying again in the background.
const BACKGROUND_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// A cached token and when to act on it.
#[derive(Clone)]
pub(crate) struct CachedToken {
    value: Secret,
    /// From here on, a background refresh is started (the token is still used).
    refresh_at: Instant,
    /// From here on, the token is not used: callers wait for a new one.
    stale_at: Instant,
}

impl CachedToken {
    pub(crate) fn new(value: Secret, issued: Instant, ttl: Duration) -> Self {
        let margin = EXPIRY_MARGIN.min(ttl / 4);
        let ahead = REFRESH_AHEAD_MAX.min(ttl / 2);
        Self {
            value,
            refresh_at: issued + ttl.saturating_sub(ahead),
            stale_at: issued + ttl.saturating_sub(margin),
        }
    }
}

/// What to do with the cache at a given moment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CacheState {
    Fresh,
    RefreshAhead,
    Stale,
}

pub(crate) fn cache_state(token: Option<&CachedToken>, now: Instant) -> CacheState {
    match token {
        Some(t) if now < t.refresh_at => CacheState::Fresh,
        Some(t) if now < t.stale_at => CacheState::RefreshAhead,
        _ => CacheState::Stale,
    }
}

/// How a refreshing credential gets a new token.
pub(crate) trait Fetch: Send + Sync + 'static {
    /// Fetches a new token (with its lifetime).
    fn fetch(&self) -> impl Future<Output = Result<CachedToken, CredentialsError>> + Send;

    /// What to name in logs (never a secret).
    fn describe(&self) -> &str;
}

#[derive(Default)]
struct State {
    token: Option<CachedToken>,
    /// A background refresh is running.
    background: bool,
    /// After a failed background refresh, no new one before this.
    next_background: Option<Instant>,
}

struct Shared<F> {
    fetcher: F,
    state: Mutex<State>,
    /// Single-flight gate: whoever holds it is the one fetching. It guards no data, so holding
    /// it across the fetch's `.await` is its purpose; `state` is only locked briefly.
    flight: tokio::sync::Mutex<()>,
}

/// A cached, refreshing token around a [`Fetch`]. Clones share the cache.
pub(crate) struct Refreshing<F> {
    shared: Arc<Shared<F>>,
}

impl<F> Clone for Refreshing<F> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<F: Fetch> Refreshing<F> {
    pub(crate) fn new(fetcher: F) -> Self {
        Self {
            shared: Arc::new(Shared {
                fetcher,
                state: Mutex::new(State::default()),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The fetcher (for `Debug` output).
    pub(crate) fn fetcher(&self) -> &F {
        &self.shared.fetcher
    }

    /// The token to use now.
    pub(crate) async fn current(&self) -> Result<Secret, CredentialsError> {
        {
            let mut st = self.shared.lock();
            match cache_state(st.token.as_ref(), Instant::now()) {
                CacheState::Fresh => {
                    if let Some(t) = &st.token {
                        return Ok(t.value.clone());
                    }
                }
                CacheState::RefreshAhead => {
                    let paused = st.next_background.is_some_and(|t| Instant::now() < t);
                    if !st.background && !paused {
                        st.background = true;
                        let shared = Arc::clone(&self.shared);
                        tokio::spawn(async move { shared.background_refresh().await });
                    }
                    if let Some(t) = &st.token {
                        return Ok(t.value.clone());
                    }
                }
                CacheState::Stale => {}
            }
        }
        self.shared.refresh_if(|s| *s == CacheState::Stale).await
    }

    /// The server refused `token`: drops it if it is still the cached one. Always true (asking
    /// again fetches a new token).
    pub(crate) fn rejected(&self, token: &Secret) -> bool {
        let mut st = self.shared.lock();
        if st.token.as_ref().is_some_and(|t| &t.value == token) {
            st.token = None;
        }
        true
    }
}

impl<F: Fetch> Shared<F> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Under the single-flight gate: re-checks the cache (someone else may have just refreshed)
    /// and fetches only if `needs(state)` still holds.
    async fn refresh_if(
        &self,
        needs: impl Fn(&CacheState) -> bool,
    ) -> Result<Secret, CredentialsError> {
        let _gate = self.flight.lock().await;
        {
            let st = self.lock();
            let state = cache_state(st.token.as_ref(), Instant::now());
            if !needs(&state)
                && state != CacheState::Stale
                && let Some(t) = &st.token
            {
                return Ok(t.value.clone());
            }
        }
        let fresh = self.fetcher.fetch().await?;
        let value = fresh.value.clone();
        self.lock().token = Some(fresh);
        Ok(value)
    }

    async fn background_refresh(self: Arc<Self>) {
        let result = self.refresh_if(|s| *s != CacheState::Fresh).await;
        let mut st = self.lock();
        st.background = false;
        if let Err(e) = &result {
            st.next_background = Some(Instant::now() + BACKGROUND_RETRY_PAUSE);
            drop(st);
            tracing::warn!(source = %self.fetcher.describe(), error = %e, "background token refresh failed; will retry");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_windows() {
        let t0 = Instant::now();
        let hour = CachedToken::new(Secret::new("a"), t0, Duration::from_secs(3600));
        assert_eq!(hour.refresh_at, t0 + Duration::from_secs(2400));
        assert_eq!(hour.stale_at, t0 + Duration::from_secs(3560));
        assert_eq!(cache_state(Some(&hour), t0), CacheState::Fresh);
        assert_eq!(
            cache_state(Some(&hour), t0 + Duration::from_secs(2400)),
            CacheState::RefreshAhead
        );
        assert_eq!(
            cache_state(Some(&hour), t0 + Duration::from_secs(3560)),
            CacheState::Stale
        );
        assert_eq!(cache_state(None, t0), CacheState::Stale);
        let short = CachedToken::new(Secret::new("b"), t0, Duration::from_secs(8));
        assert_eq!(short.refresh_at, t0 + Duration::from_secs(4));
        assert_eq!(short.stale_at, t0 + Duration::from_secs(6));
    }
}
