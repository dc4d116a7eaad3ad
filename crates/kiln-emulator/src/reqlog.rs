//! The request log: method, path, redacted query, status, identity and any injected fault of
//! every API request (admin requests excluded), in emulator-clock time. Token values never
//! appear: identities are user names and query parameters that look like secrets are
//! redacted. Also the outermost middleware, which adds `X-Databricks-Org-Id`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::auth::LoggedIdentity;
use crate::faults::AppliedFault;
use crate::world::Shared;

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

/// Middleware: logs every non-admin request and adds `X-Databricks-Org-Id`.
pub async fn layer(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = redact_query(req.uri().query().unwrap_or_default());
    let time_ms = shared.now_ms();
    let admin = path.starts_with("/__emulator");
    // A client that gives up (a timeout) drops this future: the guard still logs the request.
    let mut pending = (!admin).then(|| Abandoned {
        shared: shared.clone(),
        record: Some(RequestRecord {
            seq: 0,
            time_ms,
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status: 0,
            identity: None,
            fault: Some("abandoned".into()),
        }),
    });
    let mut resp = next.run(req).await;
    if let Some(p) = pending.as_mut() {
        p.record = None;
    }
    if let Ok(v) = HeaderValue::from_str(&shared.workspace_id.to_string()) {
        resp.headers_mut().insert("x-databricks-org-id", v);
    }
    if admin {
        return resp;
    }
    let identity = resp
        .extensions()
        .get::<LoggedIdentity>()
        .map(|i| i.0.clone());
    let fault = resp
        .extensions()
        .get::<AppliedFault>()
        .map(|f| f.0.to_string());
    let status = if fault.as_deref() == Some("reset") {
        0
    } else {
        resp.status().as_u16()
    };
    tracing::info!(%method, %path, status, identity = identity.as_deref().unwrap_or("-"), fault = fault.as_deref().unwrap_or("-"), "request");
    shared.log.push(RequestRecord {
        seq: 0,
        time_ms,
        method,
        path,
        query,
        status,
        identity,
        fault,
    });
    resp
}

/// Logs a request whose answer was never produced (the client went away first).
struct Abandoned {
    shared: Arc<Shared>,
    record: Option<RequestRecord>,
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            tracing::info!(method = %r.method, path = %r.path, "request abandoned by the client");
            self.shared.log.push(r);
        }
    }
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
