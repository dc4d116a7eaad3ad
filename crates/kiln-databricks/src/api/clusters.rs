//! Clusters: create, edit, get, list, start, terminate (`delete`), permanent delete, and waiting
//! for a state (`/api/2.1/clusters/...`). Specs keep fields this client does not model.

use super::is_none;
use crate::Client;
use crate::error::Result;
use crate::http::Request;
use crate::wait::{Poll, wait_for};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Cluster state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClusterState {
    /// Being created or started.
    Pending,
    /// Up.
    Running,
    /// Restarting.
    Restarting,
    /// Resizing.
    Resizing,
    /// Shutting down.
    Terminating,
    /// Down.
    Terminated,
    /// Failed.
    Error,
    /// Unknown (also any state this client does not know).
    #[serde(other)]
    Unknown,
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!("{self:?}").to_ascii_uppercase())
    }
}

/// A `{destination}` location.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Path or URI.
    pub destination: String,
}

impl Destination {
    /// A destination.
    pub fn new(destination: impl Into<String>) -> Self {
        Self {
            destination: destination.into(),
        }
    }
}

/// An init script location: exactly one field set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitScriptInfo {
    /// Workspace file.
    #[serde(default, skip_serializing_if = "is_none")]
    pub workspace: Option<Destination>,
    /// Unity Catalog volume file.
    #[serde(default, skip_serializing_if = "is_none")]
    pub volumes: Option<Destination>,
    /// Local file on the node.
    #[serde(default, skip_serializing_if = "is_none")]
    pub file: Option<Destination>,
    /// Other kinds (s3, abfss, gcs, dbfs) as JSON.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// Autoscaling bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoScale {
    /// Minimum workers.
    pub min_workers: i32,
    /// Maximum workers.
    pub max_workers: i32,
}

/// The writable part of a cluster (create / edit request; `spec` in responses).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Name.
    #[serde(default, skip_serializing_if = "is_none")]
    pub cluster_name: Option<String>,
    /// Runtime version, e.g. `15.4.x-scala2.12` (required).
    #[serde(default)]
    pub spark_version: String,
    /// Node type.
    #[serde(default, skip_serializing_if = "is_none")]
    pub node_type_id: Option<String>,
    /// Driver node type.
    #[serde(default, skip_serializing_if = "is_none")]
    pub driver_node_type_id: Option<String>,
    /// `CLASSIC_PREVIEW` enables `is_single_node` / `use_ml_runtime`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub kind: Option<String>,
    /// Single node (with `kind = CLASSIC_PREVIEW`).
    #[serde(default, skip_serializing_if = "is_none")]
    pub is_single_node: Option<bool>,
    /// ML runtime (with `kind = CLASSIC_PREVIEW`).
    #[serde(default, skip_serializing_if = "is_none")]
    pub use_ml_runtime: Option<bool>,
    /// Fixed worker count.
    #[serde(default, skip_serializing_if = "is_none")]
    pub num_workers: Option<i32>,
    /// Autoscaling.
    #[serde(default, skip_serializing_if = "is_none")]
    pub autoscale: Option<AutoScale>,
    /// Access mode, e.g. `DATA_SECURITY_MODE_DEDICATED`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub data_security_mode: Option<String>,
    /// Assigned user for dedicated mode.
    #[serde(default, skip_serializing_if = "is_none")]
    pub single_user_name: Option<String>,
    /// Minutes of inactivity before termination (0 disables).
    #[serde(default, skip_serializing_if = "is_none")]
    pub autotermination_minutes: Option<i32>,
    /// Environment variables for init scripts and processes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_env_vars: BTreeMap<String, String>,
    /// Spark configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub spark_conf: BTreeMap<String, String>,
    /// Tags (at most 45).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_tags: BTreeMap<String, String>,
    /// Init scripts, run in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_scripts: Vec<InitScriptInfo>,
    /// Log delivery, as JSON.
    #[serde(default, skip_serializing_if = "is_none")]
    pub cluster_log_conf: Option<serde_json::Value>,
    /// Policy.
    #[serde(default, skip_serializing_if = "is_none")]
    pub policy_id: Option<String>,
    /// `STANDARD` or `PHOTON`.
    #[serde(default, skip_serializing_if = "is_none")]
    pub runtime_engine: Option<String>,
    /// Fields this client does not model (cloud attributes, pools, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A cluster as `get` / `list` return it: the spec plus state.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterDetails {
    /// Id.
    #[serde(default)]
    pub cluster_id: String,
    /// State.
    #[serde(default)]
    pub state: Option<ClusterState>,
    /// Explanation of the state.
    #[serde(default)]
    pub state_message: Option<String>,
    /// Creator.
    #[serde(default)]
    pub creator_user_name: Option<String>,
    /// Start time, epoch ms.
    #[serde(default)]
    pub start_time: Option<i64>,
    /// Termination time, epoch ms.
    #[serde(default)]
    pub terminated_time: Option<i64>,
    /// Why it terminated, as JSON (`code`, `type`, `parameters`).
    #[serde(default)]
    pub termination_reason: Option<serde_json::Value>,
    /// The requested spec, echoed.
    #[serde(default)]
    pub spec: Option<ClusterSpec>,
    /// The cluster's fields (top level), including ones this client does not model.
    #[serde(flatten)]
    pub fields: ClusterSpec,
}

#[derive(Deserialize)]
struct ListPage {
    #[serde(default)]
    clusters: Vec<ClusterDetails>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    cluster_id: String,
}

#[derive(Serialize)]
struct EditBody<'a> {
    cluster_id: &'a str,
    #[serde(flatten)]
    spec: &'a ClusterSpec,
}

/// Clusters calls.
#[derive(Debug, Clone, Copy)]
pub struct ClustersApi<'a> {
    client: &'a Client,
}

impl Client {
    /// Clusters calls.
    pub fn clusters(&self) -> ClustersApi<'_> {
        ClustersApi { client: self }
    }
}

impl ClustersApi<'_> {
    /// `POST /api/2.1/clusters/create`: the new cluster's id (it starts `PENDING`).
    pub async fn create(&self, spec: &ClusterSpec) -> Result<String> {
        let req = Request::post("/api/2.1/clusters/create").json(spec)?;
        let created: Created = self.client.execute(req).await?.json()?;
        Ok(created.cluster_id)
    }

    /// `POST /api/2.1/clusters/edit` with the full spec (only `RUNNING` or `TERMINATED`
    /// clusters; otherwise [`crate::Error::InvalidState`]).
    pub async fn edit(&self, cluster_id: &str, spec: &ClusterSpec) -> Result<()> {
        let req = Request::post("/api/2.1/clusters/edit")
            .json(&EditBody { cluster_id, spec })?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `GET /api/2.1/clusters/get` (unknown id: [`crate::Error::NotFound`]).
    pub async fn get(&self, cluster_id: &str) -> Result<ClusterDetails> {
        let req = Request::get("/api/2.1/clusters/get").query("cluster_id", cluster_id);
        self.client.execute(req).await?.json()
    }

    /// `GET /api/2.1/clusters/list`, following `next_page_token` to the end.
    pub async fn list(&self) -> Result<Vec<ClusterDetails>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = Request::get("/api/2.1/clusters/list");
            if let Some(t) = &token {
                req = req.query("page_token", t);
            }
            let page: ListPage = self.client.execute(req).await?.json()?;
            out.extend(page.clusters);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    async fn action(&self, action: &str, cluster_id: &str) -> Result<()> {
        let req = Request::post(format!("/api/2.1/clusters/{action}"))
            .json(&serde_json::json!({ "cluster_id": cluster_id }))?
            .idempotent();
        self.client.execute(req).await?;
        Ok(())
    }

    /// `POST /api/2.1/clusters/start` (a terminated cluster).
    pub async fn start(&self, cluster_id: &str) -> Result<()> {
        self.action("start", cluster_id).await
    }

    /// `POST /api/2.1/clusters/delete`: terminates (the cluster stays listed).
    pub async fn delete(&self, cluster_id: &str) -> Result<()> {
        self.action("delete", cluster_id).await
    }

    /// `POST /api/2.1/clusters/permanent-delete`.
    pub async fn permanent_delete(&self, cluster_id: &str) -> Result<()> {
        self.action("permanent-delete", cluster_id).await
    }

    /// Polls until the cluster is in `target`. Waiting for `RUNNING` fails early on
    /// `TERMINATED` / `ERROR`; any other target fails early on `ERROR`.
    pub async fn wait_for_state(
        &self,
        cluster_id: &str,
        target: ClusterState,
        timeout: Duration,
    ) -> Result<ClusterDetails> {
        let what = format!("cluster {cluster_id}");
        wait_for(
            &what,
            &target.to_string(),
            timeout,
            self.client.max_poll_interval(),
            || async {
                let c = self.get(cluster_id).await?;
                let state = c.state.unwrap_or(ClusterState::Unknown);
                let message = c.state_message.clone().unwrap_or_default();
                Ok(match state {
                    s if s == target => Poll::Ready(c),
                    ClusterState::Error => Poll::Failed {
                        state: state.to_string(),
                        message,
                    },
                    ClusterState::Terminated if target == ClusterState::Running => Poll::Failed {
                        state: state.to_string(),
                        message,
                    },
                    s => Poll::Pending(s.to_string()),
                })
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_serialization_is_minimal_and_keeps_extras() {
        let mut spec = ClusterSpec {
            cluster_name: Some("agents-alice".into()),
            spark_version: "15.4.x-scala2.12".into(),
            kind: Some("CLASSIC_PREVIEW".into()),
            is_single_node: Some(true),
            init_scripts: vec![InitScriptInfo {
                volumes: Some(Destination::new("/Volumes/main/agents/scripts/init.sh")),
                ..InitScriptInfo::default()
            }],
            ..ClusterSpec::default()
        };
        spec.spark_env_vars
            .insert("AGENTS_HOST".into(), "https://h".into());
        spec.extra.insert(
            "aws_attributes".into(),
            serde_json::json!({"availability":"SPOT"}),
        );
        let v = serde_json::to_value(EditBody {
            cluster_id: "c1",
            spec: &spec,
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "cluster_id": "c1",
                "cluster_name": "agents-alice",
                "spark_version": "15.4.x-scala2.12",
                "kind": "CLASSIC_PREVIEW",
                "is_single_node": true,
                "spark_env_vars": {"AGENTS_HOST": "https://h"},
                "init_scripts": [{"volumes": {"destination": "/Volumes/main/agents/scripts/init.sh"}}],
                "aws_attributes": {"availability": "SPOT"}
            })
        );
    }

    #[test]
    fn details_parse() {
        let d: ClusterDetails = serde_json::from_str(
            r#"{"cluster_id":"0821-101500-abcd1234","state":"PENDING","state_message":"Starting",
                "cluster_name":"x","spark_version":"15.4.x-scala2.12",
                "init_scripts":[{"workspace":{"destination":"/Workspace/a.sh"}},{"s3":{"destination":"s3://b","region":"r"}}],
                "spec":{"spark_version":"15.4.x-scala2.12"},"default_tags":{"Vendor":"Databricks"}}"#,
        )
        .unwrap();
        assert_eq!(d.state, Some(ClusterState::Pending));
        assert_eq!(d.fields.cluster_name.as_deref(), Some("x"));
        assert_eq!(d.fields.init_scripts.len(), 2);
        assert!(d.fields.init_scripts[1].other.contains_key("s3"));
        assert!(d.fields.extra.contains_key("default_tags"));
        let odd: ClusterDetails =
            serde_json::from_str(r#"{"cluster_id":"c","state":"HIBERNATING"}"#).unwrap();
        assert_eq!(odd.state, Some(ClusterState::Unknown));
        assert_eq!(ClusterState::Terminated.to_string(), "TERMINATED");
    }
}
