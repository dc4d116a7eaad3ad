//! Credentials: the [`TokenSource`] trait (a caller-supplied bearer token, e.g. kiln's rotating
//! token), a static PAT, OAuth M2M and the SDKs' metadata service (both cached, refreshed ahead
//! of expiry, single-flight), and legacy basic auth. They produce the `Authorization` header of each attempt.

mod config_file;
mod metadata;
mod oauth;
mod refresh;

pub use config_file::ConfigFileSource;
pub(crate) use metadata::MetadataService;
pub(crate) use oauth::OAuthM2m;

use crate::error::CredentialsError;
use crate::secret::Secret;
use base64::Engine as _;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future returned by [`TokenSource::token`].
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Secret, CredentialsError>> + Send + 'a>>;

/// Something that hands out the current bearer token. Called before every request attempt,
/// so a source may rotate its token at any time.
pub trait TokenSource: Send + Sync + 'static {
    /// The token to use now.
    fn token(&self) -> TokenFuture<'_>;

    /// The auth type reported in the `User-Agent` (`auth/<this>`).
    fn auth_type(&self) -> &str {
        "custom"
    }

    /// The server refused `token` as invalid or expired. Return `true` if asking again may
    /// yield a different token (the client then repeats the request once).
    fn rejected(&self, token: &Secret) -> bool {
        let _ = token;
        false
    }
}

/// A fixed token (a personal access token).
#[derive(Clone, Debug)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// Wraps a token.
    pub fn new(token: Secret) -> Self {
        Self(token)
    }
}

impl TokenSource for StaticToken {
    fn token(&self) -> TokenFuture<'_> {
        let t = self.0.clone();
        Box::pin(async move { Ok(t) })
    }

    fn auth_type(&self) -> &str {
        "pat"
    }
}

/// How a client authenticates each request.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <token from the source>`.
    Bearer(Arc<dyn TokenSource>),
    /// `Authorization: Basic …` (value precomputed).
    Basic(Secret),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({})", self.auth_type())
    }
}

/// One attempt's `Authorization` header and, for bearer tokens, the token used.
pub(crate) struct Authorization {
    pub header: Secret,
    pub token: Option<Secret>,
}

impl Credentials {
    pub(crate) fn basic(username: &str, password: &Secret) -> Self {
        let raw = format!("{username}:{}", password.expose());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        Credentials::Basic(Secret::new(format!("Basic {encoded}")))
    }

    pub(crate) fn auth_type(&self) -> &str {
        match self {
            Credentials::Bearer(s) => s.auth_type(),
            Credentials::Basic(_) => "basic",
        }
    }

    pub(crate) async fn authorization(&self) -> Result<Authorization, CredentialsError> {
        match self {
            Credentials::Bearer(source) => {
                let token = source.token().await?;
                if token.is_empty() {
                    return Err(CredentialsError::Source(
                        "the token source returned an empty token".into(),
                    ));
                }
                Ok(Authorization {
                    header: Secret::new(format!("Bearer {}", token.expose())),
                    token: Some(token),
                })
            }
            Credentials::Basic(header) => Ok(Authorization {
                header: header.clone(),
                token: None,
            }),
        }
    }

    /// Tells the source its token was refused; true if a retry may help.
    pub(crate) fn rejected(&self, token: &Secret) -> bool {
        match self {
            Credentials::Bearer(source) => source.rejected(token),
            Credentials::Basic(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_and_basic_headers() {
        let c = Credentials::Bearer(Arc::new(StaticToken::new(Secret::new("dapi-abc"))));
        let a = c.authorization().await.unwrap();
        assert_eq!(a.header.expose(), "Bearer dapi-abc");
        assert_eq!(c.auth_type(), "pat");
        assert!(!c.rejected(&Secret::new("dapi-abc")));
        assert_eq!(format!("{c:?}"), "Credentials(pat)");

        let c = Credentials::basic("token", &Secret::new("dapi-abc"));
        let a = c.authorization().await.unwrap();
        assert_eq!(a.header.expose(), "Basic dG9rZW46ZGFwaS1hYmM=");
        assert!(!format!("{c:?}").contains("dG9rZW"));

        let c = Credentials::Bearer(Arc::new(StaticToken::new(Secret::new(""))));
        assert!(c.authorization().await.is_err());
    }
}
