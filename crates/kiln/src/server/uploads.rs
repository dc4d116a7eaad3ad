//! `POST /api/uploads?name=…`: saves the raw body into `~/uploads` under a sanitised, unique name
//! (never outside that directory, never over an existing file), streaming, with a size limit; a
//! failed or oversized upload leaves no file behind. File system calls (create, write, fsync,
//! remove) run on tokio's blocking pool, never on the async workers.

use super::AppState;
use crate::http::error::AppError;
use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Longest file name kept (characters).
const MAX_NAME_CHARS: usize = 120;

#[derive(Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
}

/// A safe file name from whatever the client sent.
pub fn sanitise(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim().trim_start_matches(['.', ' ', '-']);
    let short: String = trimmed.chars().take(MAX_NAME_CHARS).collect();
    if short.is_empty() {
        "upload".to_owned()
    } else {
        short
    }
}

/// `name`, then `stem-1.ext`, `stem-2.ext`, … created with O_EXCL.
fn create_unique(dir: &Path, name: &str) -> std::io::Result<(PathBuf, std::fs::File)> {
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
        _ => (name.to_owned(), String::new()),
    };
    for n in 0..10_000 {
        let candidate = if n == 0 {
            name.to_owned()
        } else {
            format!("{stem}-{n}{ext}")
        };
        let path = dir.join(candidate);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many files with that name"))
}

pub async fn upload(
    State(st): State<AppState>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<(StatusCode, Json<serde_json::Value>), AppError> {
    let name = sanitise(q.name.as_deref().unwrap_or(""));
    let dir = st.uploads_dir.clone();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| AppError::internal("could not create the uploads directory", e))?;
    let (path, file) = tokio::task::spawn_blocking(move || create_unique(&dir, &name))
        .await
        .map_err(|e| AppError::internal("could not create the file", e))?
        .map_err(|e| AppError::internal("could not create the file", e))?;
    let mut file = tokio::fs::File::from_std(file);
    let limit = st.upload_limit;
    let mut size = 0usize;
    let mut stream = body.into_data_stream();
    let result: Result<(), AppError> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| AppError::bad_request(format!("the upload was interrupted: {e}")))?;
            size += chunk.len();
            if size > limit {
                return Err(AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the file is larger than the upload limit of {} MiB",
                        limit >> 20
                    ),
                ));
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| AppError::internal("could not write the file", e))?;
        }
        file.flush()
            .await
            .map_err(|e| AppError::internal("could not write the file", e))?;
        file.sync_all()
            .await
            .map_err(|e| AppError::internal("could not write the file", e))
    }
    .await;
    if let Err(e) = result {
        drop(file);
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    tracing::info!(path = %path.display(), size, "upload saved");
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"path": path, "size": size})),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitise("../../etc/passwd"), "passwd");
        assert_eq!(sanitise("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitise(""), "upload");
        assert_eq!(sanitise(".."), "upload");
        assert_eq!(sanitise(".bashrc"), "bashrc");
        assert_eq!(sanitise("a\nb\u{0}c.txt"), "abc.txt");
        assert_eq!(sanitise("-rf"), "rf");
        assert_eq!(sanitise("my report (final).pdf"), "my report (final).pdf");
        assert_eq!(
            sanitise(&"x".repeat(10_000)).chars().count(),
            MAX_NAME_CHARS
        );
    }

    #[test]
    fn unique_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = create_unique(dir.path(), "f.txt").unwrap();
        let (b, _) = create_unique(dir.path(), "f.txt").unwrap();
        let (c, _) = create_unique(dir.path(), "noext").unwrap();
        let (d, _) = create_unique(dir.path(), "noext").unwrap();
        assert_eq!(a.file_name().unwrap(), "f.txt");
        assert_eq!(b.file_name().unwrap(), "f-1.txt");
        assert_eq!(c.file_name().unwrap(), "noext");
        assert_eq!(d.file_name().unwrap(), "noext-1");
    }
}
