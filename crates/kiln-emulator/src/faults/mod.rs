//! Fault injection per route: latency, an error status, 429 with `Retry-After`, a connection
//! reset, and outage windows measured on the emulator clock. Rules are tried in insertion
//! order and the first that matches a request applies (and uses up one of its `times`).
//!
//! The rules are `model`, the middleware that applies them `layer`.

pub mod layer;
pub mod model;

pub use model::{AppliedFault, Fault, FaultAction, Faults};
