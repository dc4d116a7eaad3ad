//! The HTTP server of `kiln serve`: router, access checks, terminal transports, uploads, status.

pub mod assets;
