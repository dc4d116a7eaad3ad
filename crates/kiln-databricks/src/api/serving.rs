//! Model Serving control plane: list and get serving endpoints (`/api/2.0/serving-endpoints`).

use crate::Client;
use crate::error::Result;
use crate::http::{Request, encode_path};
use serde::Deserialize;

/// Endpoint state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EndpointState {
    /// `READY` / `NOT_READY`.
    #[serde(default)]
    pub ready: Option<String>,
    /// `NOT_UPDATING`, `IN_PROGRESS`, …
    #[serde(default)]
    pub config_update: Option<String>,
}

/// A foundation model behind an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FoundationModel {
    /// Model name.
    #[serde(default)]
    pub name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Documentation link.
    #[serde(default)]
    pub docs: Option<String>,
}

/// An entity an endpoint serves.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServedEntity {
    /// Served entity name.
    #[serde(default)]
    pub name: Option<String>,
    /// Entity (model) name.
    #[serde(default)]
    pub entity_name: Option<String>,
    /// Entity version.
    #[serde(default)]
    pub entity_version: Option<String>,
    /// Foundation model details.
    #[serde(default)]
    pub foundation_model: Option<FoundationModel>,
    /// External model configuration, as JSON.
    #[serde(default)]
    pub external_model: Option<serde_json::Value>,
}

/// Endpoint configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EndpointConfig {
    /// Served entities.
    #[serde(default)]
    pub served_entities: Vec<ServedEntity>,
}

/// A tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct EndpointTag {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: Option<String>,
}

/// A serving endpoint (list entries and `get` share this shape).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ServingEndpoint {
    /// Name (what agents put in `model`).
    #[serde(default)]
    pub name: String,
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Creator.
    #[serde(default)]
    pub creator: Option<String>,
    /// Creation time, epoch ms.
    #[serde(default)]
    pub creation_timestamp: Option<i64>,
    /// Last update, epoch ms.
    #[serde(default)]
    pub last_updated_timestamp: Option<i64>,
    /// State.
    #[serde(default)]
    pub state: Option<EndpointState>,
    /// Configuration.
    #[serde(default)]
    pub config: Option<EndpointConfig>,
    /// Task, e.g. `llm/v1/chat`.
    #[serde(default)]
    pub task: Option<String>,
    /// AI Gateway configuration, as JSON.
    #[serde(default)]
    pub ai_gateway: Option<serde_json::Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<EndpointTag>,
    /// The caller's permission level.
    #[serde(default)]
    pub permission_level: Option<String>,
    /// Endpoint URL.
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

impl ServingEndpoint {
    /// True when the endpoint reports `READY`.
    pub fn is_ready(&self) -> bool {
        self.state.as_ref().and_then(|s| s.ready.as_deref()) == Some("READY")
    }
}

#[derive(Deserialize)]
struct ListBody {
    #[serde(default)]
    endpoints: Vec<ServingEndpoint>,
}

/// Serving endpoint calls.
#[derive(Debug, Clone, Copy)]
pub struct ServingApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Model Serving (control plane) calls.
    pub fn serving(&self) -> ServingApi<'_> {
        ServingApi { client: self }
    }
}

impl ServingApi<'_> {
    /// `GET /api/2.0/serving-endpoints`.
    pub async fn list(&self) -> Result<Vec<ServingEndpoint>> {
        let body: ListBody = self
            .client
            .execute(Request::get("/api/2.0/serving-endpoints"))
            .await?
            .json()?;
        Ok(body.endpoints)
    }

    /// `GET /api/2.0/serving-endpoints/{name}`.
    pub async fn get(&self, name: &str) -> Result<ServingEndpoint> {
        if name.contains('/') {
            return Err(crate::Error::InvalidInput(format!(
                "endpoint name {name:?} contains '/'"
            )));
        }
        let path = format!(
            "/api/2.0/serving-endpoints{}",
            encode_path(&format!("/{name}"))?
        );
        self.client.execute(Request::get(path)).await?.json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_shapes() {
        let l: ListBody = serde_json::from_str(
            r#"{"endpoints":[{"name":"databricks-claude-sonnet-4-5","state":{"ready":"READY","config_update":"NOT_UPDATING"},
                "config":{"served_entities":[{"name":"x","foundation_model":{"name":"claude","display_name":"Claude"}}]},
                "task":"llm/v1/chat","tags":[{"key":"k"}],"brand_new":true}]}"#,
        )
        .unwrap();
        assert_eq!(l.endpoints.len(), 1);
        assert!(l.endpoints[0].is_ready());
        let fm = l.endpoints[0].config.as_ref().unwrap().served_entities[0]
            .foundation_model
            .as_ref()
            .unwrap();
        assert_eq!(fm.display_name.as_deref(), Some("Claude"));
        let empty: ListBody = serde_json::from_str("{}").unwrap();
        assert!(empty.endpoints.is_empty());
    }
}
