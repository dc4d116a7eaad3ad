//! [`Client`]: one workspace, one reused `reqwest::Client`, credentials, the retry policy, the
//! `User-Agent` and `X-Databricks-Workspace-Id` headers, and the typed API groups.

use crate::config::{AuthMethod, Config, ConfigErrorKind};
use crate::credentials::{Credentials, MetadataService, OAuthM2m, StaticToken, TokenSource};
use crate::error::{Error, Result};
use crate::http::{
    Body, Request, Response, build_http_client, build_http_client_without_proxy, send,
};
use crate::retry::{RetryPolicy, with_retries};
use crate::secret::Secret;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Client settings beyond the workspace configuration.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Retries and timeouts. `http_timeout_seconds` / `retry_timeout_seconds` from the
    /// configuration, when set, override `request_timeout` / `budget`.
    pub retry: RetryPolicy,
    /// First `User-Agent` token: product name.
    pub product: String,
    /// First `User-Agent` token: product version.
    pub product_version: String,
    /// Longest pause between polls when waiting for a state (polls start at 250 ms and double).
    pub max_poll_interval: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            product: "kiln".to_owned(),
            product_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_poll_interval: Duration::from_secs(10),
        }
    }
}

/// A Databricks workspace client. Cheap to clone; clones share connections and credentials.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    host: String,
    workspace_id: Option<HeaderValue>,
    credentials: Credentials,
    retry: RetryPolicy,
    user_agent: String,
    max_poll_interval: Duration,
    config_description: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.inner.host)
            .field("auth_type", &self.inner.credentials.auth_type())
            .field("config", &self.inner.config_description)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the configuration's host and authentication method.
    pub fn new(config: &Config) -> Result<Client> {
        Self::with_options(config, ClientOptions::default())
    }

    /// Like [`Client::new`], with options.
    pub fn with_options(config: &Config, options: ClientOptions) -> Result<Client> {
        let method = config.auth_method()?;
        let local_http = match method {
            AuthMethod::MetadataService { .. } => Some(build_http_client_without_proxy()?),
            _ => None,
        };
        Self::build(config, options, |http, host, retry, ua| match method {
            AuthMethod::Pat(token) => Credentials::Bearer(Arc::new(StaticToken::new(token))),
            AuthMethod::Basic { username, password } => Credentials::basic(&username, &password),
            AuthMethod::OAuthM2m {
                client_id,
                client_secret,
            } => Credentials::Bearer(Arc::new(OAuthM2m::new(
                http.clone(),
                host,
                client_id,
                client_secret,
                retry.clone(),
                format!("{ua} auth/oauth-m2m"),
            ))),
            AuthMethod::MetadataService { url } => {
                Credentials::Bearer(Arc::new(MetadataService::new(
                    local_http.unwrap_or_else(|| http.clone()),
                    url,
                    host,
                    retry,
                    format!("{ua} auth/metadata-service"),
                )))
            }
        })
    }

    /// A client whose bearer token comes from `source` (the configuration's own credentials,
    /// if any, are ignored; its host and workspace id are used).
    pub fn with_token_source(
        config: &Config,
        source: Arc<dyn TokenSource>,
        options: ClientOptions,
    ) -> Result<Client> {
        Self::build(config, options, |_, _, _, _| Credentials::Bearer(source))
    }

    fn build(
        config: &Config,
        options: ClientOptions,
        credentials: impl FnOnce(&reqwest::Client, &str, &RetryPolicy, &str) -> Credentials,
    ) -> Result<Client> {
        let host = config
            .host()
            .ok_or_else(|| config.error(ConfigErrorKind::MissingHost))?
            .to_owned();
        let mut retry = options.retry;
        if let Some(t) = config.http_timeout() {
            retry.request_timeout = t;
        }
        if let Some(t) = config.retry_timeout() {
            retry.budget = t;
        }
        let workspace_id = match config.workspace_id() {
            Some(id) => Some(HeaderValue::from_str(id).map_err(|_| {
                config.error(ConfigErrorKind::InvalidValue {
                    attr: crate::config::Attr::WorkspaceId,
                    message: "not a valid header value".into(),
                })
            })?),
            None => None,
        };
        let ua_base = format!(
            "{}/{} kiln-databricks/{} os/{}",
            ua_token(&options.product),
            ua_token(&options.product_version),
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS
        );
        let http = build_http_client()?;
        let credentials = credentials(&http, &host, &retry, &ua_base);
        let user_agent = format!("{ua_base} auth/{}", ua_token(credentials.auth_type()));
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                host,
                workspace_id,
                credentials,
                retry,
                user_agent,
                max_poll_interval: options.max_poll_interval,
                config_description: config.describe(),
            }),
        })
    }

    /// The workspace URL (`https://…`, no trailing slash).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// The authentication method in use (`pat`, `oauth-m2m`, `basic`, or the token source's).
    pub fn auth_type(&self) -> &str {
        self.inner.credentials.auth_type()
    }

    /// The `User-Agent` sent.
    pub fn user_agent(&self) -> &str {
        &self.inner.user_agent
    }

    /// The redacted configuration description the client was built from.
    pub fn config_description(&self) -> &str {
        &self.inner.config_description
    }

    pub(crate) fn max_poll_interval(&self) -> Duration {
        self.inner.max_poll_interval
    }

    /// Runs a request with authentication, retries and, once, a fresh token if the server
    /// refused the one used.
    pub(crate) async fn execute(&self, req: Request) -> Result<Response> {
        let label = req.label();
        let url = format!("{}{}", self.inner.host, req.path);
        let used: Mutex<Option<Secret>> = Mutex::new(None);
        let mut reauthenticated = false;
        loop {
            let result = with_retries(&self.inner.retry, req.safety, &label, || {
                self.attempt(&req, &url, &label, &used)
            })
            .await;
            match result {
                Err(e) if !reauthenticated && refused_token(&e) => {
                    let token = used.lock().unwrap_or_else(PoisonError::into_inner).take();
                    match token {
                        Some(t) if self.inner.credentials.rejected(&t) => {
                            tracing::debug!(request = %label, "token refused; retrying once with a fresh one");
                            reauthenticated = true;
                        }
                        _ => return Err(e),
                    }
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        req: &Request,
        url: &str,
        label: &str,
        used: &Mutex<Option<Secret>>,
    ) -> Result<Response> {
        let auth = self.inner.credentials.authorization().await?;
        let mut auth_header = HeaderValue::from_str(auth.header.expose()).map_err(|_| {
            Error::Credentials(crate::error::CredentialsError::Source(
                "the token contains characters not allowed in a header".into(),
            ))
        })?;
        auth_header.set_sensitive(true);
        *used.lock().unwrap_or_else(PoisonError::into_inner) = auth.token;
        let mut b = self
            .inner
            .http
            .request(req.method.clone(), url)
            .header(AUTHORIZATION, auth_header)
            .header(USER_AGENT, &self.inner.user_agent)
            .timeout(req.timeout.unwrap_or(self.inner.retry.request_timeout));
        if let Some(ws) = &self.inner.workspace_id {
            b = b.header("X-Databricks-Workspace-Id", ws.clone());
        }
        if !req.query.is_empty() {
            b = b.query(&req.query);
        }
        b = b.header(
            ACCEPT,
            if req.raw_response {
                "application/octet-stream"
            } else {
                "application/json"
            },
        );
        b = match &req.body {
            Body::Empty => b,
            Body::Json(bytes) => b
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Raw { data, content_type } => {
                b.header(CONTENT_TYPE, *content_type).body(data.clone())
            }
        };
        send(b, label).await
    }
}

fn refused_token(e: &Error) -> bool {
    matches!(
        e.root(),
        Error::Unauthenticated(_) | Error::PermissionDenied(_)
    ) && e.is_auth_failure()
}

/// Restricts a `User-Agent` value to `[A-Za-z0-9_.+-]`, as the SDKs do.
fn ua_token(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.+-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}
