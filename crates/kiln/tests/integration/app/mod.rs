//! `kiln app`: packaging (`package`), deploying and status against kiln-emulator (`deploy`).

mod deploy;
mod fixture;
mod package;
