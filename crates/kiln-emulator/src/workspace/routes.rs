//! Workspace API routes: mkdirs, get-status, list, delete, import (JSON and multipart),
//! export (JSON and `direct_download`), and raw `workspace-files/import-file`. Permissions:
//! a principal writes under its own `/Users/<name>` and under `/Shared`; other users' homes
//! are unreadable; admins may do anything.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::{can_read, can_write};
use super::notebook::{self, Language};
use super::tree::{Kind, MAX_IMPORT_BYTES, missing, normalize, object_info};
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, Params, parse_bool};
use crate::principals::Caller;
use crate::world::Shared;

/// Routes of this module.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/2.0/workspace/mkdirs", post(mkdirs))
        .route("/api/2.0/workspace/get-status", get(get_status))
        .route("/api/2.0/workspace/list", get(list))
        .route("/api/2.0/workspace/delete", post(delete))
        .route("/api/2.0/workspace/import", post(import))
        .route("/api/2.0/workspace/export", get(export))
        .route(
            "/api/2.0/workspace-files/import-file/{*path}",
            // The size rule is the setting's, not the server-wide body limit.
            post(import_file).layer(DefaultBodyLimit::disable()),
        )
}

fn denied(caller: &Caller, shown: &str, what: &str) -> ApiError {
    ApiError::permission_denied(format!(
        "{} does not have {what} permissions on {shown}. Please contact the owner or an administrator for access.",
        caller.user_name
    ))
}

fn check_read(caller: &Caller, path: &str, shown: &str) -> ApiResult<()> {
    if can_read(caller, path) {
        Ok(())
    } else {
        Err(denied(caller, shown, "Read"))
    }
}

fn check_write(caller: &Caller, path: &str, shown: &str) -> ApiResult<()> {
    if can_write(caller, path) {
        Ok(())
    } else {
        Err(denied(caller, shown, "Manage"))
    }
}

fn required(path: Option<String>) -> ApiResult<String> {
    path.filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::invalid("Missing required field: path"))
}

#[derive(Deserialize)]
struct PathBody {
    path: Option<String>,
    #[serde(default)]
    recursive: bool,
}

async fn mkdirs(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<PathBody>,
) -> ApiResult<Json<Value>> {
    let shown = required(body.path)?;
    let path = normalize(&shown)?;
    let now = shared.now_ms();
    let mut w = shared.world();
    let exists_as_dir = w.tree.get(&path).is_some_and(|n| n.is_dir());
    if !exists_as_dir {
        check_write(&caller, &path, &shown)?;
    }
    w.tree.mkdirs(&path, now)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct StatusQuery {
    path: Option<String>,
    return_export_info: Option<String>,
}

async fn get_status(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let shown = required(q.path)?;
    let path = normalize(&shown)?;
    let w = shared.world();
    check_read(&caller, &path, &shown)?;
    let node = w.tree.get(&path).ok_or_else(|| missing(&shown))?;
    let export = parse_bool(q.return_export_info.as_deref()).unwrap_or(false);
    Ok(Json(object_info(&path, node, export)))
}

#[derive(Deserialize)]
struct ListQuery {
    path: Option<String>,
    notebooks_modified_after: Option<i64>,
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ListQuery>,
) -> ApiResult<Json<Value>> {
    let shown = required(q.path)?;
    let path = normalize(&shown)?;
    let w = shared.world();
    check_read(&caller, &path, &shown)?;
    let node = w.tree.get(&path).ok_or_else(|| missing(&shown))?;
    if !node.is_dir() {
        return Ok(Json(
            json!({ "objects": [object_info(&path, node, false)] }),
        ));
    }
    let after = q.notebooks_modified_after.unwrap_or(i64::MIN);
    let objects: Vec<Value> = w
        .tree
        .children(&path)
        .into_iter()
        .filter(|(k, _)| can_read(&caller, k))
        .filter(|(_, n)| !matches!(n.kind, Kind::Notebook { .. }) || n.modified_ms > after)
        .map(|(k, n)| object_info(k, n, false))
        .collect();
    if objects.is_empty() {
        return Ok(Json(json!({})));
    }
    Ok(Json(json!({ "objects": objects })))
}

async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<PathBody>,
) -> ApiResult<Json<Value>> {
    let shown = required(body.path)?;
    let path = normalize(&shown)?;
    let mut w = shared.world();
    if w.tree.get(&path).is_none() && can_read(&caller, &path) {
        return Err(missing(&shown));
    }
    check_write(&caller, &path, &shown)?;
    let protected = path == "/"
        || path == "/Users"
        || path == "/Shared"
        || path == "/Repos"
        || (path.starts_with("/Users/") && path.matches('/').count() == 2);
    if protected {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "DIRECTORY_PROTECTED",
            format!("Folder ({shown}) is protected and cannot be deleted."),
        ));
    }
    w.tree.delete(&path, &shown, body.recursive)?;
    Ok(Json(json!({})))
}

/// An import request after decoding JSON or multipart.
struct ImportRequest {
    path: String,
    format: String,
    language: Option<String>,
    overwrite: bool,
    content: Bytes,
}

#[derive(Deserialize)]
struct ImportJson {
    path: Option<String>,
    content: Option<String>,
    format: Option<String>,
    language: Option<String>,
    #[serde(default)]
    overwrite: bool,
}

async fn read_import(req: Request) -> ApiResult<ImportRequest> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        let JsonBody(b) = JsonBody::<ImportJson>::from_request(req, &()).await?;
        let content = match b.content {
            Some(c) => base64::engine::general_purpose::STANDARD
                .decode(c.trim())
                .map_err(|_| ApiError::invalid("The content must be base64-encoded."))?,
            None => Vec::new(),
        };
        return Ok(ImportRequest {
            path: required(b.path)?,
            format: b.format.unwrap_or_else(|| "SOURCE".into()),
            language: b.language,
            overwrite: b.overwrite,
            content: Bytes::from(content),
        });
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::malformed(format!("Invalid multipart body: {}", e.body_text())))?;
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut content = Bytes::new();
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| ApiError::malformed(format!("Invalid multipart body: {}", e.body_text())))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let data = field.bytes().await.map_err(|e| {
            ApiError::malformed(format!("Invalid multipart body: {}", e.body_text()))
        })?;
        if name == "content" {
            content = data;
        } else {
            fields.insert(name, String::from_utf8_lossy(&data).into_owned());
        }
    }
    Ok(ImportRequest {
        path: required(fields.remove("path"))?,
        format: fields.remove("format").unwrap_or_else(|| "SOURCE".into()),
        language: fields.remove("language"),
        overwrite: parse_bool(fields.get("overwrite").map(String::as_str)).unwrap_or(false),
        content,
    })
}

async fn import(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let r = read_import(req).await?;
    let path = normalize(&r.path)?;
    if r.content.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MAX_NOTEBOOK_SIZE_EXCEEDED",
            format!(
                "File size imported is ({} bytes), exceeded max size ({MAX_IMPORT_BYTES} bytes)",
                r.content.len()
            ),
        ));
    }
    let language = match r.language.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => Some(
            Language::parse(l)
                .ok_or_else(|| ApiError::invalid(format!("Unknown language: {l}")))?,
        ),
        None => None,
    };
    let (target, kind) = match r.format.to_ascii_uppercase().as_str() {
        "SOURCE" => {
            let lang = language.ok_or_else(|| {
                ApiError::invalid("The language parameter is required when the format is SOURCE.")
            })?;
            (
                path.clone(),
                Kind::Notebook {
                    language: lang,
                    jupyter: false,
                },
            )
        }
        "AUTO" => match notebook::detect(&path, &r.content) {
            Some((stem, lang, jupyter)) => (
                stem,
                Kind::Notebook {
                    language: lang,
                    jupyter,
                },
            ),
            None => (path.clone(), Kind::File),
        },
        "RAW" => (path.clone(), Kind::File),
        "JUPYTER" => {
            let stem = path.strip_suffix(".ipynb").unwrap_or(&path).to_string();
            (
                stem,
                Kind::Notebook {
                    language: language.unwrap_or(Language::Python),
                    jupyter: true,
                },
            )
        }
        "HTML" | "R_MARKDOWN" => (
            path.clone(),
            Kind::Notebook {
                language: language.unwrap_or(Language::R),
                jupyter: false,
            },
        ),
        "DBC" => {
            return Err(ApiError::invalid(
                "The DBC import format is not supported by this workspace.",
            ));
        }
        other => return Err(ApiError::invalid(format!("Unknown import format: {other}"))),
    };
    let now = shared.now_ms();
    let mut w = shared.world();
    check_write(&caller, &target, &r.path)?;
    w.tree.check_parent(&target)?;
    if let Some(existing) = w.tree.get(&target)
        && (existing.is_dir() || !r.overwrite)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "RESOURCE_ALREADY_EXISTS",
            format!("Path ({target}) already exists."),
        ));
    }
    w.tree.put(&target, kind, r.content, now);
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ExportQuery {
    path: Option<String>,
    format: Option<String>,
    direct_download: Option<String>,
}

async fn export(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Params(q): Params<ExportQuery>,
) -> ApiResult<Response> {
    let shown = required(q.path)?;
    let path = normalize(&shown)?;
    let format = q
        .format
        .unwrap_or_else(|| "SOURCE".into())
        .to_ascii_uppercase();
    let direct = parse_bool(q.direct_download.as_deref()).unwrap_or(false);
    let node = {
        let w = shared.world();
        check_read(&caller, &path, &shown)?;
        w.tree.get(&path).cloned().ok_or_else(|| missing(&shown))?
    };
    let (bytes, file_type) = match &node.kind {
        Kind::Directory => {
            return Err(ApiError::invalid(format!(
                "Cannot export a directory ({shown}) in {format} format."
            )));
        }
        Kind::File => (node.content.to_vec(), String::new()),
        Kind::Notebook { language, jupyter } => {
            let out = match format.as_str() {
                "JUPYTER" => (
                    notebook::to_jupyter(*language, *jupyter, &node.content),
                    "ipynb".into(),
                ),
                "SOURCE" | "AUTO" | "RAW" => (
                    notebook::to_source(*language, *jupyter, &node.content),
                    language.extension().to_string(),
                ),
                "HTML" => (
                    format!(
                        "<!DOCTYPE html><html><body><pre>{}</pre></body></html>",
                        String::from_utf8_lossy(&notebook::to_source(
                            *language,
                            *jupyter,
                            &node.content
                        ))
                    )
                    .into_bytes(),
                    "html".into(),
                ),
                other => {
                    return Err(ApiError::invalid(format!(
                        "Unsupported export format: {other}"
                    )));
                }
            };
            if out.0.len() > MAX_IMPORT_BYTES {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "MAX_NOTEBOOK_SIZE_EXCEEDED",
                    format!("Notebook ({shown}) is too large to export."),
                ));
            }
            out
        }
    };
    if direct {
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MAX_READ_SIZE_EXCEEDED",
            format!(
                "Size exceeds the export limit of {MAX_IMPORT_BYTES} bytes; use direct_download."
            ),
        ));
    }
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let mut body = json!({ "content": content });
    if !file_type.is_empty() {
        body["file_type"] = json!(file_type);
    }
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct ImportFileQuery {
    overwrite: Option<String>,
}

async fn import_file(
    State(shared): State<Arc<Shared>>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Params(q): Params<ImportFileQuery>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let shown = format!("/{}", raw.trim_start_matches('/'));
    let path = normalize(&shown)?;
    let overwrite = parse_bool(q.overwrite.as_deref()).unwrap_or(false);
    let limit = shared.world().settings.max_workspace_file_bytes;
    if body.len() as u64 > limit {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MAX_FILE_SIZE_EXCEEDED",
            format!(
                "File size ({} bytes) exceeds the maximum allowed size ({limit} bytes).",
                body.len()
            ),
        ));
    }
    let (target, kind) = match notebook::detect(&path, &body) {
        Some((stem, language, jupyter)) => (stem, Kind::Notebook { language, jupyter }),
        None => (path.clone(), Kind::File),
    };
    let now = shared.now_ms();
    let mut w = shared.world();
    check_write(&caller, &target, &shown)?;
    w.tree.check_parent(&target)?;
    if let Some(existing) = w.tree.get(&target) {
        match (&existing.kind, &kind) {
            (Kind::Directory, _) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "RESOURCE_ALREADY_EXISTS",
                    format!("Path ({target}) already exists."),
                ));
            }
            (Kind::Notebook { .. }, Kind::Notebook { .. }) if overwrite => {}
            (Kind::Notebook { .. }, _) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "",
                    format!("Path ({target}) already exists."),
                ));
            }
            (Kind::File, _) if overwrite => {}
            (Kind::File, _) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "RESOURCE_ALREADY_EXISTS",
                    format!("{target} already exists."),
                ));
            }
        }
    }
    w.tree.put(&target, kind, body, now);
    Ok(Json(json!({})))
}
