//! The outermost middleware: logs every non-admin request (also one the client gave up on)
//! and adds `X-Databricks-Org-Id`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::model::{RequestRecord, redact_query};
use crate::auth::LoggedIdentity;
use crate::faults::AppliedFault;
use crate::world::Shared;

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
