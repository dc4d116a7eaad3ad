//! AI Gateway probes: which model-access routes a workspace offers. Each probe is one cheap GET
//! (the ones Databricks' own coding-agent tooling uses); the outcome is recorded, never raised,
//! so callers can choose `/ai-gateway/…` or fall back to `/serving-endpoints/…`.

use crate::Client;
use crate::error::Result;
use crate::http::Request;
use serde::Deserialize;

/// Result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The route answered 2xx.
    Available,
    /// The route answered with an API error (404: not offered; 403: not allowed).
    Unavailable {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// No answer (network, timeout, credentials).
    Failed(String),
}

impl Probe {
    /// True for [`Probe::Available`].
    pub fn is_available(&self) -> bool {
        matches!(self, Probe::Available)
    }

    fn from_result<T>(r: Result<T>) -> (Probe, Option<T>) {
        match r {
            Ok(v) => (Probe::Available, Some(v)),
            Err(e) => match e.api_error() {
                Some(api) => (
                    Probe::Unavailable {
                        status: api.status,
                        message: api.message.clone(),
                    },
                    None,
                ),
                None => (Probe::Failed(e.to_string()), None),
            },
        }
    }
}

/// What the workspace offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    /// `GET /api/ai-gateway/v2/endpoints?page_size=1` (Unity AI Gateway).
    pub ai_gateway_v2: Probe,
    /// `GET /api/2.1/unity-catalog/model-services?page_size=1` (UC model services).
    pub model_services: Probe,
    /// `GET /ai-gateway/anthropic/v1/models` (the Anthropic-compatible gateway route).
    pub anthropic_route: Probe,
    /// Model ids listed by the Anthropic route, when it answered.
    pub anthropic_models: Vec<String>,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    #[serde(default)]
    id: String,
}

/// AI Gateway probe calls.
#[derive(Debug, Clone, Copy)]
pub struct GatewayApi<'a> {
    client: &'a Client,
}

impl Client {
    /// AI Gateway probes.
    pub fn gateway(&self) -> GatewayApi<'_> {
        GatewayApi { client: self }
    }
}

impl GatewayApi<'_> {
    /// Runs every probe (concurrently) and reports each outcome.
    pub async fn probe(&self) -> GatewayReport {
        let v2 = self
            .client
            .execute(Request::get("/api/ai-gateway/v2/endpoints").query("page_size", 1));
        let services = self
            .client
            .execute(Request::get("/api/2.1/unity-catalog/model-services").query("page_size", 1));
        let models = self.anthropic_models();
        let (v2, services, models) = tokio::join!(v2, services, models);
        let (anthropic_route, listed) = Probe::from_result(models);
        GatewayReport {
            ai_gateway_v2: Probe::from_result(v2).0,
            model_services: Probe::from_result(services).0,
            anthropic_route,
            anthropic_models: listed.unwrap_or_default(),
        }
    }

    /// `GET /ai-gateway/anthropic/v1/models`: model ids (`data[].id`).
    pub async fn anthropic_models(&self) -> Result<Vec<String>> {
        let list: ModelList = self
            .client
            .execute(Request::get("/ai-gateway/anthropic/v1/models"))
            .await?
            .json()?;
        Ok(list
            .data
            .into_iter()
            .map(|m| m.id)
            .filter(|id| !id.is_empty())
            .collect())
    }
}
