//! Workspace sync: every git repository directly under `~/projects` is copied to
//! `/Workspace/Users/<owner>/projects/<name>/` after each commit, with its history, and
//! restored from there when it is missing locally (see `docs/sync.md`).
//!
//! Rooms: `hooks` (git hooks that chain to the repositories' own and drop a notice), `git`
//! (git commands and a blob reader), `manifest` (what kiln wrote, last synced commit, history
//! bundles), `plan` (the diff), `upload` (byte-exact writes, size limit, never over a user's
//! object), `history` (incremental bundles, restore), `remote` (client, user, paths),
//! `engine` (one project's sync / restore), `status` (the board), `service` (the task inside
//! `kiln serve`), `control` (loopback listener for the CLI), `api` (`/api/sync`), `cli`.

pub mod api;
pub mod cli;
pub mod control;
pub mod engine;
pub mod git;
pub mod history;
pub mod hooks;
pub mod manifest;
pub mod plan;
pub mod remote;
pub mod service;
pub mod status;
pub mod upload;

pub use engine::{Engine, EngineOptions, SyncError};
pub use remote::Remote;
pub use service::{SyncHandle, SyncOptions};
pub use status::{Board, ProjectStatus, State};
