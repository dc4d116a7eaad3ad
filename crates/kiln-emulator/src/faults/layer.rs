//! The fault-injection middleware: applies the first rule a request matches (admin paths are
//! never faulted) and marks the response with the fault for the request log.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::model::{AppliedFault, Hit};
use crate::net::ConnInfo;
use crate::world::Shared;

/// Middleware: applies the first matching rule (admin paths are never faulted).
pub async fn layer(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/__emulator") {
        return next.run(req).await;
    }
    let hit = shared
        .faults
        .take(req.method().as_str(), &path, shared.now_ms());
    match hit {
        None => next.run(req).await,
        Some(Hit::Latency(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let mut resp = next.run(req).await;
            resp.extensions_mut().insert(AppliedFault("latency"));
            resp
        }
        Some(Hit::SlowAnswer(ms)) => {
            let mut resp = next.run(req).await;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            resp.extensions_mut().insert(AppliedFault("slow_answer"));
            resp
        }
        Some(Hit::Respond(err, label)) => {
            let mut resp = err.into_response();
            resp.extensions_mut().insert(AppliedFault(label));
            resp
        }
        Some(Hit::Reset) => {
            if let Some(ConnectInfo(ci)) = req.extensions().get::<ConnectInfo<ConnInfo>>() {
                ci.handle.reset();
            }
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(AppliedFault("reset"));
            resp
        }
    }
}
