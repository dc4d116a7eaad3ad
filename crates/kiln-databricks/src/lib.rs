//! A Databricks REST client: SDK-compatible configuration, credentials, typed calls, errors and retries.
//! It knows nothing about kiln.
//!
//! Rooms: `config` (attribute table, explicit > env > `.databrickscfg` profile, INI parser, host
//! normalisation, redacted descriptions), `credentials` (PAT, OAuth M2M and the SDKs'
//! metadata service with a single-flight, refresh-ahead cache, caller-supplied [`TokenSource`]), `error` + `error_body` (typed errors
//! from every body shape Databricks sends), `retry` (what may be repeated, backoff, budget),
//! `http` (the shared rustls `reqwest` client, one attempt, safe path encoding), `client`
//! ([`Client`]: auth, headers, retries, one re-authentication), `wait` (polling for states),
//! `api` (one module per API group). Secrets live in [`Secret`], which has no `Display` and a
//! redacted `Debug`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kiln_databricks::Error> {
//! use kiln_databricks::{Client, ConfigLoader, Environment};
//! let config = ConfigLoader::new(Environment::from_process()).load()?;
//! let client = Client::new(&config)?;
//! let me = client.scim().me().await?;
//! println!("{}", me.user_name);
//! # Ok(()) }
//! ```

pub mod api;
mod client;
pub mod config;
pub mod credentials;
mod error;
mod error_body;
mod http;
mod retry;
mod secret;
mod wait;

#[cfg(test)]
mod test_support;

pub use client::{Client, ClientOptions};
pub use config::{
    Attr, AuthMethod, Config, ConfigError, ConfigErrorKind, ConfigLoader, Environment, Source,
};
pub use credentials::{StaticToken, TokenFuture, TokenSource};
pub use error::{ApiError, CredentialsError, Error, Result, TransportKind};
pub use retry::{RetryPolicy, Safety, retry_after};
pub use secret::Secret;
