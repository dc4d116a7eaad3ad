//! The session REST API: create, list, get, rename, delete.

use super::AppState;
use crate::http::error::{ApiJson, AppError};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kiln_term::{ExitStatus, SessionInfo, SpawnError, SpawnRequest};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    cols: u16,
    rows: u16,
    label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    label: String,
}

/// The session object of the protocol.
#[derive(Serialize)]
pub struct SessionView {
    id: String,
    label: String,
    created_at: String,
    cols: u16,
    rows: u16,
    pid: u32,
    foreground: Option<String>,
    idle_seconds: u64,
    viewers: usize,
    offset: u64,
    input_queued: usize,
    exit: Option<ExitView>,
}

/// How a session ended.
#[derive(Serialize, Clone, Copy)]
pub struct ExitView {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl From<ExitStatus> for ExitView {
    fn from(e: ExitStatus) -> Self {
        Self {
            code: e.code,
            signal: e.signal,
        }
    }
}

impl From<SessionInfo> for SessionView {
    fn from(i: SessionInfo) -> Self {
        Self {
            id: i.id,
            label: i.label,
            created_at: crate::time::rfc3339(i.created_at),
            cols: i.cols,
            rows: i.rows,
            pid: i.pid,
            foreground: i.foreground,
            idle_seconds: i.idle.as_secs(),
            viewers: i.viewers,
            offset: i.offset,
            input_queued: i.input_queued,
            exit: i.exit.map(Into::into),
        }
    }
}

pub async fn create(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<CreateSession>,
) -> Result<Response, AppError> {
    let spawn = SpawnRequest {
        cols: req.cols,
        rows: req.rows,
        label: req.label,
        command: st.command.clone(),
    };
    match st.manager.spawn(spawn) {
        Ok(s) => Ok((StatusCode::CREATED, Json(SessionView::from(s.info()))).into_response()),
        Err(SpawnError::Invalid(m)) => Err(AppError::bad_request(m)),
        Err(SpawnError::Capacity(m)) => Err(AppError::new(StatusCode::TOO_MANY_REQUESTS, m)),
        Err(SpawnError::Io(e)) => Err(AppError::internal("could not start a shell", e)),
    }
}

pub async fn list(State(st): State<AppState>) -> Json<serde_json::Value> {
    let sessions: Vec<SessionView> = st.manager.list().into_iter().map(Into::into).collect();
    Json(serde_json::json!({ "sessions": sessions }))
}

pub async fn get(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, AppError> {
    let s = st
        .manager
        .get(&id)
        .ok_or_else(|| AppError::not_found("session"))?;
    Ok(Json(s.info().into()))
}

pub async fn rename(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Rename>,
) -> Result<Json<SessionView>, AppError> {
    let s = st
        .manager
        .get(&id)
        .ok_or_else(|| AppError::not_found("session"))?;
    s.set_label(&req.label)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok(Json(s.info().into()))
}

pub async fn delete(State(st): State<AppState>, Path(id): Path<String>) -> StatusCode {
    st.manager.remove(&id);
    StatusCode::NO_CONTENT
}
