//! The fault rules and which one a request meets (`Faults::take`).

use std::sync::Mutex;

use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Code};

/// Marker on responses that a fault shaped (for the request log).
#[derive(Debug, Clone, Copy)]
pub struct AppliedFault(pub &'static str);

/// What a fault does.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and a Databricks error body.
    Status {
        /// HTTP status.
        status: u16,
        /// `error_code` (default derived from the status).
        #[serde(default)]
        error_code: Option<String>,
        /// `message` (default "Injected fault").
        #[serde(default)]
        message: Option<String>,
    },
    /// 429 `REQUEST_LIMIT_EXCEEDED` with `Retry-After: <secs>`.
    RateLimit {
        /// Seconds in `Retry-After`.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// Reset the TCP connection without answering.
    Reset,
    /// Delay the request (real time), then serve it normally.
    Latency {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Serve the request (its effects happen), then hold the answer back (real time): the
    /// server did the work but the client may give up before it learns the result.
    SlowAnswer {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// 503 `TEMPORARILY_UNAVAILABLE` while the emulator clock is inside the window that
    /// starts `start_in_secs` after the rule is added and lasts `duration_secs`.
    Outage {
        /// Offset of the window's start from when the rule is added (clock seconds).
        #[serde(default)]
        start_in_secs: u64,
        /// Window length (clock seconds).
        duration_secs: u64,
    },
}

fn one() -> u64 {
    1
}

/// A fault rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    /// Only this HTTP method (any when `None`).
    #[serde(default)]
    pub method: Option<String>,
    /// Exact path, or a prefix when it ends with `*` (`/api/2.0/workspace/*`).
    pub path: String,
    /// Apply to this many matching requests, then stop (always when `None`).
    #[serde(default)]
    pub times: Option<u32>,
    /// What to do.
    #[serde(flatten)]
    pub action: FaultAction,
}

impl Fault {
    /// A rule for `path` (exact, or prefix ending in `*`), any method, unlimited times.
    pub fn new(path: impl Into<String>, action: FaultAction) -> Self {
        Self {
            method: None,
            path: path.into(),
            times: None,
            action,
        }
    }

    /// Restricts the rule to one method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Applies the rule to the first `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(m) = &self.method
            && !m.eq_ignore_ascii_case(method)
        {
            return false;
        }
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        }
    }
}

#[derive(Debug)]
struct Rule {
    id: u64,
    fault: Fault,
    remaining: Option<u32>,
    window: Option<(i64, i64)>,
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<(u64, Vec<Rule>)>,
}

pub(super) enum Hit {
    Latency(u64),
    SlowAnswer(u64),
    Respond(ApiError, &'static str),
    Reset,
}

impl Faults {
    /// Installs a rule; returns its id.
    pub fn add(&self, fault: Fault, now_ms: i64) -> u64 {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let id = g.0;
        let window = match &fault.action {
            FaultAction::Outage {
                start_in_secs,
                duration_secs,
            } => {
                let start = now_ms + secs(*start_in_secs);
                Some((start, start + secs(*duration_secs)))
            }
            _ => None,
        };
        let remaining = fault.times;
        g.1.push(Rule {
            id,
            fault,
            remaining,
            window,
        });
        id
    }

    /// Removes one rule; returns whether it existed.
    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let before = g.1.len();
        g.1.retain(|r| r.id != id);
        g.1.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clear();
    }

    /// The installed rules with their ids and remaining counts.
    pub fn list(&self) -> Vec<(u64, Fault, Option<u32>)> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1.iter()
            .map(|r| (r.id, r.fault.clone(), r.remaining))
            .collect()
    }

    pub(super) fn take(&self, method: &str, path: &str, now: i64) -> Option<Hit> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let rule = g.1.iter_mut().find(|r| {
            r.remaining != Some(0)
                && r.fault.matches(method, path)
                && r.window.is_none_or(|(a, b)| now >= a && now < b)
        })?;
        if let Some(n) = rule.remaining.as_mut() {
            *n -= 1;
        }
        Some(match &rule.fault.action {
            FaultAction::Latency { millis } => Hit::Latency(*millis),
            FaultAction::SlowAnswer { millis } => Hit::SlowAnswer(*millis),
            FaultAction::Reset => Hit::Reset,
            FaultAction::RateLimit { retry_after_secs } => Hit::Respond(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "REQUEST_LIMIT_EXCEEDED",
                    "Too many requests. Please wait a moment and try again.",
                )
                .with_header(header::RETRY_AFTER, retry_after_secs.to_string()),
                "rate_limit",
            ),
            FaultAction::Outage { .. } => Hit::Respond(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TEMPORARILY_UNAVAILABLE",
                    "The service is temporarily unavailable. Please try again later.",
                ),
                "outage",
            ),
            FaultAction::Status {
                status,
                error_code,
                message,
            } => {
                let st = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut e = ApiError::new(
                    st,
                    default_code(st),
                    message.clone().unwrap_or_else(|| "Injected fault".into()),
                );
                if let Some(c) = error_code {
                    e.code = Code::Custom(c.clone());
                }
                Hit::Respond(e, "status")
            }
        })
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX / 4)
}

fn default_code(s: StatusCode) -> &'static str {
    match s.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "RESOURCE_CONFLICT",
        429 => "REQUEST_LIMIT_EXCEEDED",
        501 => "NOT_IMPLEMENTED",
        503 => "TEMPORARILY_UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL_ERROR",
    }
}
