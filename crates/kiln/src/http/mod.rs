//! HTTP pieces every listener and client of kiln shares, and a leaf: it imports nothing from
//! kiln. `conn` serves connections with bounds (kiln serve, the model gateway, the token broker,
//! the sync control socket), `error` is the one error type of the JSON APIs, `client` what every
//! `reqwest` client needs (the crypto provider, error chains for messages).

pub mod client;
pub mod conn;
pub mod error;

pub use error::{ApiJson, AppError};
