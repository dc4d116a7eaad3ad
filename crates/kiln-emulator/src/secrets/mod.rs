//! Secrets: `POST /api/2.0/secrets/scopes/create`, `GET /api/2.0/secrets/scopes/list`,
//! `POST /api/2.0/secrets/scopes/delete`, `POST /api/2.0/secrets/put`,
//! `GET /api/2.0/secrets/list?scope=`, `POST /api/2.0/secrets/delete`. Values are kept for
//! clusters, which resolve `{{secrets/<scope>/<key>}}` references in `spark_env_vars` at start
//! (see `clusters`); the API never returns them. No ACLs: every principal may use every scope.
//!
//! The scopes' state is `model`, the HTTP routes `routes`.

pub mod model;
pub mod routes;

pub use model::Secrets;
