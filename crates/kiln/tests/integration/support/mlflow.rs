//! A real MLflow tracking server for the trace tests: `python -m mlflow server` from the venv
//! `scripts/test` builds (`.venv-mlflow`, pinned in tests/mlflow/requirements.txt; or
//! `KILN_MLFLOW_PYTHON`), a SQLite backend in a temporary directory, on 127.0.0.1, its whole
//! process group stopped on drop, or by a watchdog shell when the test process dies without
//! dropping it. Traces are read back with MLflow's own client (tests/mlflow/dump_traces.py).

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the server to answer `/health` (it imports a lot at start: 80 s measured
/// on a loaded 2-core machine).
const START_WAIT: Duration = Duration::from_secs(150);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python: `KILN_MLFLOW_PYTHON`, else `<repo>/.venv-mlflow/bin/python`.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("KILN_MLFLOW_PYTHON") {
        return PathBuf::from(p);
    }
    let p = repo_root().join(".venv-mlflow/bin/python");
    assert!(
        p.exists(),
        "MLflow is not installed: run `python3 -m venv .venv-mlflow && .venv-mlflow/bin/pip install -r \
         tests/mlflow/requirements.txt` (scripts/test does) or set KILN_MLFLOW_PYTHON"
    );
    p
}

pub struct Mlflow {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// Runs the server (`"$@"`) in the process group of a shell that also waits for its standard
/// input, a pipe from the test process, to close: when the test process ends without dropping
/// the server (nextest's timeout kills it), the shell kills the whole group, so no MLflow server
/// outlives its test. The shell's exit status is the server's.
const WATCHDOG: &str =
    r#"exec 3<&0; "$@" </dev/null & server=$!; { read _ <&3; kill -s KILL 0; } & wait "$server""#;

impl Mlflow {
    pub async fn start() -> Mlflow {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let port = super::free_port();
        // Everything that can fail comes before the spawn, so a started server always has an
        // owner whose drop stops it.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("sh")
                .args(["-c", WATCHDOG, "mlflow-watchdog"])
                .arg(python())
                .args([
                    "-m",
                    "mlflow",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--workers",
                    "1",
                ])
                .arg("--port")
                .arg(port.to_string())
                .arg("--backend-store-uri")
                .arg(format!("sqlite:///{}/mlflow.db", dir.path().display()))
                .arg("--default-artifact-root")
                .arg(dir.path().join("artifacts"))
                .env("MLFLOW_DISABLE_TELEMETRY", "true")
                .env("DO_NOT_TRACK", "true")
                // The watchdog's pipe: closed when this process ends, however it ends.
                .stdin(Stdio::piped())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap()
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut server = Mlflow {
            url,
            child,
            _dir: dir,
            http,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = server
                .http
                .get(format!("{}/health", server.url))
                .send()
                .await
                && r.status().is_success()
            {
                break;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(server._dir.path().join("server.log"))
                    .unwrap_or_default();
                panic!("mlflow server exited ({status}):\n{log}");
            }
            assert!(
                started.elapsed() < START_WAIT,
                "mlflow server did not answer /health within {START_WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        server
    }

    /// Creates an experiment through MLflow's REST API; returns its id.
    pub async fn create_experiment(&self, name: &str) -> String {
        let v: Value = self
            .http
            .post(format!("{}/api/2.0/mlflow/experiments/create", self.url))
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["experiment_id"].as_str().unwrap().to_owned()
    }

    /// The id of an experiment by name (REST API), if it exists.
    pub async fn experiment_id(&self, name: &str) -> Option<String> {
        let r = self
            .http
            .get(format!(
                "{}/api/2.0/mlflow/experiments/get-by-name",
                self.url
            ))
            .query(&[("experiment_name", name)])
            .send()
            .await
            .unwrap();
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.unwrap();
        v["experiment"]["experiment_id"].as_str().map(str::to_owned)
    }

    /// Every trace of an experiment, read with MLflow's Python client.
    pub async fn traces(&self, experiment_id: &str) -> Vec<Value> {
        let script = repo_root().join("tests/mlflow/dump_traces.py");
        let out = tokio::process::Command::new(python())
            .arg(script)
            .arg(&self.url)
            .arg(experiment_id)
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            // The server is local and `wait_for_spans` asks again anyway: a few quick retries,
            // so a client whose server was killed with the test ends within seconds, not minutes.
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
            .env("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "dump_traces.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Waits until the experiment holds at least `spans` spans; returns its traces.
    pub async fn wait_for_spans(&self, experiment_id: &str, spans: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let traces = self.traces(experiment_id).await;
            let n: usize = traces
                .iter()
                .map(|t| t["spans"].as_array().map_or(0, Vec::len))
                .sum();
            if n >= spans {
                return traces;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "only {n} of {spans} spans reached MLflow: {traces:#?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}
