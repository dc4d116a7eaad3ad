//! Clusters: the record and its clock-driven state machine (`model`: `PENDING → RUNNING`,
//! `RESTARTING → RUNNING`, `TERMINATING → TERMINATED`, auto-termination, init scripts read
//! and recorded at each start, a missing script failing the start), and the REST routes
//! under both `/api/2.0/clusters` and `/api/2.1/clusters` (`routes`).

pub mod model;
pub mod routes;

pub use model::{Clusters, RecordedInitScript, StartInputs};
