//! Retries before the first byte: a 429 or 503 from upstream (or a connection that could not be
//! made) is tried again within a bound, waiting what `Retry-After` asks (integer seconds or an
//! HTTP date) or else an exponential backoff. A wait that would overrun the bound is not made:
//! the agent gets the upstream's answer and applies its own policy.

use axum::http::HeaderMap;
use std::time::{Duration, SystemTime};

/// Bounds of the retries of one request.
#[derive(Clone, Debug)]
pub struct RetryBounds {
    /// Most attempts in all (4).
    pub max_attempts: u32,
    /// Longest total time spent waiting between attempts (30 s).
    pub budget: Duration,
    /// First backoff when the upstream gives no `Retry-After` (250 ms), doubled per attempt.
    pub base_delay: Duration,
    /// Largest backoff without `Retry-After` (4 s).
    pub max_delay: Duration,
}

impl Default for RetryBounds {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            budget: Duration::from_secs(30),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// `Retry-After` as a duration: integer (or decimal) seconds, or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Whether a status may be retried before the first byte.
pub fn retryable_status(status: u16) -> bool {
    status == 429 || status == 503
}

impl RetryBounds {
    /// The wait before attempt `attempt + 1` (`attempt` counts from 1), given the time already
    /// spent waiting and the upstream's `Retry-After`; `None` when no further attempt fits.
    pub fn next_delay(
        &self,
        attempt: u32,
        waited: Duration,
        server: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let backoff = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(16))
            .min(self.max_delay);
        let delay = server.unwrap_or(backoff);
        (waited + delay <= self.budget).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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

    #[test]
    fn delays_stay_within_bounds() {
        let b = RetryBounds::default();
        assert_eq!(
            b.next_delay(1, Duration::ZERO, None),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            b.next_delay(2, Duration::ZERO, None),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            b.next_delay(3, Duration::ZERO, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(b.next_delay(4, Duration::ZERO, None), None);
        assert_eq!(
            b.next_delay(1, Duration::ZERO, Some(Duration::from_secs(31))),
            None
        );
        assert_eq!(
            b.next_delay(2, Duration::from_secs(29), Some(Duration::from_secs(2))),
            None
        );
        assert!(retryable_status(429) && retryable_status(503) && !retryable_status(500));
    }
}
