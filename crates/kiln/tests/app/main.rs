//! `kiln app`: packaging (`package`), deploying and status against kiln-emulator (`deploy`).
#![allow(clippy::unwrap_used)]

mod deploy;
mod fixture;
mod package;
