//! The token broker: a loopback HTTP listener that hands the current token (from the
//! [`TokenCell`]) to programs in kiln's terminals, so they act as the owner across rotations
//! without holding a copy that can go stale.
//!
//! - Key: 32 random bytes (hex) in `~/.kiln/broker.key` (0600), new at every start; discovery
//!   file `~/.kiln/broker.json` (`{"url","pid"}`, 0600), removed at a clean exit.
//! - `GET /token` with `Authorization: Bearer <key>`: used by `kiln token`.
//! - `GET /metadata/<key>`: the Databricks SDKs' `metadata-service` auth (header
//!   `X-Databricks-Metadata-Version: 1`, optional `X-Databricks-Host` that must name kiln's
//!   workspace). The SDKs send no credential of their own, so the key is part of the URL kept in
//!   the `[kiln]` profile of `~/.databrickscfg` (see [`super::profile`]).
//! - Both answer `{"access_token","token_type":"Bearer","expires_on":<epoch seconds>}`, where
//!   `expires_on` is when to ask again (the planned rotation), never past the token's expiry; or
//!   503 `{"error","message"}` while kiln has no token. Keys are compared in constant time; a
//!   `Host` header other than a loopback name is refused (DNS rebinding).

use super::cell::TokenCell;
use crate::state::{random_hex, remove_quietly, write_private};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use kiln_databricks::Secret;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

/// Key file name under `~/.kiln/`.
pub const KEY_FILE: &str = "broker.key";
/// Discovery file name under `~/.kiln/`.
pub const INFO_FILE: &str = "broker.json";

/// The broker's address and key, and the files announcing them.
pub struct BrokerFiles {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    key: Secret,
    key_path: PathBuf,
    info_path: PathBuf,
}

impl std::fmt::Debug for BrokerFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerFiles")
            .field("url", &self.url)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl BrokerFiles {
    /// The `metadata-service` URL for the SDKs (it holds the key).
    pub fn metadata_url(&self) -> Secret {
        Secret::new(format!("{}/metadata/{}", self.url, self.key.expose()))
    }

    /// Removes the key and discovery files.
    pub fn remove(&self) {
        remove_quietly(&self.info_path);
        remove_quietly(&self.key_path);
    }
}

/// Binds `127.0.0.1:0` and writes a fresh key and the discovery file into `kiln_dir`.
pub fn bind(kiln_dir: &FsPath) -> std::io::Result<(std::net::TcpListener, BrokerFiles)> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let key = Secret::new(random_hex(32)?);
    let key_path = kiln_dir.join(KEY_FILE);
    let info_path = kiln_dir.join(INFO_FILE);
    write_private(&key_path, format!("{}\n", key.expose()).as_bytes())?;
    let info = json!({"url": url, "pid": std::process::id()});
    write_private(&info_path, format!("{info}\n").as_bytes())?;
    Ok((
        listener,
        BrokerFiles {
            url,
            key,
            key_path,
            info_path,
        },
    ))
}

#[derive(Clone)]
struct BrokerState {
    cell: Arc<TokenCell>,
    key: Secret,
    host: String,
}

/// Serves the broker on `listener` until `shutdown`.
pub fn serve(
    listener: std::net::TcpListener,
    files: &BrokerFiles,
    cell: Arc<TokenCell>,
    host: String,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let app = router(BrokerState {
        cell,
        key: files.key.clone(),
        host,
    });
    tokio::spawn(async move {
        let limits = crate::http::conn::Limits::default();
        let served = crate::http::conn::serve(listener, app, limits, shutdown).await;
        if let Err(e) = served {
            tracing::error!(error = %e, "token broker stopped");
        }
    });
    Ok(())
}

fn router(state: BrokerState) -> Router {
    Router::new()
        .route("/token", get(token))
        .route("/metadata/{key}", get(metadata))
        .layer(from_fn(loopback_host_only))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}

async fn loopback_host_only(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    if matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
        next.run(req).await
    } else {
        error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the broker only answers loopback requests",
        )
    }
}

fn key_matches(st: &BrokerState, given: &str) -> bool {
    st.key.expose().as_bytes().ct_eq(given.as_bytes()).into()
}

async fn lease(st: &BrokerState) -> Response {
    match st.cell.lease().await {
        Ok(lease) => Json(json!({
            "access_token": lease.token.expose(),
            "token_type": "Bearer",
            "expires_on": lease.refresh_by_ms.div_euclid(1000),
        }))
        .into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, "no_token", &e.to_string()),
    }
}

async fn token(State(st): State<BrokerState>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, k)| k.trim());
    match given {
        Some(k) if key_matches(&st, k) => lease(&st).await,
        _ => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the broker key (in ~/.kiln/broker.key) is required",
        ),
    }
}

async fn metadata(
    State(st): State<BrokerState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !key_matches(&st, &key) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "wrong broker key");
    }
    let version = headers
        .get("x-databricks-metadata-version")
        .and_then(|v| v.to_str().ok());
    if version != Some("1") {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-Databricks-Metadata-Version: 1 is required",
        );
    }
    if let Some(h) = headers
        .get("x-databricks-host")
        .and_then(|v| v.to_str().ok())
        && !same_host(h, &st.host)
    {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("this broker serves tokens for {} only", st.host),
        );
    }
    lease(&st).await
}

/// Compares workspace URLs the way the SDKs normalise them (scheme, case, trailing `/`, `:443`).
pub fn same_host(a: &str, b: &str) -> bool {
    fn norm(h: &str) -> String {
        let h = h.trim().to_ascii_lowercase();
        let h = h.strip_prefix("https://").unwrap_or(&h).to_owned();
        let h = h.trim_end_matches('/');
        h.strip_suffix(":443").unwrap_or(h).to_owned()
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_compare_like_the_sdks() {
        assert!(same_host(
            "https://dbc-1.cloud.databricks.com/",
            "dbc-1.cloud.databricks.com"
        ));
        assert!(same_host(
            "https://DBC-1.cloud.databricks.com:443",
            "https://dbc-1.cloud.databricks.com"
        ));
        assert!(same_host("http://127.0.0.1:9", "http://127.0.0.1:9"));
        assert!(!same_host("https://a.example", "https://b.example"));
        assert!(!same_host("http://a.example", "https://a.example"));
    }
}
