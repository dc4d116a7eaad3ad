//! kiln-databricks against kiln-emulator: every call and its error cases, auth, retries and
//! configuration, over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used)]

mod apps;
mod auth;
mod clusters;
mod common;
mod config_matrix;
mod files;
mod headers;
mod retries;
mod serving;
mod tokens;
mod workspace;
