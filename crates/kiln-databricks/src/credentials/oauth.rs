//! OAuth machine-to-machine credentials: `client_credentials` at `{host}/oidc/v1/token` (HTTP
//! Basic client auth, scope `all-apis`), cached and refreshed by [`Refreshing`] (refresh-ahead in
//! the background, single-flight).

use super::refresh::{CachedToken, Fetch, Refreshing};
use super::{TokenFuture, TokenSource};
use crate::error::{CredentialsError, Error};
use crate::http::send;
use crate::retry::{RetryPolicy, Safety, with_retries};
use crate::secret::Secret;
use base64::Engine as _;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;

/// Scope requested when none is configured (the SDKs' default).
const DEFAULT_SCOPE: &str = "all-apis";

/// Fetches tokens from the OIDC token endpoint.
struct Endpoint {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    scope: String,
    retry: RetryPolicy,
    user_agent: String,
}

/// OAuth M2M token source.
#[derive(Clone)]
pub(crate) struct OAuthM2m {
    cache: Refreshing<Endpoint>,
}

impl fmt::Debug for OAuthM2m {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ep = self.cache.fetcher();
        f.debug_struct("OAuthM2m")
            .field("token_url", &ep.token_url)
            .field("client_id", &ep.client_id)
            .field("client_secret", &ep.client_secret)
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
            cache: Refreshing::new(Endpoint {
                http,
                token_url: format!("{host}/oidc/v1/token"),
                client_id,
                client_secret,
                scope: DEFAULT_SCOPE.to_owned(),
                retry,
                user_agent,
            }),
        }
    }
}

impl Fetch for Endpoint {
    fn describe(&self) -> &str {
        &self.token_url
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
        Box::pin(self.cache.current())
    }

    fn auth_type(&self) -> &str {
        "oauth-m2m"
    }

    fn rejected(&self, token: &Secret) -> bool {
        self.cache.rejected(token)
    }
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
