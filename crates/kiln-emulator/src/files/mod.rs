//! The Files API for Unity Catalog volumes (`/api/2.0/fs/files/Volumes/...`,
//! `/api/2.0/fs/directories/Volumes/...`): upload, download (with `Range` and
//! `If-Unmodified-Since`), metadata, delete, mkdir -p, list with paging, rmdir
//! (`databricks-api.md` §7). Any `/Volumes/<catalog>/<schema>/<volume>` exists implicitly.
//!
//! The volumes' state is `model`, the HTTP routes `routes`.

pub mod model;
pub mod routes;

pub use model::{Volumes, read_file};
