//! `GET /api/settings` and `PUT /api/settings`: the web UI's settings and layout, kept by kiln for
//! its owner in `~/.kiln/ui-settings.json` (0600, written atomically), so they come back in
//! another browser or after a reload. The server checks the shape (known keys, types, ranges, at
//! most [`MAX_BYTES`]) and keeps the layout (tabs, panes, names) as the UI sent it, bounded in
//! size and depth. A refused PUT changes nothing and says why; a file that no longer parses reads
//! as no settings (the next PUT replaces it).

use super::AppState;
use crate::http::error::AppError;
use crate::state;
use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// Largest settings document (request body and file).
pub const MAX_BYTES: usize = 64 << 10;
/// Deepest nesting of the layout (panes split inside panes).
const MAX_DEPTH: usize = 24;
/// File name inside `~/.kiln`.
pub const FILE_NAME: &str = "ui-settings.json";

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/settings", get(read).put(write))
}

/// Where the settings of the owner whose home is `home` live.
pub fn path_for(home: &Path) -> PathBuf {
    home.join(state::DIR_NAME).join(FILE_NAME)
}

async fn read(State(st): State<AppState>) -> Result<Json<Value>, AppError> {
    let path = st.settings_file.clone();
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(&path))
        .await
        .map_err(|e| AppError::internal("reading the settings", e))?;
    let settings = match bytes {
        Ok(b) => match serde_json::from_slice::<Value>(&b) {
            Ok(v) if validate(&v).is_ok() => v,
            Ok(_) | Err(_) => {
                tracing::warn!(path = %st.settings_file.display(), "ignoring unreadable UI settings");
                json!({})
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(AppError::internal("reading the settings", e)),
    };
    Ok(Json(json!({ "settings": settings })))
}

async fn write(State(st): State<AppState>, req: Request) -> Result<Json<Value>, AppError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BYTES)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("settings are limited to {} KiB", MAX_BYTES >> 10),
            )
        })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| AppError::bad_request(format!("malformed JSON body: {e}")))?;
    validate(&value).map_err(AppError::bad_request)?;
    let path = st.settings_file.clone();
    let text = serde_json::to_vec_pretty(&value)
        .map_err(|e| AppError::internal("encoding the settings", e))?;
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            state::ensure_private_dir(dir)?;
        }
        state::write_private(&path, &text)
    })
    .await
    .map_err(|e| AppError::internal("saving the settings", e))?
    .map_err(|e| AppError::internal("saving the settings", e))?;
    Ok(Json(json!({ "settings": value })))
}

/// Checks a settings document: an object of known keys with values of the right type and range.
pub fn validate(v: &Value) -> Result<(), String> {
    let obj = v.as_object().ok_or("settings must be a JSON object")?;
    for (key, value) in obj {
        match key.as_str() {
            "version" => int_in(key, value, 1, 1000)?,
            "theme" => string_of(key, value, 64, |s| {
                s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })?,
            "font_family" => string_of(key, value, 64, |s| {
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
            })?,
            "font_size" => int_in(key, value, 8, 32)?,
            "cursor" => one_of(key, value, &["block", "bar", "underline"])?,
            "cursor_blink" | "copy_on_select" | "paste_confirm" | "first_run_seen" => {
                if !value.is_boolean() {
                    return Err(format!("{key} must be true or false"));
                }
            }
            "scrollback" => int_in(key, value, 0, 100_000)?,
            "layout" => layout(value, 0)?,
            "keys" => keys(value)?,
            other => return Err(format!("unknown setting {other:?}")),
        }
    }
    Ok(())
}

fn int_in(key: &str, v: &Value, lo: i64, hi: i64) -> Result<(), String> {
    match v.as_i64() {
        Some(n) if (lo..=hi).contains(&n) => Ok(()),
        _ => Err(format!("{key} must be a whole number from {lo} to {hi}")),
    }
}

fn one_of(key: &str, v: &Value, allowed: &[&str]) -> Result<(), String> {
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(()),
        _ => Err(format!("{key} must be one of {}", allowed.join(", "))),
    }
}

fn string_of(key: &str, v: &Value, max: usize, ok: impl Fn(&str) -> bool) -> Result<(), String> {
    match v.as_str() {
        Some(s) if !s.is_empty() && s.len() <= max && ok(s) => Ok(()),
        _ => Err(format!(
            "{key} must be a name of at most {max} letters, digits, spaces or dashes"
        )),
    }
}

/// Key bindings: an object of at most 64 action names to key combinations ("Ctrl+Shift+T"),
/// each a short string of letters, digits, `+` and the punctuation keys name.
fn keys(v: &Value) -> Result<(), String> {
    let map = v
        .as_object()
        .ok_or("keys must be an object of action names to key combinations")?;
    if map.len() > 64 {
        return Err("keys may bind at most 64 actions".into());
    }
    for (action, combo) in map {
        let action_ok = !action.is_empty()
            && action.len() <= 32
            && action
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !action_ok {
            return Err(format!("keys: {action:?} is not an action name"));
        }
        let combo_ok = combo.as_str().is_some_and(|s| {
            !s.is_empty() && s.len() <= 40 && s.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        });
        if !combo_ok {
            return Err(format!(
                "keys: {action} must be a key combination such as Ctrl+Shift+T"
            ));
        }
    }
    Ok(())
}

/// The layout is the UI's own (tabs, panes, names); only its nesting is bounded here (its size
/// is bounded by [`MAX_BYTES`]).
fn layout(v: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("layout is nested deeper than {MAX_DEPTH} levels"));
    }
    match v {
        Value::Array(items) => items.iter().try_for_each(|i| layout(i, depth + 1)),
        Value::Object(map) => map_values(map, depth),
        _ => Ok(()),
    }
}

fn map_values(map: &Map<String, Value>, depth: usize) -> Result<(), String> {
    map.values().try_for_each(|i| layout(i, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_known_settings_and_refuses_the_rest() {
        assert!(validate(&json!({})).is_ok());
        assert!(
            validate(
                &json!({"theme": "solarized-light", "font_size": 14, "cursor": "bar",
            "scrollback": 5000, "copy_on_select": true, "layout": {"tabs": [{"label": "a"}]}})
            )
            .is_ok()
        );
        assert!(validate(&json!([])).is_err());
        assert!(validate(&json!({"font_size": 7})).is_err());
        assert!(validate(&json!({"font_size": 33})).is_err());
        assert!(validate(&json!({"font_size": "14"})).is_err());
        assert!(validate(&json!({"cursor": "blob"})).is_err());
        assert!(validate(&json!({"theme": "</style>"})).is_err());
        assert!(validate(&json!({"scrollback": -1})).is_err());
        assert!(validate(&json!({"evil": 1})).is_err());
        assert!(validate(&json!({"keys": {"new-tab": "Ctrl+Alt+T", "leave": ""}})).is_err());
        assert!(validate(&json!({"keys": {"new-tab": 1}})).is_err());
        assert!(validate(&json!({"keys": {"new tab": "Ctrl+T"}})).is_err());
        assert!(validate(&json!({"keys": {"new-tab": "Ctrl+Alt+T"}})).is_ok());
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(validate(&json!({ "layout": deep })).is_err());
    }
}
