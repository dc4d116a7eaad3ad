//! Assembles the emulator's router — every API module, the serving data plane and the admin
//! API — under the shared layers (request log outermost, then fault injection, then auth),
//! and serves it on a listener whose connections can be reset.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::net::{ConnInfo, KillableListener};
use crate::world::Shared;
use crate::{
    admin, apps, auth, clusters, faults, files, oidc, otel, reqlog, scim, secrets, serving,
    serving_control, tokens, workspace,
};

/// Largest request body accepted by the control plane (256 MiB).
pub const BODY_LIMIT_BYTES: usize = 256 << 20;

/// The full router with state applied.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(oidc::router())
        .merge(scim::router())
        .merge(tokens::router())
        .merge(apps::routes::router())
        .merge(apps::permissions::router())
        .merge(workspace::routes::router())
        .merge(files::routes::router())
        .merge(secrets::routes::router())
        .merge(otel::router())
        .merge(clusters::routes::router())
        .merge(serving_control::router())
        .fallback(unknown_endpoint)
        .with_state(shared.clone())
        .merge(serving::router(shared.serving.clone()))
        .merge(admin::router(shared.clone()))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(from_fn_with_state(shared.clone(), auth::layer))
        .layer(from_fn_with_state(shared.clone(), faults::layer::layer))
        .layer(from_fn_with_state(shared, reqlog::layer::layer))
}

async fn unknown_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        format!("No API found for '{method} {}'", uri.path()),
    )
}

/// Serves until `cancel` fires.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, cancel: CancellationToken) {
    let result = axum::serve(
        KillableListener(listener),
        app.into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "emulator server stopped");
    }
}
