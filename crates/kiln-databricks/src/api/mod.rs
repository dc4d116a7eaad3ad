//! Typed API groups, one module each. Response structs tolerate unknown fields and treat
//! absent lists as empty, as Databricks omits empty values.

pub mod apps;
pub mod clusters;
pub mod files;
pub mod gateway;
pub mod scim;
pub mod secrets;
pub mod serving;
pub mod tokens;
pub mod workspace;

/// Skips `None` when serializing.
pub(crate) fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}
