//! The gateway inside `kiln serve`: started with the server's workspace and its current-token
//! source (the credentials' token cell, so rotations reach it without any swap), and told when
//! the credentials change so fallbacks chosen before a token existed are probed again.

use super::{GatewayHandle, GatewayOptions, spawn};
use crate::credentials::Credentials;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Starts the gateway for a server; `None` (logged) when no workspace is configured or it
/// cannot start. Must run inside a tokio runtime.
pub fn spawn_for_server(
    opts: GatewayOptions,
    credentials: &Credentials,
    shutdown: CancellationToken,
) -> Option<Arc<GatewayHandle>> {
    let Some(host) = credentials.host() else {
        tracing::info!("no Databricks workspace configured: the model gateway is off");
        return None;
    };
    let handle = match spawn(opts, host.to_owned(), credentials.token_source()) {
        Ok(h) => Arc::new(h),
        Err(e) => {
            tracing::warn!(error = %e, "the model gateway could not start");
            return None;
        }
    };
    let mut changes = credentials.cell().subscribe();
    let weak = Arc::downgrade(&handle);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    let Ok(()) = changed else { break };
                    match weak.upgrade() {
                        Some(h) => h.credentials_changed(),
                        None => break,
                    }
                }
                _ = shutdown.cancelled() => break,
            }
        }
    });
    Some(handle)
}
