//! The request log: method, path, redacted query, status, identity and any injected fault of
//! every API request (admin requests excluded), in emulator-clock time. Token values never
//! appear: identities are user names and query parameters that look like secrets are
//! redacted. Also the outermost middleware, which adds `X-Databricks-Org-Id`.
//!
//! The log is `model`, the middleware that writes it `layer`.

pub mod layer;
pub mod model;

pub use model::{RequestLog, RequestRecord};
