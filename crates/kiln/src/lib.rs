//! kiln: coding agents on Databricks. The binary's `main.rs` is a thin CLI over this library.

pub mod agent;
pub mod agents;
pub mod app;
pub mod child;
pub mod cli;
pub mod cluster;
pub mod credentials;
pub mod gateway;
pub mod http;
pub mod logging;
pub mod profile;
pub mod server;
pub mod state;
pub mod sync;
pub mod time;
pub mod whoami;
