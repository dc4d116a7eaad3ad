//! The workspace tree: directories, files and notebooks keyed by normalised absolute path
//! (`/Workspace/...` and `/...` name the same object), with the documented error for each
//! conflict (`databricks-api.md` §6). Pure data; the routes add permissions and HTTP.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};

use super::notebook::Language;
use crate::error::{ApiError, ApiResult};
use crate::ids;

/// Largest notebook / import payload, bytes (10 MiB).
pub const MAX_IMPORT_BYTES: usize = 10 << 20;

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A folder.
    Directory,
    /// A workspace file.
    File,
    /// A notebook; `jupyter` when stored as `.ipynb` JSON.
    Notebook {
        /// Notebook language.
        language: Language,
        /// Stored as ipynb.
        jupyter: bool,
    },
}

/// One object in the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Directory, file or notebook.
    pub kind: Kind,
    /// `object_id`.
    pub object_id: u64,
    /// Bytes (empty for directories).
    pub content: Bytes,
    /// Epoch ms.
    pub created_ms: i64,
    /// Epoch ms.
    pub modified_ms: i64,
}

impl Node {
    fn dir(now: i64) -> Self {
        Self {
            kind: Kind::Directory,
            object_id: ids::numeric_id(),
            content: Bytes::new(),
            created_ms: now,
            modified_ms: now,
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Directory
    }
}

/// Normalises a client path: absolute, `/Workspace` prefix removed, no trailing or doubled
/// slashes, no `.`/`..` segments.
pub fn normalize(raw: &str) -> ApiResult<String> {
    if !raw.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "Path ({raw}) is not absolute. Please provide an absolute path."
        )));
    }
    let mut segs: Vec<&str> = raw.split('/').filter(|s| !s.is_empty()).collect();
    if segs.iter().any(|s| *s == "." || *s == "..") {
        return Err(ApiError::invalid(format!(
            "Path ({raw}) is not a valid path."
        )));
    }
    if segs.first() == Some(&"Workspace") {
        segs.remove(0);
    }
    Ok(format!("/{}", segs.join("/")))
}

/// Parent of a normalised path (`/` for top-level objects and for `/`).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The tree.
#[derive(Debug)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// A tree with `/`, `/Users`, `/Shared` and `/Repos`.
    pub fn new(now: i64) -> Self {
        let mut nodes = BTreeMap::new();
        for p in ["/", "/Users", "/Shared", "/Repos"] {
            nodes.insert(p.to_string(), Node::dir(now));
        }
        Self { nodes }
    }

    /// Creates `/Users/<name>` if needed.
    pub fn ensure_home(&mut self, user_name: &str, now: i64) {
        self.nodes
            .entry(format!("/Users/{user_name}"))
            .or_insert_with(|| Node::dir(now));
    }

    /// The node at a normalised path.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Direct children of a directory, sorted by path.
    pub fn children(&self, path: &str) -> Vec<(&String, &Node)> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
            .collect()
    }

    /// Every path at or below `path`.
    pub fn subtree(&self, path: &str) -> Vec<(String, Node)> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.nodes
            .iter()
            .filter(|(k, _)| k.as_str() == path || k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// `mkdirs`: creates the directory and its parents; idempotent; a file or notebook on
    /// the way → 400 `RESOURCE_ALREADY_EXISTS`.
    pub fn mkdirs(&mut self, path: &str, now: i64) -> ApiResult<()> {
        let mut cur = String::new();
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for seg in segs {
            cur.push('/');
            cur.push_str(seg);
            match self.nodes.get(&cur) {
                Some(n) if n.is_dir() => {}
                Some(_) => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "RESOURCE_ALREADY_EXISTS",
                        format!("Path ({cur}) already exists and is not a directory."),
                    ));
                }
                None => {
                    self.nodes.insert(cur.clone(), Node::dir(now));
                }
            }
        }
        Ok(())
    }

    /// Deletes an object; a non-empty directory needs `recursive`.
    pub fn delete(&mut self, path: &str, shown: &str, recursive: bool) -> ApiResult<()> {
        let node = self.nodes.get(path).ok_or_else(|| missing(shown))?;
        if node.is_dir() && !self.children(path).is_empty() && !recursive {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "DIRECTORY_NOT_EMPTY",
                format!("Folder ({shown}) is not empty"),
            ));
        }
        let prefix = format!("{path}/");
        self.nodes
            .retain(|k, _| k.as_str() != path && !k.starts_with(&prefix));
        Ok(())
    }

    /// The parent of `path` must be an existing directory.
    pub fn check_parent(&self, path: &str) -> ApiResult<()> {
        let p = parent(path);
        match self.nodes.get(p) {
            Some(n) if n.is_dir() => Ok(()),
            Some(_) => Err(ApiError::invalid(format!(
                "The parent path ({p}) is not a directory."
            ))),
            None => Err(ApiError::not_found(format!(
                "The parent folder ({p}) does not exist."
            ))),
        }
    }

    /// Writes a file or notebook at `path` (parent must exist). `overwrite` replaces an
    /// object of any non-directory kind; the caller checks the documented conflicts first.
    pub fn put(&mut self, path: &str, kind: Kind, content: Bytes, now: i64) {
        match self.nodes.get_mut(path) {
            Some(n) => {
                n.kind = kind;
                n.content = content;
                n.modified_ms = now;
            }
            None => {
                self.nodes.insert(
                    path.to_string(),
                    Node {
                        kind,
                        object_id: ids::numeric_id(),
                        content,
                        created_ms: now,
                        modified_ms: now,
                    },
                );
            }
        }
    }

    /// Copies a directory's contents to `dest` (created); used for app deployment snapshots.
    pub fn copy_dir(&mut self, src: &str, dest: &str, now: i64) -> ApiResult<()> {
        let items = self.subtree(src);
        self.mkdirs(dest, now)?;
        for (k, node) in items {
            let rel = &k[src.len()..];
            if rel.is_empty() {
                continue;
            }
            let target = format!("{dest}{rel}");
            if node.is_dir() {
                self.mkdirs(&target, now)?;
            } else {
                self.put(&target, node.kind.clone(), node.content.clone(), now);
            }
        }
        Ok(())
    }
}

/// 404 `RESOURCE_DOES_NOT_EXIST` "Path (<p>) doesn't exist."
pub fn missing(shown: &str) -> ApiError {
    ApiError::not_found(format!("Path ({shown}) doesn't exist."))
}

/// `ObjectInfo` JSON.
pub fn object_info(path: &str, n: &Node, export_info: bool) -> Value {
    let mut v = json!({
        "path": path,
        "object_id": n.object_id,
        "resource_id": n.object_id.to_string(),
    });
    match &n.kind {
        Kind::Directory => v["object_type"] = json!("DIRECTORY"),
        Kind::File => {
            v["object_type"] = json!("FILE");
            v["created_at"] = json!(n.created_ms);
            v["modified_at"] = json!(n.modified_ms);
            v["size"] = json!(n.content.len());
        }
        Kind::Notebook { language, jupyter } => {
            v["object_type"] = json!("NOTEBOOK");
            v["language"] = json!(language.as_str());
            if export_info {
                v["repos_export_format"] = json!(if *jupyter { "JUPYTER" } else { "SOURCE" });
            }
        }
    }
    v
}

/// Reads a workspace file (not a notebook) for init scripts; `None` when absent.
pub fn read_file(tree: &Tree, raw: &str) -> Option<Bytes> {
    let path = normalize(raw).ok()?;
    let n = tree.get(&path)?;
    (n.kind == Kind::File).then(|| n.content.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalize("/Workspace/Users/a").unwrap(), "/Users/a");
        assert_eq!(normalize("/Users//a/").unwrap(), "/Users/a");
        assert_eq!(normalize("/Workspace").unwrap(), "/");
        assert!(normalize("Users/a").is_err());
        assert!(normalize("/Users/../etc").is_err());
        assert_eq!(parent("/Users/a"), "/Users");
        assert_eq!(parent("/Users"), "/");
    }

    #[test]
    fn mkdirs_and_children() {
        let mut t = Tree::new(0);
        t.mkdirs("/Users/a/b/c", 1).unwrap();
        t.mkdirs("/Users/a/b/c", 1).unwrap();
        let kids: Vec<_> = t
            .children("/Users/a")
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(kids, vec!["/Users/a/b".to_string()]);
        t.put("/Users/a/f", Kind::File, Bytes::from_static(b"x"), 2);
        let e = t.mkdirs("/Users/a/f/g", 3).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = t.delete("/Users/a", "/Users/a", false).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        t.delete("/Users/a", "/Users/a", true).unwrap();
        assert!(t.get("/Users/a/b").is_none());
        assert!(t.get("/Users").is_some());
    }
}
