//! Cluster records, the state machine, init-script recording and the ClusterDetails JSON
//! (`databricks-api.md` §8).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::apps::model::secs_ms;
use crate::files::{self, Volumes};
use crate::settings::StateDelays;
use crate::workspace::tree::{self, Tree};

/// Cluster states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Starting.
    Pending,
    /// Up.
    Running,
    /// Restarting (edit or restart).
    Restarting,
    /// Stopping.
    Terminating,
    /// Stopped.
    Terminated,
}

impl State {
    /// API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Restarting => "RESTARTING",
            Self::Terminating => "TERMINATING",
            Self::Terminated => "TERMINATED",
        }
    }

    /// Spelling used in `INVALID_STATE` messages ("Running").
    pub fn title(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Restarting => "Restarting",
            Self::Terminating => "Terminating",
            Self::Terminated => "Terminated",
        }
    }
}

/// One init script as the emulated cluster found it when it started.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RecordedInitScript {
    /// `workspace`, `volumes`, `file`, `dbfs`, `s3`, `abfss` or `gcs`.
    pub kind: String,
    /// The configured destination.
    pub destination: String,
    /// The script's bytes for `workspace` / `volumes` scripts that exist; `None` otherwise.
    pub content: Option<Vec<u8>>,
    /// Environment the script would run with: `DB_*` variables plus `spark_env_vars`.
    pub env: BTreeMap<String, String>,
    /// Emulator time of the start that ran it (epoch ms).
    pub run_ms: i64,
}

/// A cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `MMDD-HHMMSS-xxxxxxxx`.
    pub id: String,
    /// The request as received (echoed as `spec`).
    pub request: Map<String, Value>,
    /// Effective settings (request plus server-side defaults).
    pub effective: Map<String, Value>,
    /// Creator's user name.
    pub creator: String,
    /// State.
    pub state: State,
    /// `state_message`.
    pub message: String,
    /// Pending transition.
    pub next: Option<(i64, State)>,
    /// Last time it reached RUNNING (ms).
    pub start_ms: Option<i64>,
    /// When it terminated (ms).
    pub terminated_ms: Option<i64>,
    /// `termination_reason`.
    pub termination_reason: Option<Value>,
    /// Reason to use when the pending TERMINATED transition lands.
    pub pending_reason: Option<Value>,
    /// Init scripts of the latest start.
    pub init_runs: Vec<RecordedInitScript>,
    /// Spark context id of the current run.
    pub spark_context_id: u64,
}

impl Cluster {
    /// Starts a transition now.
    pub fn begin(&mut self, now: i64, through: State, to: State, secs: u64, message: &str) {
        self.state = through;
        self.message = message.to_string();
        self.next = Some((now + secs_ms(secs), to));
    }

    fn autoterminate_ms(&self) -> Option<i64> {
        let minutes = self.effective.get("autotermination_minutes")?.as_i64()?;
        (minutes > 0).then(|| self.start_ms.unwrap_or(0) + minutes * 60_000)
    }

    fn init_scripts(&self) -> Vec<(String, String)> {
        let Some(list) = self.effective.get("init_scripts").and_then(Value::as_array) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|s| {
                let obj = s.as_object()?;
                let (kind, v) = obj.iter().next()?;
                Some((kind.clone(), v.get("destination")?.as_str()?.to_string()))
            })
            .collect()
    }

    fn script_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        if let Some(vars) = self
            .effective
            .get("spark_env_vars")
            .and_then(Value::as_object)
        {
            for (k, v) in vars {
                if let Some(s) = v.as_str() {
                    env.insert(k.clone(), s.to_string());
                }
            }
        }
        let name = self
            .effective
            .get("cluster_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let node = self
            .effective
            .get("node_type_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for (k, v) in [
            ("DB_CLUSTER_ID", self.id.as_str()),
            ("DB_CLUSTER_NAME", name),
            ("DB_CONTAINER_IP", "10.0.0.2"),
            ("DB_DRIVER_IP", "10.0.0.2"),
            ("DB_INSTANCE_TYPE", node),
            ("DB_IS_DRIVER", "TRUE"),
            ("DB_IS_JOB_CLUSTER", "FALSE"),
        ] {
            env.insert(k.to_string(), v.to_string());
        }
        env
    }

    /// Reads every init script; the first missing workspace/volume script fails the start, so
    /// does an unresolvable secret reference in `spark_env_vars` or a simulated script failure.
    fn run_init_scripts(&mut self, at: i64, inputs: &StartInputs<'_>) -> Result<(), Value> {
        let (tree, volumes) = (inputs.tree, inputs.volumes);
        let mut env = self.script_env();
        for value in env.values_mut() {
            match inputs.secrets.resolve(value) {
                Ok(v) => *value = v,
                Err(reference) => {
                    return Err(json!({
                        "code": "SECRET_RESOLUTION_ERROR",
                        "type": "CLIENT_ERROR",
                        "parameters": {
                            "databricks_error_message": format!(
                                "Failed to resolve the secret reference {{{{{reference}}}}} in spark_env_vars: the scope or key does not exist, or the cluster owner lacks READ on the scope"
                            )
                        }
                    }));
                }
            }
        }
        self.init_runs.clear();
        for (kind, dest) in self.init_scripts() {
            let content = match kind.as_str() {
                "workspace" => tree::read_file(tree, &dest),
                "volumes" => files::read_file(volumes, &dest),
                _ => None,
            };
            let missing = matches!(kind.as_str(), "workspace" | "volumes") && content.is_none();
            self.init_runs.push(RecordedInitScript {
                kind: kind.clone(),
                destination: dest.clone(),
                content: content.map(|b| b.to_vec()),
                env: env.clone(),
                run_ms: at,
            });
            if missing {
                return Err(init_failure(
                    &dest,
                    "Script does not exist or could not be read",
                ));
            }
            if let Some(why) = inputs.init_script_failure {
                return Err(init_failure(&dest, why));
            }
        }
        Ok(())
    }

    fn settle(&mut self, now: i64, inputs: &StartInputs<'_>) {
        loop {
            if let Some((at, to)) = self.next.filter(|(at, _)| *at <= now) {
                self.next = None;
                match to {
                    State::Running => match self.run_init_scripts(at, inputs) {
                        Ok(()) => {
                            self.state = State::Running;
                            self.message = String::new();
                            self.start_ms = Some(at);
                            self.terminated_ms = None;
                            self.termination_reason = None;
                            self.spark_context_id = crate::ids::numeric_id();
                        }
                        Err(reason) => self.terminate_at(at, reason),
                    },
                    _ => {
                        let reason = self
                            .pending_reason
                            .take()
                            .unwrap_or_else(|| json!({"code": "USER_REQUEST", "type": "SUCCESS"}));
                        self.terminate_at(at, reason);
                    }
                }
                continue;
            }
            if self.state == State::Running
                && self.next.is_none()
                && let Some(at) = self.autoterminate_ms().filter(|at| *at <= now)
            {
                self.terminate_at(at, json!({
                    "code": "INACTIVITY",
                    "type": "SUCCESS",
                    "parameters": {"inactivity_duration_min": self.effective.get("autotermination_minutes").cloned().unwrap_or(Value::Null).to_string()}
                }));
                continue;
            }
            break;
        }
    }

    fn terminate_at(&mut self, at: i64, reason: Value) {
        self.state = State::Terminated;
        self.message = match reason["code"].as_str() {
            Some("INIT_SCRIPT_FAILURE") => "Init script failure".to_string(),
            Some("SECRET_RESOLUTION_ERROR") => "Secret resolution error".to_string(),
            Some("INACTIVITY") => "Inactive cluster terminated".to_string(),
            _ => "Termination requested by user".to_string(),
        };
        self.terminated_ms = Some(at);
        self.termination_reason = Some(reason);
    }

    /// ClusterDetails JSON.
    pub fn render(&self, node_types: &[Value]) -> Value {
        let mut v = Value::Object(self.effective.clone());
        let node = self
            .effective
            .get("node_type_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(nt) = node_types.iter().find(|n| n["node_type_id"] == node) {
            let workers = self
                .effective
                .get("num_workers")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            v["cluster_memory_mb"] = json!(nt["memory_mb"].as_i64().unwrap_or(0) * (workers + 1));
            v["cluster_cores"] =
                json!(nt["num_cores"].as_f64().unwrap_or(0.0) * (workers + 1) as f64);
        }
        if !self.effective.contains_key("driver_node_type_id") && !node.is_empty() {
            v["driver_node_type_id"] = json!(node);
        }
        v["cluster_id"] = json!(self.id);
        v["creator_user_name"] = json!(self.creator);
        v["state"] = json!(self.state.as_str());
        v["state_message"] = json!(self.message);
        v["cluster_source"] = json!("API");
        v["spec"] = Value::Object(self.request.clone());
        v["default_tags"] = json!({
            "Vendor": "Databricks",
            "Creator": self.creator,
            "ClusterName": self.effective.get("cluster_name").cloned().unwrap_or(json!("")),
            "ClusterId": self.id,
        });
        if let Some(s) = self.start_ms {
            v["start_time"] = json!(s);
        }
        if let Some(t) = self.terminated_ms {
            v["terminated_time"] = json!(t);
        }
        if let Some(r) = &self.termination_reason {
            v["termination_reason"] = r.clone();
        }
        if self.state == State::Running {
            v["spark_context_id"] = json!(self.spark_context_id);
            v["jdbc_port"] = json!(10000);
            v["driver"] = json!({"node_id": "emulator-driver", "private_ip": "10.0.0.2",
                                 "start_timestamp": self.start_ms.unwrap_or(0)});
        }
        v
    }
}

/// What a cluster start reads besides the cluster: the files its init scripts live in, the
/// secrets its `spark_env_vars` reference, and the simulated script failure.
pub struct StartInputs<'a> {
    /// Workspace files.
    pub tree: &'a Tree,
    /// Volume files.
    pub volumes: &'a Volumes,
    /// Secret scopes.
    pub secrets: &'a crate::secrets::Secrets,
    /// `Settings::init_script_failure`.
    pub init_script_failure: Option<&'a str>,
}

/// The `termination_reason` of a failed init script.
fn init_failure(dest: &str, why: &str) -> Value {
    json!({
        "code": "INIT_SCRIPT_FAILURE",
        "type": "CLIENT_ERROR",
        "parameters": {
            "instance_id": "i-0emulator",
            "databricks_error_message": format!("Cluster scoped init script {dest} failed: {why}")
        }
    })
}

/// All clusters by id.
#[derive(Debug, Default)]
pub struct Clusters {
    /// Clusters by id (permanently deleted ones are removed).
    pub by_id: BTreeMap<String, Cluster>,
}

impl Clusters {
    /// Moves every cluster to `now`.
    pub fn settle(&mut self, now: i64, _delays: &StateDelays, inputs: &StartInputs<'_>) {
        for c in self.by_id.values_mut() {
            c.settle(now, inputs);
        }
    }
}
