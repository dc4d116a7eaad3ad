//! `GET /health` (public, minimal) and `GET /api/status` (server, sessions, memory, and the
//! owner and token state under `credentials`).

use super::AppState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn status(State(st): State<AppState>) -> Json<Value> {
    let cap = st.manager.capacity();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": st.started.elapsed().as_secs(),
        "sessions": {"live": cap.live, "exited": cap.exited, "limit": cap.limit},
        "memory": {"available_bytes": cap.available_memory, "min_available_bytes": cap.min_available_memory},
        "ring_bytes": st.manager.options().ring_bytes,
        "credentials": st.credentials.status(),
    }))
}
