//! Retries like the SDKs: 429 (honouring `Retry-After`), 503, connection failures and the
//! SDKs' list of transient messages; exponential backoff with jitter; a total time budget.
//! Only calls that are safe to repeat are repeated after the server may have acted on them:
//! a 429 or a refused connection means the request was not processed, so those are retried
//! for every call; 503, timeouts, resets and transient messages only for idempotent calls.

use crate::error::{Error, TransportKind};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::future::Future;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Messages the SDKs treat as transient (matched as substrings).
const TRANSIENT_MESSAGES: &[&str] = &[
    "com.databricks.backend.manager.util.UnknownWorkerEnvironmentException",
    "does not have any associated worker environments",
    "There is no worker environment with id",
    "Unknown worker environment",
    "ClusterNotReadyException",
    "Unexpected error",
    "Please try again later or try a faster operation.",
    "RPC token bucket limit has been exceeded",
];

/// Longest wait a numeric `Retry-After` is read as (one day); callers clamp further.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `Retry-After` as a duration: non-negative seconds (integer or decimal, at most a day) or an
/// HTTP date (a date in the past is zero). `None` when absent or unreadable. The one parser of
/// this header in the workspace: the client's retries and kiln's model gateway both use it.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64())));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether a call may be repeated after the server possibly acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// GET/HEAD/DELETE and calls documented as idempotent.
    Idempotent,
    /// Calls that create something (a token, a cluster, a deployment).
    NotIdempotent,
}

/// Retry and timeout settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total time from the first attempt after which no new attempt starts (SDK default 300 s).
    pub budget: Duration,
    /// Timeout of one HTTP request, body included (SDK default 60 s).
    pub request_timeout: Duration,
    /// First backoff delay; doubles per attempt.
    pub base_delay: Duration,
    /// Largest backoff delay (SDK: 10 s).
    pub max_delay: Duration,
    /// Largest random extra added to a server-given `Retry-After`.
    pub retry_after_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            budget: Duration::from_secs(300),
            request_timeout: Duration::from_secs(60),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            retry_after_jitter: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// Whether `err` (from attempt number `attempt`, 1-based) should be retried, and after how long.
    pub fn delay_for(&self, err: &Error, safety: Safety, attempt: u32) -> Option<Duration> {
        let idempotent = safety == Safety::Idempotent;
        match err {
            Error::RateLimited { retry_after, .. } => {
                Some(self.server_or_backoff(*retry_after, attempt))
            }
            Error::Unavailable { retry_after, .. } if idempotent => {
                Some(self.server_or_backoff(*retry_after, attempt))
            }
            Error::Transport {
                kind: TransportKind::Connect,
                ..
            } => Some(self.backoff(attempt)),
            Error::Transport {
                kind: TransportKind::Timeout | TransportKind::Other,
                ..
            } if idempotent => Some(self.backoff(attempt)),
            Error::Other(api) | Error::InvalidParameter(api) | Error::InvalidState(api)
                if idempotent && TRANSIENT_MESSAGES.iter().any(|m| api.message.contains(m)) =>
            {
                Some(self.backoff(attempt))
            }
            _ => None,
        }
    }

    fn server_or_backoff(&self, retry_after: Option<Duration>, attempt: u32) -> Duration {
        match retry_after {
            Some(d) => d + jitter(self.retry_after_jitter),
            None => self.backoff(attempt),
        }
    }

    /// Exponential backoff with "equal jitter": half the capped delay plus a random half.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let capped = self.base_delay.saturating_mul(1 << exp).min(self.max_delay);
        capped / 2 + jitter(capped / 2)
    }
}

/// A uniformly random duration in `[0, max]` (getrandom; zero if the OS RNG fails).
fn jitter(max: Duration) -> Duration {
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max_nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(random_u64() % (max_nanos + 1).max(1))
}

/// A random number from the OS (0 if unavailable; only used for jitter and test names).
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or(0)
}

/// Runs `op` until it succeeds, fails for good, or the budget is spent.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    safety: Safety,
    request: &str,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let start = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let err = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(delay) = policy.delay_for(&err, safety, attempt) else {
            return Err(err);
        };
        let elapsed = start.elapsed();
        if elapsed + delay > policy.budget {
            tracing::warn!(request, attempts = attempt, elapsed_ms = elapsed.as_millis() as u64, error = %err, "retry budget spent");
            return Err(Error::RetriesExhausted {
                attempts: attempt,
                elapsed,
                last: Box::new(err),
            });
        }
        tracing::debug!(request, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use reqwest::header::HeaderValue;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api(status: u16, message: &str) -> ApiError {
        ApiError {
            status,
            error_code: None,
            message: message.to_owned(),
            reason: None,
            request_id: None,
            request: "GET /x".to_owned(),
        }
    }

    fn transport(kind: TransportKind, message: &str) -> Error {
        Error::Transport {
            kind,
            request: "GET /x".into(),
            message: message.into(),
        }
    }

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        let rl = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            error: Box::new(api(429, "")),
        };
        let unavailable = Error::Unavailable {
            retry_after: None,
            error: Box::new(api(503, "")),
        };
        let connect = transport(TransportKind::Connect, "connection refused");
        let dns = transport(
            TransportKind::Setup,
            "client error (Connect): dns error: failed to lookup",
        );
        let timeout = transport(TransportKind::Timeout, "operation timed out");
        let reset = transport(TransportKind::Other, "connection reset");
        let transient = Error::Other(Box::new(api(500, "Unexpected error in the backend")));
        let plain500 = Error::Other(Box::new(api(500, "boom")));
        let not_found = Error::NotFound(Box::new(api(404, "gone")));
        let denied = Error::PermissionDenied(Box::new(api(403, "Invalid access token.")));

        for (err, idem, not_idem) in [
            (&rl, true, true),
            (&unavailable, true, false),
            (&connect, true, true),
            (&dns, false, false),
            (&timeout, true, false),
            (&reset, true, false),
            (&transient, true, false),
            (&plain500, false, false),
            (&not_found, false, false),
            (&denied, false, false),
        ] {
            assert_eq!(
                p.delay_for(err, Safety::Idempotent, 1).is_some(),
                idem,
                "{err}"
            );
            assert_eq!(
                p.delay_for(err, Safety::NotIdempotent, 1).is_some(),
                not_idem,
                "{err}"
            );
        }
    }

    #[test]
    fn retry_after_is_honoured_with_small_jitter() {
        let p = RetryPolicy::default();
        let rl = Error::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            error: Box::new(api(429, "")),
        };
        for _ in 0..50 {
            let d = p.delay_for(&rl, Safety::NotIdempotent, 7).unwrap();
            assert!(
                d >= Duration::from_secs(3) && d <= Duration::from_millis(3250),
                "{d:?}"
            );
        }
    }

    #[test]
    fn backoff_grows_exponentially_within_bounds() {
        let p = RetryPolicy::default();
        for attempt in 1..=40 {
            let cap = (p.base_delay * 2u32.pow(attempt.min(20) - 1)).min(p.max_delay);
            for _ in 0..20 {
                let d = p.backoff(attempt);
                assert!(
                    d >= cap / 2 && d <= cap,
                    "attempt {attempt}: {d:?} not in [{:?}, {cap:?}]",
                    cap / 2
                );
            }
        }
        // Jitter actually varies.
        let samples: std::collections::BTreeSet<_> = (0..20).map(|_| p.backoff(4)).collect();
        assert!(samples.len() > 1);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success() {
        let calls = AtomicU32::new(0);
        let p = RetryPolicy::default();
        let start = Instant::now();
        let out = with_retries(&p, Safety::NotIdempotent, "GET /x", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Error::RateLimited {
                    retry_after: Some(Duration::from_secs(2)),
                    error: Box::new(api(429, "")),
                }),
                _ => Ok("done"),
            }
        })
        .await
        .unwrap();
        assert_eq!(out, "done");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(
            start.elapsed() >= Duration::from_secs(4),
            "Retry-After honoured"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_the_budget_with_a_clear_error() {
        let p = RetryPolicy {
            budget: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let err = with_retries(&p, Safety::Idempotent, "GET /x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::Unavailable {
                retry_after: None,
                error: Box::new(api(503, "down")),
            })
        })
        .await
        .unwrap_err();
        assert!(start.elapsed() <= Duration::from_secs(30));
        let Error::RetriesExhausted { attempts, last, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*attempts, calls.load(Ordering::SeqCst));
        assert!(*attempts >= 3);
        assert!(matches!(**last, Error::Unavailable { .. }));
        assert!(err.to_string().starts_with("gave up after"), "{err}");
        assert_eq!(err.status(), Some(503));
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_return_at_once() {
        let calls = AtomicU32::new(0);
        let err = with_retries(
            &RetryPolicy::default(),
            Safety::Idempotent,
            "GET /x",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::NotFound(Box::new(api(404, "gone"))))
            },
        )
        .await
        .unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after", HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert("retry-after", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        h.insert("retry-after", HeaderValue::from_str(&later).unwrap());
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
