//! The Apps API's objects: apps, deployments, their states and statuses.

use crate::api::is_none;
use serde::{Deserialize, Serialize};

/// `compute_status.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComputeState {
    /// Running.
    Active,
    /// Starting up.
    Starting,
    /// Stopped.
    Stopped,
    /// Stopping.
    Stopping,
    /// Being updated.
    Updating,
    /// Being deleted.
    Deleting,
    /// Failed.
    Error,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// `app_status.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AppState {
    /// Deploying.
    Deploying,
    /// Running.
    Running,
    /// Crashed.
    Crashed,
    /// Unavailable.
    Unavailable,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// A deployment's `status.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentState {
    /// Running.
    InProgress,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

/// `compute_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeStatus {
    /// State.
    pub state: ComputeState,
    /// Message.
    #[serde(default, skip_serializing_if = "is_none")]
    pub message: Option<String>,
}

/// `app_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    /// State.
    pub state: AppState,
    /// Message.
    #[serde(default, skip_serializing_if = "is_none")]
    pub message: Option<String>,
}

/// A deployment's `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentStatus {
    /// State.
    pub state: DeploymentState,
    /// Message.
    #[serde(default, skip_serializing_if = "is_none")]
    pub message: Option<String>,
}

/// An environment variable of a deployment (`value` is stripped in responses).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvVar {
    /// Name.
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "is_none")]
    pub value: Option<String>,
    /// App resource key to take the value from.
    #[serde(default, skip_serializing_if = "is_none")]
    pub value_from: Option<String>,
}

/// Where the snapshot of a deployment actually runs from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentArtifacts {
    /// System-generated snapshot path.
    #[serde(default, skip_serializing_if = "is_none")]
    pub source_code_path: Option<String>,
}

/// An app deployment (request and response).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppDeployment {
    /// Deployment id (response only).
    #[serde(default, skip_serializing_if = "is_none")]
    pub deployment_id: Option<String>,
    /// Workspace path the code is copied from.
    #[serde(default, skip_serializing_if = "is_none")]
    pub source_code_path: Option<String>,
    /// `SNAPSHOT` or `AUTO_SYNC`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub mode: Option<String>,
    /// Status (response only).
    #[serde(default, skip_serializing_if = "is_none")]
    pub status: Option<DeploymentStatus>,
    /// Snapshot location (response only).
    #[serde(default, skip_serializing_if = "is_none")]
    pub deployment_artifacts: Option<DeploymentArtifacts>,
    /// Command overriding `app.yaml`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub command: Option<Vec<String>>,
    /// Environment overriding `app.yaml`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub env_vars: Option<Vec<EnvVar>>,
    /// Creation time (ISO-8601).
    #[serde(default, skip_serializing_if = "is_none")]
    pub create_time: Option<String>,
    /// Update time (ISO-8601).
    #[serde(default, skip_serializing_if = "is_none")]
    pub update_time: Option<String>,
    /// Creator's email.
    #[serde(default, skip_serializing_if = "is_none")]
    pub creator: Option<String>,
    /// Fields this client does not model, kept as they came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl AppDeployment {
    /// The deployment's state, if reported.
    pub fn state(&self) -> Option<DeploymentState> {
        self.status.as_ref().map(|s| s.state)
    }
}

/// An app (request of `create`, response of most calls).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct App {
    /// Name: lowercase letters, digits and hyphens.
    pub name: String,
    /// Id.
    #[serde(default, skip_serializing_if = "is_none")]
    pub id: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "is_none")]
    pub description: Option<String>,
    /// The app's URL.
    #[serde(default, skip_serializing_if = "is_none")]
    pub url: Option<String>,
    /// Email of the creating user (the owner).
    #[serde(default, skip_serializing_if = "is_none")]
    pub creator: Option<String>,
    /// Email of the last updater.
    #[serde(default, skip_serializing_if = "is_none")]
    pub updater: Option<String>,
    /// Creation time (ISO-8601).
    #[serde(default, skip_serializing_if = "is_none")]
    pub create_time: Option<String>,
    /// Update time (ISO-8601).
    #[serde(default, skip_serializing_if = "is_none")]
    pub update_time: Option<String>,
    /// The app's service principal client id (its `DATABRICKS_CLIENT_ID`).
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_principal_client_id: Option<String>,
    /// The app's service principal id.
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_principal_id: Option<i64>,
    /// The app's service principal name.
    #[serde(default, skip_serializing_if = "is_none")]
    pub service_principal_name: Option<String>,
    /// Compute status.
    #[serde(default, skip_serializing_if = "is_none")]
    pub compute_status: Option<ComputeStatus>,
    /// App status.
    #[serde(default, skip_serializing_if = "is_none")]
    pub app_status: Option<AppStatus>,
    /// `MEDIUM`, `LARGE`, …
    #[serde(default, skip_serializing_if = "is_none")]
    pub compute_size: Option<String>,
    /// Active deployment.
    #[serde(default, skip_serializing_if = "is_none")]
    pub active_deployment: Option<AppDeployment>,
    /// Pending deployment.
    #[serde(default, skip_serializing_if = "is_none")]
    pub pending_deployment: Option<AppDeployment>,
    /// Default source code path.
    #[serde(default, skip_serializing_if = "is_none")]
    pub default_source_code_path: Option<String>,
    /// Resources (secrets, serving endpoints, …) as JSON.
    #[serde(default, skip_serializing_if = "is_none")]
    pub resources: Option<Vec<serde_json::Value>>,
    /// User authorization scopes.
    #[serde(default, skip_serializing_if = "is_none")]
    pub user_api_scopes: Option<Vec<String>>,
    /// Effective user authorization scopes (response only).
    #[serde(default, skip_serializing_if = "is_none")]
    pub effective_user_api_scopes: Option<Vec<String>>,
    /// Fields this client does not model, kept as they came.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl App {
    /// The compute state, if reported.
    pub fn compute_state(&self) -> Option<ComputeState> {
        self.compute_status.as_ref().map(|s| s.state)
    }
}
