//! Databricks Apps: the app objects with their service principals, the compute state machine
//! (`STARTING → ACTIVE`, `STOPPING → STOPPED`, `DELETING → gone`) and deployments (`model`), who may do what (`acl`),
//! the REST routes (`routes`, `permissions`), app creation (`store`), and the runtime that makes deployments real:
//! the snapshot (`deploy`), `app.yaml` (`appyaml`), the supervised processes (`runtime`,
//! `supervisor`, `process`, `logs`), the identity-injecting reverse proxy per app (`proxy`) and
//! its sign-in and log routes (`admin`).

pub mod acl;
pub mod admin;
pub mod appyaml;
pub mod deploy;
pub mod logs;
pub mod model;
pub mod permissions;
pub mod process;
pub mod proxy;
pub mod routes;
pub mod runtime;
pub mod store;
pub mod supervisor;

pub use model::Apps;
