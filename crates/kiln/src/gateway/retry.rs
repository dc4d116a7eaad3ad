//! Retries before the first byte: a 429 or 503 from upstream (or a connection that could not be
//! made) is tried again within a bound, waiting what `Retry-After` asks (read by
//! `kiln_databricks::retry_after`) or else an exponential backoff. A wait that would overrun the
//! bound is not made: the agent gets the upstream's answer and applies its own policy.

use std::time::Duration;

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
