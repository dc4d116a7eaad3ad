//! kiln's integration tests, one binary: each file is a module of it (a test file used to be a
//! binary of its own, and linking 25 binaries against kiln and the emulator was most of the
//! suite's build time). `support` is the one fixture: the in-process server and terminal client
//! at its root, the credentials world, the gateway rig and the agent tools beside them.
#![allow(dead_code, clippy::unwrap_used)]

mod support;

mod agents_e2e;
mod agents_golden;
mod agents_install;
mod agents_serve;
mod agents_setup;
mod app;
mod child_env;
mod cluster_deploy;
mod cluster_init;
mod crash_recovery;
mod credentials;
mod credentials_local;
mod credentials_process;
mod credentials_sdk;
mod fuzz;
mod gateway_binary;
mod gateway_flavours;
mod gateway_serve;
mod gateway_tokens;
mod gateway_traces;
mod gateway_upstreams;
mod owner;
mod rotation;
mod security;
mod settings;
mod signals;
mod sync;
mod sync_serve;
mod terminal;
mod terminal_flow;
mod terminal_liveness;
mod whoami_metadata;
