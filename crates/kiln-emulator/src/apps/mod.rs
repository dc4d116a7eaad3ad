//! Databricks Apps: the app objects with their service principals, the compute state
//! machine (`STARTING → ACTIVE`, `STOPPING → STOPPED`, `DELETING → gone`) and deployments
//! (`IN_PROGRESS → SUCCEEDED | FAILED`), all driven by the emulator clock (`model`), and the
//! REST routes (`routes`).

pub mod model;
pub mod routes;

pub use model::Apps;
