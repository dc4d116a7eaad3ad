//! OAuth machine-to-machine credentials: `client_credentials` at `{host}/oidc/v1/token` (HTTP
//! Basic client auth, scope `all-apis`), the token cached, refreshed in the background once it
//! enters its refresh-ahead window, refreshed in the foreground only when nearly expired, and
//! never fetched twice at once (single-flight).

use super::{TokenFuture, TokenSource};
use crate::error::{CredentialsError, Error};
use crate::http::send;
use crate::retry::{RetryPolicy, Safety, with_retries};
use crate::secret::Secret;
use base64::Engine as _;
use serde::Deserialize;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Scope requested when none is configured (the SDKs' default).
const DEFAULT_SCOPE: &str = "all-apis";
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

#[derive(Default)]
struct State {
    token: Option<CachedToken>,
    /// A background refresh is running.
    background: bool,
    /// After a failed background refresh, no new one before this.
    next_background: Option<Instant>,
}

struct Shared {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    retry: RetryPolicy,
    user_agent: String,
    state: Mutex<State>,
    /// Single-flight gate: whoever holds it is the one fetching. It guards no data, so holding
    /// it across the fetch's `.await` is its purpose; `state` is only locked briefly.
    flight: tokio::sync::Mutex<()>,
}

/// OAuth M2M token source.
#[derive(Clone)]
pub(crate) struct OAuthM2m {
    shared: Arc<Shared>,
}

impl fmt::Debug for OAuthM2m {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthM2m")
            .field("token_url", &self.shared.token_url)
            .field("client_id", &self.shared.client_id)
            .field("client_secret", &self.shared.client_secret)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<Secret>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

impl OAuthM2m {
    pub(crate) fn new(
        http: reqwest::Client,
        host: &str,
        client_id: String,
        client_secret: Secret,
        retry: RetryPolicy,
        user_agent: String,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                http,
                token_url: format!("{host}/oidc/v1/token"),
                client_id,
                client_secret,
                scope: DEFAULT_SCOPE.to_owned(),
                retry,
                user_agent,
                state: Mutex::new(State::default()),
                flight: tokio::sync::Mutex::new(()),
            }),
        }
    }

    async fn current(&self) -> Result<Secret, CredentialsError> {
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
}

impl Shared {
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
        let fresh = self.fetch().await?;
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
            tracing::warn!(token_url = %self.token_url, error = %e, "background OAuth token refresh failed; will retry");
        }
    }

    async fn fetch(&self) -> Result<CachedToken, CredentialsError> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.client_secret.expose()
        ));
        let mut auth =
            reqwest::header::HeaderValue::from_str(&format!("Basic {basic}")).map_err(|_| {
                CredentialsError::Source("client id or secret contains invalid characters".into())
            })?;
        auth.set_sensitive(true);
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", self.scope.as_str()),
        ];
        let label = "POST /oidc/v1/token";
        let issued = Instant::now();
        let response = with_retries(&self.retry, Safety::Idempotent, label, || {
            let builder = self
                .http
                .post(&self.token_url)
                .header(reqwest::header::AUTHORIZATION, auth.clone())
                .header(reqwest::header::USER_AGENT, &self.user_agent)
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
                .timeout(self.retry.request_timeout);
            async move { send(builder, label).await }
        })
        .await
        .map_err(|e| CredentialsError::TokenRequest(Box::new(e)))?;
        let bad = |message: &str| CredentialsError::BadTokenResponse {
            url: self.token_url.clone(),
            message: message.to_owned(),
        };
        let parsed: TokenResponse = response.json().map_err(|e: Error| bad(&e.to_string()))?;
        let value = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("no access_token"))?;
        if let Some(tt) = &parsed.token_type
            && !tt.eq_ignore_ascii_case("bearer")
        {
            return Err(bad(&format!("token_type {tt:?} is not Bearer")));
        }
        let secs = match parsed.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| bad("missing or invalid expires_in"))?;
        let ttl = Duration::from_secs_f64(secs.min(1e9));
        tracing::debug!(ttl_s = ttl.as_secs(), "fetched OAuth token");
        Ok(CachedToken::new(value, issued, ttl))
    }
}

impl TokenSource for OAuthM2m {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.current())
    }

    fn auth_type(&self) -> &str {
        "oauth-m2m"
    }

    fn rejected(&self, token: &Secret) -> bool {
        let mut st = self.shared.lock();
        if st.token.as_ref().is_some_and(|t| &t.value == token) {
            st.token = None;
        }
        true
    }
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
