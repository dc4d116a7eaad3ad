//! Upstream probes: one cheap request per flavour that tells whether a gateway route exists —
//! Anthropic's model list, or a POST of `{}` that a real route refuses as invalid (no model is
//! called, no tokens are used) — and how to read the answer.

use super::paths::Flavour;
use kiln_databricks::Secret;
use std::time::Duration;

/// The model name used in probes that need one in the path.
const PROBE_MODEL: &str = "kiln-probe";

/// What a probe found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// The route exists.
    Available(String),
    /// The route is not offered.
    Absent(String),
    /// No telling (credentials, throttling, server errors, no connection).
    Inconclusive(String),
}

/// Classifies a probe answer by status and body. A route that exists answers anything but a
/// routing 404 (an invalid body gives 400; Gemini's probe model is unknown: 404
/// `RESOURCE_DOES_NOT_EXIST`).
pub fn classify_probe(what: &str, status: u16, body: &str) -> Probe {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error_code")
                .and_then(|c| c.as_str().map(str::to_owned))
        });
    let detail = format!(
        "{what} answered {status}{}",
        code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
    );
    match status {
        200..=299 | 400 | 405 | 413 | 415 | 422 => Probe::Available(detail),
        404 if code.as_deref() == Some("RESOURCE_DOES_NOT_EXIST") => Probe::Available(detail),
        404 => Probe::Absent(detail),
        401 => Probe::Inconclusive(detail),
        403 if body.contains("Invalid access token") || body.contains("expir") => {
            Probe::Inconclusive(detail)
        }
        403 => Probe::Absent(detail),
        _ => Probe::Inconclusive(detail),
    }
}

/// One probe of `base` for `flavour`: the Anthropic model list, or a POST of `{}` that a
/// real route refuses as invalid (no model is called, no tokens are used).
pub async fn probe(
    http: &reqwest::Client,
    timeout: Duration,
    base: &str,
    flavour: Flavour,
    token: &Secret,
) -> Probe {
    let (req, what) = match flavour {
        Flavour::Anthropic => (http.get(format!("{base}/v1/models")), "GET /v1/models"),
        Flavour::Responses => (http.post(format!("{base}/responses")), "POST /responses"),
        Flavour::Chat => (
            http.post(format!("{base}/chat/completions")),
            "POST /chat/completions",
        ),
        Flavour::Gemini => (
            http.post(format!(
                "{base}/v1beta/models/{PROBE_MODEL}:generateContent"
            )),
            "POST generateContent",
        ),
    };
    let req = if flavour == Flavour::Anthropic {
        req
    } else {
        req.header("content-type", "application/json").body("{}")
    };
    let sent = req
        .bearer_auth(token.expose())
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let body = r.text().await.unwrap_or_default();
            classify_probe(what, status, &body)
        }
        Err(e) => Probe::Inconclusive(format!(
            "{what} failed: {}",
            crate::http::client::error_chain(&e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers() {
        assert!(matches!(
            classify_probe("x", 200, "{}"),
            Probe::Available(_)
        ));
        assert!(matches!(
            classify_probe("x", 400, r#"{"error_code":"INVALID_PARAMETER_VALUE"}"#),
            Probe::Available(_)
        ));
        assert!(matches!(
            classify_probe("x", 404, r#"{"error_code":"RESOURCE_DOES_NOT_EXIST"}"#),
            Probe::Available(_)
        ));
        assert!(matches!(
            classify_probe("x", 404, r#"{"error_code":"ENDPOINT_NOT_FOUND"}"#),
            Probe::Absent(_)
        ));
        assert!(matches!(
            classify_probe("x", 404, "<html>"),
            Probe::Absent(_)
        ));
        assert!(matches!(
            classify_probe(
                "x",
                403,
                r#"{"error_code":"FEATURE_DISABLED","message":"AI Gateway is not enabled"}"#
            ),
            Probe::Absent(_)
        ));
        assert!(matches!(
            classify_probe(
                "x",
                403,
                r#"{"error_code":403,"message":"Invalid access token."}"#
            ),
            Probe::Inconclusive(_)
        ));
        assert!(matches!(
            classify_probe("x", 401, ""),
            Probe::Inconclusive(_)
        ));
        assert!(matches!(
            classify_probe("x", 503, ""),
            Probe::Inconclusive(_)
        ));
        assert!(matches!(
            classify_probe("x", 429, ""),
            Probe::Inconclusive(_)
        ));
    }
}
