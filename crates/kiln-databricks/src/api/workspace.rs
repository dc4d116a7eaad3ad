//! The Workspace tree: mkdirs, get-status, list, delete, export, import (JSON) and the raw
//! `workspace-files/import-file` upload (`/api/2.0/workspace/...`).

use super::is_none;
use crate::Client;
use crate::error::{Error, Result};
use crate::http::{Request, encode_path};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Kind of workspace object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObjectType {
    /// Directory.
    Directory,
    /// Plain file.
    File,
    /// Notebook.
    Notebook,
    /// Git folder.
    Repo,
    /// Library.
    Library,
    /// Dashboard.
    Dashboard,
    /// A kind this client does not know.
    #[serde(other)]
    Unknown,
}

/// A workspace object.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ObjectInfo {
    /// Absolute path.
    #[serde(default)]
    pub path: String,
    /// Kind.
    pub object_type: Option<ObjectType>,
    /// Object id.
    #[serde(default)]
    pub object_id: Option<i64>,
    /// Resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Notebook language.
    #[serde(default)]
    pub language: Option<String>,
    /// Creation time, epoch ms (files).
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Modification time, epoch ms (files).
    #[serde(default)]
    pub modified_at: Option<i64>,
    /// Size in bytes (files).
    #[serde(default)]
    pub size: Option<i64>,
}

impl ObjectInfo {
    /// True for directories (and Git folders, which hold files like one).
    pub fn is_directory(&self) -> bool {
        matches!(
            self.object_type,
            Some(ObjectType::Directory | ObjectType::Repo)
        )
    }
}

/// Import / export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Notebook source.
    Source,
    /// File or notebook by extension and header.
    Auto,
    /// Bytes as they are.
    Raw,
    /// HTML.
    Html,
    /// Jupyter.
    Jupyter,
    /// Databricks archive.
    Dbc,
    /// R Markdown.
    RMarkdown,
}

impl Format {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Source => "SOURCE",
            Format::Auto => "AUTO",
            Format::Raw => "RAW",
            Format::Html => "HTML",
            Format::Jupyter => "JUPYTER",
            Format::Dbc => "DBC",
            Format::RMarkdown => "R_MARKDOWN",
        }
    }
}

/// Notebook language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Language {
    /// Python.
    Python,
    /// SQL.
    Sql,
    /// Scala.
    Scala,
    /// R.
    R,
}

/// An exported object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The content, decoded.
    pub content: Vec<u8>,
    /// `file_type` the server reported (e.g. `py`).
    pub file_type: Option<String>,
}

/// A JSON import.
#[derive(Debug, Clone)]
pub struct Import {
    /// Destination path.
    pub path: String,
    /// Content (sent base64-encoded).
    pub content: Bytes,
    /// Format.
    pub format: Format,
    /// Language (needed for `SOURCE` notebooks).
    pub language: Option<Language>,
    /// Replace an existing object.
    pub overwrite: bool,
}

#[derive(Serialize)]
struct ImportBody<'a> {
    path: &'a str,
    content: String,
    format: &'static str,
    #[serde(skip_serializing_if = "is_none")]
    language: Option<Language>,
    overwrite: bool,
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    objects: Vec<ObjectInfo>,
}

#[derive(Deserialize)]
struct ExportBody {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    file_type: Option<String>,
}

/// Workspace calls.
#[derive(Debug, Clone, Copy)]
pub struct WorkspaceApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Workspace (files and notebooks) calls.
    pub fn workspace(&self) -> WorkspaceApi<'_> {
        WorkspaceApi { client: self }
    }
}

impl WorkspaceApi<'_> {
    /// `POST /api/2.0/workspace/mkdirs`: creates a directory and its parents (idempotent).
    pub async fn mkdirs(&self, path: &str) -> Result<()> {
        let req = Request::post("/api/2.0/workspace/mkdirs")
            .json(&serde_json::json!({ "path": path }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `GET /api/2.0/workspace/get-status` (missing path: [`Error::NotFound`]).
    pub async fn get_status(&self, path: &str) -> Result<ObjectInfo> {
        let req = Request::get("/api/2.0/workspace/get-status").query("path", path);
        self.client.execute(req).await?.json()
    }

    /// `GET /api/2.0/workspace/list`: a directory's children (a file lists as itself).
    pub async fn list(&self, path: &str) -> Result<Vec<ObjectInfo>> {
        let req = Request::get("/api/2.0/workspace/list").query("path", path);
        let body: ListBody = self.client.execute(req).await?.json()?;
        Ok(body.objects)
    }

    /// `POST /api/2.0/workspace/delete`. A non-empty directory needs `recursive`.
    pub async fn delete(&self, path: &str, recursive: bool) -> Result<()> {
        let req = Request::post("/api/2.0/workspace/delete")
            .json(&serde_json::json!({ "path": path, "recursive": recursive }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `GET /api/2.0/workspace/export` in `format`; the base64 content is decoded.
    pub async fn export(&self, path: &str, format: Format) -> Result<Exported> {
        let req = Request::get("/api/2.0/workspace/export")
            .query("path", path)
            .query("format", format.as_str());
        let resp = self.client.execute(req).await?;
        let body: ExportBody = resp.json()?;
        let content = base64::engine::general_purpose::STANDARD
            .decode(body.content.unwrap_or_default().as_bytes())
            .map_err(|e| Error::Decode {
                request: resp.request.clone(),
                message: format!("content is not base64: {e}"),
            })?;
        Ok(Exported {
            content,
            file_type: body.file_type,
        })
    }

    /// `GET /api/2.0/workspace/export?direct_download=true`: a file's bytes as they are (no
    /// base64, no 10 MB export limit for files).
    pub async fn export_raw(&self, path: &str) -> Result<Bytes> {
        let req = Request::get("/api/2.0/workspace/export")
            .query("path", path)
            .query("format", Format::Auto.as_str())
            .query("direct_download", true)
            .raw_response();
        Ok(self.client.execute(req).await?.body)
    }

    /// `POST /api/2.0/workspace/import` (JSON, base64 content). Repeated on failure only with
    /// `overwrite`.
    pub async fn import(&self, import: &Import) -> Result<()> {
        let body = ImportBody {
            path: &import.path,
            content: base64::engine::general_purpose::STANDARD.encode(&import.content),
            format: import.format.as_str(),
            language: import.language,
            overwrite: import.overwrite,
        };
        let mut req = Request::post("/api/2.0/workspace/import").json(&body)?;
        if import.overwrite {
            req = req.idempotent();
        }
        self.client.execute(req).await?;
        Ok(())
    }

    /// `POST /api/2.0/workspace-files/import-file/{path}?overwrite=…` with the raw bytes.
    /// Missing parent: [`Error::NotFound`]; existing file without `overwrite`: a conflict;
    /// existing notebook: [`Error::AlreadyExists`].
    pub async fn import_file(&self, path: &str, content: Bytes, overwrite: bool) -> Result<()> {
        let encoded = encode_path(path)?;
        let mut req = Request::post(format!("/api/2.0/workspace-files/import-file{encoded}"))
            .query("overwrite", overwrite)
            .raw(content, "application/octet-stream");
        if overwrite {
            req = req.idempotent();
        }
        self.client.execute(req).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_info_shapes() {
        let o: ObjectInfo = serde_json::from_str(
            r#"{"object_type":"FILE","path":"/Users/a/x.rs","object_id":2349857203948570,
                "resource_id":"2349857203948570","created_at":1,"modified_at":2,"size":4211,"new":1}"#,
        )
        .unwrap();
        assert_eq!(o.object_type, Some(ObjectType::File));
        assert_eq!(o.size, Some(4211));
        assert!(!o.is_directory());
        let d: ObjectInfo =
            serde_json::from_str(r#"{"object_type":"WIDGET","path":"/x"}"#).unwrap();
        assert_eq!(d.object_type, Some(ObjectType::Unknown));
        let l: ListBody = serde_json::from_str("{}").unwrap();
        assert!(l.objects.is_empty());
    }

    #[test]
    fn import_body() {
        let body = ImportBody {
            path: "/a",
            content: base64::engine::general_purpose::STANDARD.encode(b"print(1)"),
            format: Format::Source.as_str(),
            language: Some(Language::Python),
            overwrite: false,
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"path":"/a","content":"cHJpbnQoMSk=","format":"SOURCE","language":"PYTHON","overwrite":false}"#
        );
    }
}
