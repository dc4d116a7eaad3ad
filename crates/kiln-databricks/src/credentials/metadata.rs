//! Metadata-service credentials, as the official SDKs do them (`auth_type = metadata-service`):
//! `GET <metadata_service_url>` with `X-Databricks-Metadata-Version: 1` and
//! `X-Databricks-Host: <host>`, answered by `{"access_token","token_type","expires_on"}` where
//! `expires_on` is in epoch seconds. The token is cached and refreshed ahead of `expires_on` by
//! [`Refreshing`] (single-flight). The URL usually carries a key (kiln's broker puts it in the
//! path), so it is a secret: never logged, never in errors or `Debug`. Proxies are bypassed, as
//! the SDKs do for these (normally loopback) URLs.

use super::refresh::{CachedToken, Fetch, Refreshing};
use super::{TokenFuture, TokenSource};
use crate::error::{CredentialsError, Error};
use crate::error_body::error_from_response;
use crate::http::transport_error;
use crate::retry::{RetryPolicy, Safety, with_retries};
use crate::secret::Secret;
use serde::Deserialize;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The protocol version header and its value.
const VERSION_HEADER: &str = "X-Databricks-Metadata-Version";
const VERSION: &str = "1";
/// The workspace the token is asked for.
const HOST_HEADER: &str = "X-Databricks-Host";
/// Per-request timeout (the Python SDK's).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest time spent retrying one fetch (a local service is up or it is not).
const RETRY_BUDGET: Duration = Duration::from_secs(20);
/// Label of the request in errors (deliberately without the URL).
const LABEL: &str = "GET metadata service";

struct Service {
    http: reqwest::Client,
    url: Secret,
    host: String,
    retry: RetryPolicy,
    user_agent: String,
}

/// Token source backed by a metadata service.
#[derive(Clone)]
pub(crate) struct MetadataService {
    cache: Refreshing<Service>,
}

impl fmt::Debug for MetadataService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.cache.fetcher();
        f.debug_struct("MetadataService")
            .field("url", &s.url)
            .field("host", &s.host)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<Secret>,
    token_type: Option<String>,
    expires_on: Option<serde_json::Value>,
}

impl MetadataService {
    /// A source asking `url` for tokens for workspace `host`. `http` should not use a proxy
    /// (see [`crate::http::build_http_client_without_proxy`]).
    pub(crate) fn new(
        http: reqwest::Client,
        url: Secret,
        host: &str,
        retry: &RetryPolicy,
        user_agent: String,
    ) -> Self {
        let retry = RetryPolicy {
            budget: retry.budget.min(RETRY_BUDGET),
            request_timeout: retry.request_timeout.min(REQUEST_TIMEOUT),
            ..retry.clone()
        };
        Self {
            cache: Refreshing::new(Service {
                http,
                url,
                host: host.to_owned(),
                retry,
                user_agent,
            }),
        }
    }
}

impl Service {
    async fn get(&self) -> Result<bytes::Bytes, Error> {
        let builder = self
            .http
            .get(self.url.expose())
            .header(VERSION_HEADER, VERSION)
            .header(HOST_HEADER, &self.host)
            .header(reqwest::header::USER_AGENT, &self.user_agent)
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.retry.request_timeout);
        // `without_url`: reqwest's messages name the URL, which holds the secret.
        let res = builder
            .send()
            .await
            .map_err(|e| transport_error(&e.without_url(), LABEL))?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .bytes()
            .await
            .map_err(|e| transport_error(&e.without_url(), LABEL))?;
        if !status.is_success() {
            return Err(error_from_response(status, &headers, &body, LABEL));
        }
        Ok(body)
    }
}

/// Parses a response; `now` is the wall clock (epoch) when it arrived.
fn parse(body: &[u8], now: Duration) -> Result<(Secret, Duration), CredentialsError> {
    let bad = |m: &str| CredentialsError::BadMetadataResponse(m.to_owned());
    let parsed: TokenResponse =
        serde_json::from_slice(body).map_err(|e| bad(&format!("not a token response: {e}")))?;
    let token = parsed
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("no access_token"))?;
    match parsed.token_type.as_deref() {
        None | Some("") => return Err(bad("no token_type")),
        Some(tt) if !tt.eq_ignore_ascii_case("bearer") => {
            return Err(bad(&format!("token_type {tt:?} is not Bearer")));
        }
        Some(_) => {}
    }
    let expires_on = match parsed.expires_on {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s > 0.0)
    .ok_or_else(|| bad("missing or invalid expires_on"))?;
    let ttl = expires_on - now.as_secs_f64();
    if ttl <= 0.0 {
        return Err(bad(
            "the token has already expired (expires_on is in the past)",
        ));
    }
    Ok((token, Duration::from_secs_f64(ttl.min(1e9))))
}

impl Fetch for Service {
    fn describe(&self) -> &str {
        "metadata service"
    }

    async fn fetch(&self) -> Result<CachedToken, CredentialsError> {
        let issued = Instant::now();
        let body = with_retries(&self.retry, Safety::Idempotent, LABEL, || self.get())
            .await
            .map_err(|e| CredentialsError::MetadataRequest(Box::new(e)))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (token, ttl) = parse(&body, now)?;
        tracing::debug!(
            ttl_s = ttl.as_secs(),
            "fetched token from the metadata service"
        );
        Ok(CachedToken::new(token, issued, ttl))
    }
}

impl TokenSource for MetadataService {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self.cache.current())
    }

    fn auth_type(&self) -> &str {
        "metadata-service"
    }

    fn rejected(&self, token: &Secret) -> bool {
        self.cache.rejected(token)
    }
}

#[cfg(test)]
#[path = "metadata_tests.rs"]
mod tests;
