//! A Databricks REST client: SDK-compatible configuration, credentials, typed calls, errors and retries.
//! It knows nothing about kiln.
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
pub use retry::{RetryPolicy, Safety};
pub use secret::Secret;
