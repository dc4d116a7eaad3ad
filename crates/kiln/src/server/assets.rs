//! The web UI's files, embedded in the binary (or read from `KILN_UI_DIR` while developing).
//!
//! Contract with the router: [`fallback`] answers every GET the API routes do not claim, after the
//! access check.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Serves the UI file for `uri` (`/` is `index.html`), or a JSON 404.
pub async fn fallback(uri: Uri) -> Response {
    if uri.path() == "/" {
        return (
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><title>kiln</title><p>The UI is not built yet.</p>",
        )
            .into_response();
    }
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"error": "not_found", "message": "no such page"})),
    )
        .into_response()
}
