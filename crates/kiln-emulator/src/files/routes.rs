//! The Files API routes: upload, download (with `Range` and `If-Unmodified-Since`),
//! metadata, delete, mkdir -p, list with paging, rmdir.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{VolumeFile, depth, volume_path};
use crate::clock::http_date;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Params, parse_bool};
use crate::principals::Caller;
use crate::world::Shared;

/// Default and largest directory-listing page.
const MAX_PAGE: usize = 1000;

fn already_exists(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "ALREADY_EXISTS", message)
}

fn parent_is_a_file(at: &str, path: &str) -> ApiError {
    already_exists(format!(
        "The parent path {at} of {path} is an existing file."
    ))
}

fn not_found_file(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("The file being accessed is not found: {path}"),
    )
    .with_reason("FILES_API_FILE_NOT_FOUND")
}

fn not_found_dir(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("The directory being accessed is not found: {path}"),
    )
    .with_reason("FILES_API_DIRECTORY_IS_NOT_FOUND")
}

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/api/2.0/fs/files/{*path}",
            get(download).put(upload).delete(delete_file),
        )
        .route(
            "/api/2.0/fs/directories/{*path}",
            get(list).put(mkdir).delete(rmdir),
        )
}

#[derive(Deserialize)]
struct UploadQuery {
    overwrite: Option<String>,
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
    Params(q): Params<UploadQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let path = volume_path(&raw, 4)?;
    let overwrite = parse_bool(q.overwrite.as_deref()).unwrap_or(true);
    let now = shared.now_ms();
    let mut w = shared.world();
    let v = &mut w.volumes;
    if !v.volume_exists(&path) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("The volume of {path} does not exist."),
        ));
    }
    if let Err(at) = v.ancestors_are_dirs(&path) {
        return Err(parent_is_a_file(&at, &path));
    }
    if v.dirs.contains(&path) || v.dir_exists(&path) {
        return Err(already_exists(format!(
            "The file being created points to an existing directory: {path}"
        )));
    }
    if v.files.contains_key(&path) && !overwrite {
        return Err(already_exists(format!(
            "The file being created already exists: {path}"
        )));
    }
    v.files.insert(
        path,
        VolumeFile {
            content: body,
            modified_ms: now,
        },
    );
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Range: bytes=a-b` → inclusive (start, end) within `len`; `Err(())` if unsatisfiable.
fn parse_range(value: &str, len: usize) -> Option<Result<(usize, usize), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if len == 0 {
        return Some(Err(()));
    }
    let r = if a.is_empty() {
        let n: usize = b.parse().ok()?;
        if n == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: usize = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<usize>().ok()?.min(len - 1)
        };
        if start >= len || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(r))
}

async fn download(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let path = volume_path(&raw, 4)?;
    let f = shared
        .world()
        .volumes
        .file(&path)
        .cloned()
        .ok_or_else(|| not_found_file(&path))?;
    if let Some(since) = headers
        .get(header::IF_UNMODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
    {
        let since_ms = since
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        if i128::from(f.modified_ms / 1000 * 1000) > i128::try_from(since_ms).unwrap_or(i128::MAX) {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "FAILED_PRECONDITION",
                format!("The file {path} was modified after the If-Unmodified-Since date."),
            ));
        }
    }
    let len = f.content.len();
    let mut status = StatusCode::OK;
    let mut body = f.content.clone();
    let mut content_range = None;
    if let Some(r) = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_range(v, len))
    {
        match r {
            Ok((s, e)) => {
                status = StatusCode::PARTIAL_CONTENT;
                body = f.content.slice(s..=e);
                content_range = Some(format!("bytes {s}-{e}/{len}"));
            }
            Err(()) => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                )
                    .into_response());
            }
        }
    }
    let mut resp = (status, body.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&http_date(f.modified_ms)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(cr) = content_range.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.insert(header::CONTENT_RANGE, cr);
    }
    Ok(resp)
}

async fn delete_file(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let path = volume_path(&raw, 4)?;
    let removed = shared.world().volumes.files.remove(&path);
    match removed {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(not_found_file(&path)),
    }
}

async fn mkdir(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let path = volume_path(&raw, 3)?;
    let mut w = shared.world();
    let v = &mut w.volumes;
    if !v.volume_exists(&path) {
        return Err(not_found_dir(&path));
    }
    if v.files.contains_key(&path) {
        return Err(already_exists(format!(
            "The directory being created points to an existing file: {path}"
        )));
    }
    if let Err(at) = v.ancestors_are_dirs(&path) {
        return Err(parent_is_a_file(&at, &path));
    }
    if depth(&path) > 3 {
        v.dirs.insert(path);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    page_size: Option<usize>,
    page_token: Option<String>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let path = volume_path(&raw, 3)?;
    let children = {
        let w = shared.world();
        if !w.volumes.dir_exists(&path) {
            return Err(not_found_dir(&path));
        }
        w.volumes.children(&path)
    };
    let size = q
        .page_size
        .filter(|n| *n > 0)
        .unwrap_or(MAX_PAGE)
        .min(MAX_PAGE);
    let after = match q.page_token.filter(|t| !t.is_empty()) {
        Some(t) => Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("Invalid page_token"))?,
        ),
        None => None,
    };
    let rest: Vec<_> = children
        .into_iter()
        .filter(|(name, _)| after.as_ref().is_none_or(|a| name > a))
        .collect();
    let more = rest.len() > size;
    let page = &rest[..rest.len().min(size)];
    let contents: Vec<Value> = page
        .iter()
        .map(|(name, f)| match f {
            Some(f) => {
                json!({"path": format!("{path}/{name}"), "name": name, "is_directory": false,
                               "file_size": f.content.len(), "last_modified": f.modified_ms})
            }
            None => json!({"path": format!("{path}/{name}/"), "name": name, "is_directory": true}),
        })
        .collect();
    let mut body = json!({});
    if !contents.is_empty() {
        body["contents"] = json!(contents);
    }
    if more && let Some((last, _)) = page.last() {
        body["next_page_token"] =
            json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last));
    }
    Ok(Json(body))
}

async fn rmdir(
    State(shared): State<Arc<Shared>>,
    Extension(_caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let path = volume_path(&raw, 3)?;
    let mut w = shared.world();
    let v = &mut w.volumes;
    if !v.dir_exists(&path) {
        return Err(not_found_dir(&path));
    }
    if !v.children(&path).is_empty() {
        return Err(
            ApiError::invalid(format!("The directory being deleted is not empty: {path}"))
                .with_reason("FILES_API_DIRECTORY_IS_NOT_EMPTY"),
        );
    }
    if depth(&path) == 3 {
        return Err(ApiError::permission_denied(format!(
            "Cannot delete the volume root {path} with the Files API."
        )));
    }
    v.dirs.remove(&path);
    Ok(StatusCode::NO_CONTENT.into_response())
}
