//! Timestamps in the forms the model APIs use: Unix seconds (`created`, `created_at`) and
//! RFC 3339 (Anthropic's model list).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds `secs` (UTC; formatted by [`crate::clock::iso8601`]).
pub(crate) fn rfc3339(secs: u64) -> String {
    crate::clock::iso8601(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert!(unix_now() > 1_735_689_600);
    }
}
