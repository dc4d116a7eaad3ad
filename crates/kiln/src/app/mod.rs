//! `kiln app`: kiln as a Databricks App. `source` builds the app source (app.yaml, launch.py,
//! the binary gzip-compressed in parts under 10 MB, described by kiln-binary.json); `binary`
//! and `elf` pick the binary and check it against the glibc floor; `package` writes the source
//! into a directory (the Git-repository path); `upload` writes it into a Workspace folder,
//! only what changed; `deploy` drives the Apps API (create, wait for compute, deploy, wait);
//! `status` reports; `error` holds the messages a user can act on; `cli` the flags.

pub mod binary;
pub mod cli;
pub mod deploy;
pub mod elf;
pub mod error;
pub mod name;
pub mod package;
pub mod progress;
pub mod source;
pub mod status;
pub mod upload;

pub use error::AppError;
