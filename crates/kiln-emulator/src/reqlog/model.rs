//! The bounded log of requests and the redaction of their query strings.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

/// Entries kept (oldest dropped first).
pub const LOG_CAPACITY: usize = 10_000;

/// One logged request.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RequestRecord {
    /// Increasing sequence number.
    pub seq: u64,
    /// Emulator time when the request arrived (epoch ms).
    pub time_ms: i64,
    /// HTTP method.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string with secret-looking parameters redacted; empty when none.
    pub query: String,
    /// Status answered (0 when the connection was reset, or the client went away before the
    /// answer was ready: its request is still logged).
    pub status: u16,
    /// User name of the authenticated caller, if any.
    pub identity: Option<String>,
    /// Injected fault, if any (`status`, `rate_limit`, `reset`, `latency`, `slow_answer`,
    /// `outage`), or `abandoned` when the client went away before the answer.
    pub fault: Option<String>,
}

/// Bounded in-memory request log.
#[derive(Debug, Default)]
pub struct RequestLog {
    inner: Mutex<(u64, VecDeque<RequestRecord>)>,
}

impl RequestLog {
    /// Appends a record, assigning its sequence number.
    pub fn push(&self, mut r: RequestRecord) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        r.seq = g.0;
        if g.1.len() >= LOG_CAPACITY {
            g.1.pop_front();
        }
        g.1.push_back(r);
    }

    /// All records, oldest first.
    pub fn entries(&self) -> Vec<RequestRecord> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1.iter().cloned().collect()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clear();
    }
}

/// Redacts values of query parameters whose names look like credentials.
pub fn redact_query(q: &str) -> String {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let lower = name.to_ascii_lowercase();
            if ["token", "secret", "password", "key", "code"]
                .iter()
                .any(|s| lower.contains(s))
            {
                format!("{name}=REDACTED")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_looking_params() {
        assert_eq!(
            redact_query("path=/a&access_token=abc&page_token=x"),
            "path=/a&access_token=REDACTED&page_token=REDACTED"
        );
    }
}
