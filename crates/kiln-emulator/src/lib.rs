//! An emulated Databricks workspace, faithful to `shared/reference/databricks-api.md`, for tests and local trials.
pub mod serving;
