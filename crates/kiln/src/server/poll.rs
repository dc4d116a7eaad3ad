//! The HTTP long-poll fallback of `docs/protocol.md`, on the same offsets as the WebSocket, so a
//! client can switch transports at any byte without loss or repetition.

use super::AppState;
use super::sessions::ExitView;
use super::ws::parse_offset;
use crate::http::error::{ApiJson, AppError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kiln_term::{ReadResult, Session, SessionError};
use serde::Deserialize;
use std::time::Duration;

/// Most bytes in one long-poll answer (1 MiB).
const POLL_MAX_BYTES: usize = 1 << 20;
/// Longest wait a client may ask for (30 s) and the default (25 s).
const MAX_WAIT_SECS: u64 = 30;
const DEFAULT_WAIT_SECS: u64 = 25;

#[derive(Deserialize)]
pub struct OutputQuery {
    offset: Option<String>,
    wait: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    cols: u16,
    rows: u16,
}

fn session(st: &AppState, id: &str) -> Result<std::sync::Arc<Session>, AppError> {
    st.manager
        .get(id)
        .ok_or_else(|| AppError::not_found("session"))
}

fn headers(session: &Session, pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(*k, v);
        }
    }
    if let Some(e) = session.exit_status() {
        let e = ExitView::from(e);
        if let Ok(v) = HeaderValue::from_str(
            &serde_json::json!({"code": e.code, "signal": e.signal}).to_string(),
        ) {
            h.insert("x-kiln-exit", v);
        }
    }
    h
}

fn snapshot(session: &Session) -> Response {
    let snap = session.snapshot();
    let h = headers(
        session,
        &[
            ("x-kiln-snapshot", "1".into()),
            ("x-kiln-next-offset", snap.offset.to_string()),
        ],
    );
    (StatusCode::OK, h, snap.bytes).into_response()
}

pub async fn output(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<OutputQuery>,
) -> Result<Response, AppError> {
    let s = session(&st, &id)?;
    let offset = parse_offset(q.offset.as_deref())?;
    let wait = match q.wait.as_deref() {
        None | Some("") => DEFAULT_WAIT_SECS,
        Some(w) => match w.parse::<u64>() {
            Ok(n) if n <= MAX_WAIT_SECS => n,
            _ => {
                return Err(AppError::bad_request(format!(
                    "wait must be 0..={MAX_WAIT_SECS} seconds"
                )));
            }
        },
    };
    let Some(off) = offset else {
        return Ok(snapshot(&s));
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        match s.read(off, POLL_MAX_BYTES) {
            ReadResult::Data { bytes, .. } => {
                let next = off + bytes.len() as u64;
                let h = headers(
                    &s,
                    &[
                        ("x-kiln-offset", off.to_string()),
                        ("x-kiln-next-offset", next.to_string()),
                    ],
                );
                return Ok((StatusCode::OK, h, bytes).into_response());
            }
            ReadResult::Evicted { .. } => return Ok(snapshot(&s)),
            ReadResult::Invalid { end } => {
                return Err(AppError::bad_request(format!(
                    "offset {off} is beyond the end of the stream ({end})"
                )));
            }
            ReadResult::Pending => {
                let pairs = [
                    ("x-kiln-offset", off.to_string()),
                    ("x-kiln-next-offset", off.to_string()),
                ];
                if s.exit_status().is_some() {
                    return Ok((StatusCode::OK, headers(&s, &pairs), Bytes::new()).into_response());
                }
                if s.is_closed() {
                    return Err(AppError::not_found("session"));
                }
                // A waiting long-poll is a viewer like a WebSocket (counted in `viewers`), and
                // a server shutdown ends the wait at once, so a clean stop is never held up.
                let _viewer = s.attach();
                tokio::select! {
                    _ = s.changed(off) => {}
                    _ = tokio::time::sleep_until(deadline) => {
                        return Ok((StatusCode::NO_CONTENT, headers(&s, &pairs)).into_response());
                    }
                    _ = st.shutdown.cancelled() => {
                        return Err(AppError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is shutting down"));
                    }
                }
            }
        }
    }
}

fn session_error(e: SessionError) -> AppError {
    match e {
        SessionError::Exited => AppError::new(StatusCode::CONFLICT, "the session has exited"),
        SessionError::Invalid(m) => AppError::bad_request(m),
        SessionError::Io(e) => AppError::internal("terminal I/O failed", e),
    }
}

/// Queues the body whole (it is at most the input queue's size), waiting for room up to the
/// server's `input_wait`; a shell that does not read by then gets `503` with nothing written, so
/// the client can send the same bytes again.
pub async fn input(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let s = session(&st, &id)?;
    match tokio::time::timeout(st.input_wait, s.write(body)).await {
        Ok(done) => done.map_err(session_error)?,
        Err(_) => {
            return Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the shell is not reading its input (its input queue is full); nothing of this \
                 request was written: send it again later",
            ));
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(r): ApiJson<Resize>,
) -> Result<StatusCode, AppError> {
    let s = session(&st, &id)?;
    s.resize(r.cols, r.rows).map_err(session_error)?;
    Ok(StatusCode::NO_CONTENT)
}
