//! Serving endpoints: the [`EndpointSpec`] facts the data and control planes share, the default
//! catalog of foundation-model endpoints, and the control-plane JSON shape (reference §10.1).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// API type of the OpenAI-compatible chat API (also the task of chat endpoints).
pub const API_CHAT: &str = "llm/v1/chat";
/// API type of the Anthropic Messages API.
pub const API_ANTHROPIC: &str = "anthropic/v1/messages";
/// API type of the OpenAI Responses passthrough.
pub const API_RESPONSES: &str = "openai/v1/responses";
/// API type of the Gemini native API.
pub const API_GEMINI: &str = "gemini/v1/generateContent";

/// Creation time of the default catalog's endpoints (2025-01-01T00:00:00Z, in ms).
const CATALOG_CREATED_MS: u64 = 1_735_689_600_000;

/// One serving endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// Endpoint name, the `model` clients send (e.g. `databricks-claude-sonnet-4-5`).
    pub name: String,
    /// Serving task, e.g. `llm/v1/chat`.
    pub task: String,
    /// Model family: `anthropic`, `openai`, `google`, `meta` or `oss`.
    pub family: String,
    /// Human name of the served model, e.g. `Claude Sonnet 4.5`.
    pub display_name: String,
    /// Unity Catalog name of the served entity, also accepted as model id on the AI Gateway
    /// (e.g. `system.ai.claude-sonnet-4-5`).
    pub served_entity_name: String,
    /// Wire APIs the endpoint answers: [`API_CHAT`], [`API_ANTHROPIC`], [`API_RESPONSES`],
    /// [`API_GEMINI`].
    pub api_types: Vec<String>,
    /// `state.ready`: a not-ready endpoint answers queries with 503.
    pub ready: bool,
    /// Creation time, epoch milliseconds.
    pub creation_timestamp_ms: u64,
}

impl EndpointSpec {
    /// A ready chat endpoint of `family`, with the API types that family supports on Databricks
    /// (Messages only for Anthropic, Gemini only for Google, Responses only for OpenAI; Chat for
    /// all).
    pub fn chat(name: &str, family: &str, display_name: &str) -> Self {
        let mut api_types = vec![API_CHAT.to_owned()];
        match family {
            "anthropic" => api_types.push(API_ANTHROPIC.to_owned()),
            "openai" => api_types.push(API_RESPONSES.to_owned()),
            "google" => api_types.push(API_GEMINI.to_owned()),
            _ => {}
        }
        let entity = name.strip_prefix("databricks-").unwrap_or(name);
        Self {
            name: name.to_owned(),
            task: API_CHAT.to_owned(),
            family: family.to_owned(),
            display_name: display_name.to_owned(),
            served_entity_name: format!("system.ai.{entity}"),
            api_types,
            ready: true,
            creation_timestamp_ms: CATALOG_CREATED_MS,
        }
    }

    /// Whether the endpoint answers the wire API `api_type`.
    pub fn supports(&self, api_type: &str) -> bool {
        self.api_types.iter().any(|t| t == api_type)
    }

    /// Stable endpoint id (32 hex digits derived from the name).
    pub fn id(&self) -> String {
        let digest = Sha256::digest(self.name.as_bytes());
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The `ServingEndpointDetailed` JSON of `GET /api/2.0/serving-endpoints/{name}` (and one
    /// element of the list), as in reference §10.1.
    pub fn to_api_json(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id(),
            "creation_timestamp": self.creation_timestamp_ms,
            "last_updated_timestamp": self.creation_timestamp_ms,
            "state": {
                "ready": if self.ready { "READY" } else { "NOT_READY" },
                "config_update": "NOT_UPDATING",
            },
            "config": {
                "served_entities": [{
                    "name": self.name,
                    "entity_name": self.served_entity_name,
                    "foundation_model": {
                        "name": self.served_entity_name,
                        "display_name": self.display_name,
                        "description": format!("{} served as a pay-per-token foundation model.", self.display_name),
                        "docs": "https://docs.databricks.com/machine-learning/foundation-models/index.html",
                        "api_types": self.api_types,
                    },
                }],
            },
            "task": self.task,
            "endpoint_type": "FOUNDATION_MODEL_API",
            "permission_level": "CAN_QUERY",
            "route_optimized": false,
        })
    }
}

/// The default catalog: names the reference lists (§10.2), plus the models agent CLIs ask for
/// by default (OpenCode's small model `databricks-gemini-3-flash`, a Claude haiku).
pub(crate) fn default_catalog() -> Vec<EndpointSpec> {
    [
        (
            "databricks-claude-sonnet-4-5",
            "anthropic",
            "Claude Sonnet 4.5",
        ),
        (
            "databricks-claude-sonnet-4-6",
            "anthropic",
            "Claude Sonnet 4.6",
        ),
        ("databricks-claude-opus-4-1", "anthropic", "Claude Opus 4.1"),
        ("databricks-claude-opus-4-7", "anthropic", "Claude Opus 4.7"),
        (
            "databricks-claude-haiku-4-5",
            "anthropic",
            "Claude Haiku 4.5",
        ),
        ("databricks-gpt-5", "openai", "GPT-5"),
        ("databricks-gpt-5-mini", "openai", "GPT-5 mini"),
        ("databricks-gpt-5-2", "openai", "GPT-5.2"),
        ("databricks-gpt-5-5", "openai", "GPT-5.5"),
        ("databricks-gemini-2-5-pro", "google", "Gemini 2.5 Pro"),
        ("databricks-gemini-2-5-flash", "google", "Gemini 2.5 Flash"),
        ("databricks-gemini-3-1-pro", "google", "Gemini 3.1 Pro"),
        ("databricks-gemini-3-flash", "google", "Gemini 3 Flash"),
        ("databricks-gpt-oss-120b", "oss", "GPT OSS 120B"),
        (
            "databricks-meta-llama-3-3-70b-instruct",
            "meta",
            "Meta Llama 3.3 70B Instruct",
        ),
    ]
    .into_iter()
    .map(|(name, family, display)| EndpointSpec::chat(name, family, display))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_families_get_their_api_types() {
        let catalog = default_catalog();
        let sonnet = catalog
            .iter()
            .find(|e| e.name == "databricks-claude-sonnet-4-5")
            .expect("sonnet in catalog");
        assert!(sonnet.supports(API_ANTHROPIC) && sonnet.supports(API_CHAT));
        assert!(!sonnet.supports(API_RESPONSES) && !sonnet.supports(API_GEMINI));
        assert_eq!(sonnet.served_entity_name, "system.ai.claude-sonnet-4-5");
        let llama = catalog
            .iter()
            .find(|e| e.family == "meta")
            .expect("llama in catalog");
        assert_eq!(llama.api_types, vec![API_CHAT.to_owned()]);
    }

    #[test]
    fn api_json_has_reference_fields() {
        let spec = EndpointSpec::chat("databricks-gpt-5", "openai", "GPT-5");
        let v = spec.to_api_json();
        assert_eq!(v["name"], "databricks-gpt-5");
        assert_eq!(v["state"]["ready"], "READY");
        assert_eq!(v["task"], "llm/v1/chat");
        assert_eq!(
            v["config"]["served_entities"][0]["entity_name"],
            "system.ai.gpt-5"
        );
        assert_eq!(v["id"].as_str().map(str::len), Some(32));
        assert_eq!(spec.id(), spec.clone().id());
    }
}
