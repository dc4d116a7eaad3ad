//! kiln-emulator's integration tests, one binary (one link instead of one per file): each file
//! is a module; `support` is the one fixture.
#![allow(dead_code, clippy::unwrap_used)]

mod support;

mod app_runtime;
mod apps;
mod auth;
mod binary;
mod clusters;
mod faults;
mod files;
mod serving;
mod serving_control;
mod tokens;
mod workspace;
