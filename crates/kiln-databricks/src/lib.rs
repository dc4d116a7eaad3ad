//! A Databricks REST client: SDK-compatible configuration, credentials, typed calls, errors and retries.
//! It knows nothing about kiln.
