//! The Files API for Unity Catalog volumes (`/Volumes/<catalog>/<schema>/<volume>/…`): upload,
//! download, metadata and delete of files; create, check, list (paged) and delete directories
//! (`/api/2.0/fs/files…`, `/api/2.0/fs/directories…`).

use crate::Client;
use crate::error::Result;
use crate::http::{Request, encode_path};
use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

/// Headers of a file (`HEAD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    /// Size in bytes.
    pub content_length: Option<u64>,
    /// Content type.
    pub content_type: Option<String>,
    /// `Last-Modified` (RFC 7231 date).
    pub last_modified: Option<String>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DirectoryEntry {
    /// Absolute path.
    #[serde(default)]
    pub path: String,
    /// Last path component.
    #[serde(default)]
    pub name: String,
    /// Whether it is a directory.
    #[serde(default)]
    pub is_directory: bool,
    /// Size of a file in bytes.
    #[serde(default)]
    pub file_size: Option<i64>,
    /// Modification time, epoch ms.
    #[serde(default)]
    pub last_modified: Option<i64>,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    contents: Vec<DirectoryEntry>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// Files API calls.
#[derive(Debug, Clone, Copy)]
pub struct FilesApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Files API (volumes) calls.
    pub fn files(&self) -> FilesApi<'_> {
        FilesApi { client: self }
    }
}

fn files_path(path: &str) -> Result<String> {
    Ok(format!("/api/2.0/fs/files{}", encode_path(path)?))
}

fn dirs_path(path: &str) -> Result<String> {
    Ok(format!("/api/2.0/fs/directories{}", encode_path(path)?))
}

impl FilesApi<'_> {
    /// `PUT /api/2.0/fs/files{path}?overwrite=…`: uploads bytes (parents are created).
    /// Existing file without `overwrite`: a conflict error.
    pub async fn upload(&self, path: &str, content: Bytes, overwrite: bool) -> Result<()> {
        let mut req = Request::new(Method::PUT, files_path(path)?)
            .query("overwrite", overwrite)
            .raw(content, "application/octet-stream");
        if !overwrite {
            req = req.not_idempotent();
        }
        self.client.execute(req).await?;
        Ok(())
    }

    /// `GET /api/2.0/fs/files{path}`: the file's bytes.
    pub async fn download(&self, path: &str) -> Result<Bytes> {
        let req = Request::get(files_path(path)?).raw_response();
        Ok(self.client.execute(req).await?.body)
    }

    /// `HEAD /api/2.0/fs/files{path}`.
    pub async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let req = Request::new(Method::HEAD, files_path(path)?);
        let resp = self.client.execute(req).await?;
        Ok(FileMetadata {
            content_length: resp.header("content-length").and_then(|v| v.parse().ok()),
            content_type: resp.header("content-type").map(str::to_owned),
            last_modified: resp.header("last-modified").map(str::to_owned),
        })
    }

    /// `DELETE /api/2.0/fs/files{path}`.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.client
            .execute(Request::new(Method::DELETE, files_path(path)?))
            .await?;
        Ok(())
    }

    /// `PUT /api/2.0/fs/directories{path}`: creates a directory and parents (idempotent).
    pub async fn create_directory(&self, path: &str) -> Result<()> {
        self.client
            .execute(Request::new(Method::PUT, dirs_path(path)?))
            .await?;
        Ok(())
    }

    /// `HEAD /api/2.0/fs/directories{path}`: whether the directory exists.
    pub async fn directory_exists(&self, path: &str) -> Result<bool> {
        match self
            .client
            .execute(Request::new(Method::HEAD, dirs_path(path)?))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/2.0/fs/directories{path}`, following `next_page_token` to the end.
    pub async fn list_directory(&self, path: &str) -> Result<Vec<DirectoryEntry>> {
        let base = dirs_path(path)?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::get(base.clone());
            if let Some(t) = &token {
                req = req.query("page_token", t);
            }
            let page: ListPage = self.client.execute(req).await?.json()?;
            out.extend(page.contents);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// `DELETE /api/2.0/fs/directories{path}` (must be empty).
    pub async fn delete_directory(&self, path: &str) -> Result<()> {
        self.client
            .execute(Request::new(Method::DELETE, dirs_path(path)?))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_listing() {
        assert_eq!(
            files_path("/Volumes/main/agents/scripts/init.sh").unwrap(),
            "/api/2.0/fs/files/Volumes/main/agents/scripts/init.sh"
        );
        assert!(files_path("/Volumes/../api").is_err());
        let p: ListPage = serde_json::from_str(
            r#"{"contents":[{"path":"/Volumes/a/b/c/d","name":"d","is_directory":true,"x":1},
                {"path":"/Volumes/a/b/c/f","name":"f","is_directory":false,"file_size":3,"last_modified":5}],
                "next_page_token":"t"}"#,
        )
        .unwrap();
        assert_eq!(p.contents.len(), 2);
        assert!(p.contents[0].is_directory);
        assert_eq!(p.contents[1].file_size, Some(3));
    }
}
