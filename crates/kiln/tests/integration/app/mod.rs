//! `kiln app`: packaging (`package`), deploying and status against kiln-emulator (`deploy`).

mod deploy;
pub mod fixture;
mod package;
