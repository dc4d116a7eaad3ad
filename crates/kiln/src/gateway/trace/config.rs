//! Where traces go, read the way MLflow and OpenTelemetry users already configure it:
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full OTLP/HTTP URL) wins; otherwise
//! `MLFLOW_TRACKING_URI` — an `http(s)://` MLflow server (its `/v1/traces`, MLflow ≥ 3.6) or
//! `databricks` (the workspace's `/api/2.0/otel/v1/traces` with the owner's current token and
//! the experiment's Unity Catalog spans table). `MLFLOW_EXPERIMENT_ID` / `_NAME` pick the
//! experiment, `OTEL_SERVICE_NAME` the service, `KILN_TRACE_CONTENT=1` turns on prompt and answer
//! text. Without any of them tracing is off.

use reqwest::Url;

/// Default `service.name` of kiln's spans.
pub const DEFAULT_SERVICE_NAME: &str = "kiln-gateway";

/// Tracing flags (each also read from its environment variable), shared by `kiln serve`,
/// `kiln gateway` and `kiln cluster gateway`.
#[derive(Debug, Default, Clone, clap::Args)]
#[command(next_help_heading = "Tracing (model calls as MLflow traces; see docs/observability.md)")]
pub struct TraceArgs {
    /// MLflow tracking server: http(s)://HOST:PORT (MLflow ≥ 3.6, OTLP at /v1/traces) or
    /// `databricks` (the workspace's MLflow, with the owner's current token).
    #[arg(
        long = "mlflow-tracking-uri",
        env = "MLFLOW_TRACKING_URI",
        value_name = "URI"
    )]
    pub tracking_uri: Option<String>,
    /// MLflow experiment id the traces go to (sent as x-mlflow-experiment-id).
    #[arg(
        long = "mlflow-experiment-id",
        env = "MLFLOW_EXPERIMENT_ID",
        value_name = "ID"
    )]
    pub experiment_id: Option<String>,
    /// MLflow experiment name (looked up, and created if missing, on an http(s) tracking server).
    #[arg(
        long = "mlflow-experiment-name",
        env = "MLFLOW_EXPERIMENT_NAME",
        value_name = "NAME"
    )]
    pub experiment_name: Option<String>,
    /// Full OTLP/HTTP traces URL; overrides the one derived from the tracking URI. Extra
    /// headers come from OTEL_EXPORTER_OTLP_TRACES_HEADERS (k=v,k2=v2), read by the exporter.
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        value_name = "URL"
    )]
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans [default: kiln-gateway].
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        value_name = "NAME"
    )]
    pub service_name: Option<String>,
    /// Unity Catalog table of the experiment's spans (catalog.schema.prefix_otel_spans), sent
    /// as X-Databricks-UC-Table-Name when the tracking URI is `databricks`.
    #[arg(
        long = "trace-uc-table",
        env = "KILN_TRACE_UC_TABLE",
        value_name = "TABLE"
    )]
    pub uc_table: Option<String>,
    /// Also record prompt and answer text in the spans (off by default: only counts, times,
    /// names and ids are sent).
    #[arg(long = "trace-content", env = "KILN_TRACE_CONTENT", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub content: bool,
}

/// Where spans are sent and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An MLflow server or any OTLP/HTTP endpoint.
    Otlp {
        /// Full traces URL.
        endpoint: Url,
        /// MLflow tracking server to resolve an experiment name with (http(s) URIs only).
        tracking_uri: Option<Url>,
    },
    /// The workspace's MLflow: `{host}/api/2.0/otel/v1/traces`, the owner's current token.
    Databricks {
        /// Unity Catalog spans table (`X-Databricks-UC-Table-Name`).
        uc_table: String,
    },
}

/// Resolved tracing settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceSettings {
    /// Where to send.
    pub target: Target,
    /// Experiment id, if given.
    pub experiment_id: Option<String>,
    /// Experiment name to resolve, if no id was given.
    pub experiment_name: Option<String>,
    /// `service.name`.
    pub service_name: String,
    /// Record prompt and answer text.
    pub content: bool,
}

/// Why the tracing settings are unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceConfigError {
    /// A URL that does not parse or is not http(s).
    #[error("{name}: {value:?} is not an http(s) URL{why}")]
    BadUrl {
        /// Variable or flag.
        name: &'static str,
        /// Value given (URLs with credentials are not echoed).
        value: String,
        /// Extra reason.
        why: String,
    },
    /// `databricks` without the spans table.
    #[error(
        "MLFLOW_TRACKING_URI=databricks needs KILN_TRACE_UC_TABLE=<catalog>.<schema>.<prefix>_otel_spans \
         (the Unity Catalog trace location of the experiment; see docs/observability.md)"
    )]
    NoUcTable,
    /// A malformed table name.
    #[error("KILN_TRACE_UC_TABLE: {0:?} is not catalog.schema.table")]
    BadUcTable(String),
}

fn parse_http(name: &'static str, raw: &str) -> Result<Url, TraceConfigError> {
    let shown = |u: &str| {
        if u.contains('@') {
            "(a URL with credentials, not shown)".to_owned()
        } else {
            u.to_owned()
        }
    };
    let url = Url::parse(raw.trim()).map_err(|e| TraceConfigError::BadUrl {
        name,
        value: shown(raw),
        why: format!(" ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(TraceConfigError::BadUrl {
            name,
            value: shown(raw),
            why: String::new(),
        });
    }
    Ok(url)
}

fn is_http(uri: &str) -> bool {
    uri.starts_with("http://") || uri.starts_with("https://")
}

/// `path` under `base`'s path (`http://h/mlflow/` + `v1/traces` -> `http://h/mlflow/v1/traces`),
/// without `base`'s query.
pub(super) fn under(base: &Url, path: &str) -> Url {
    let mut u = base.clone();
    u.set_path(&format!("{}/{path}", base.path().trim_end_matches('/')));
    u.set_query(None);
    u
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl TraceArgs {
    /// The settings these flags describe; `Ok(None)` when tracing is off (no endpoint and no
    /// tracking URI, or a tracking URI MLflow would keep local, like a file path).
    pub fn settings(&self) -> Result<Option<TraceSettings>, TraceConfigError> {
        let experiment_id = non_empty(&self.experiment_id);
        let experiment_name = non_empty(&self.experiment_name);
        let service_name =
            non_empty(&self.service_name).unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let uri = non_empty(&self.tracking_uri);
        let target = if let Some(endpoint) = non_empty(&self.otlp_endpoint) {
            let endpoint = parse_http("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &endpoint)?;
            let tracking_uri = match uri.as_deref() {
                Some(u) if is_http(u) => Some(parse_http("MLFLOW_TRACKING_URI", u)?),
                _ => None,
            };
            Target::Otlp {
                endpoint,
                tracking_uri,
            }
        } else {
            match uri.as_deref() {
                None => return Ok(None),
                Some(u) if u == "databricks" || u.starts_with("databricks://") => {
                    let table = non_empty(&self.uc_table).ok_or(TraceConfigError::NoUcTable)?;
                    let parts: Vec<&str> = table.split('.').collect();
                    let ok = parts.len() == 3
                        && parts.iter().all(|p| {
                            !p.is_empty()
                                && p.len() <= 255
                                && p.chars()
                                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                        });
                    if !ok {
                        return Err(TraceConfigError::BadUcTable(table));
                    }
                    Target::Databricks { uc_table: table }
                }
                Some(u) if is_http(u) => {
                    let base = parse_http("MLFLOW_TRACKING_URI", u)?;
                    Target::Otlp {
                        endpoint: under(&base, "v1/traces"),
                        tracking_uri: Some(base),
                    }
                }
                // A local path or file: URI is MLflow's own file store: nothing to send to.
                Some(_) => return Ok(None),
            }
        };
        Ok(Some(TraceSettings {
            target,
            experiment_id,
            experiment_name,
            service_name,
            content: self.content,
        }))
    }
}

impl TraceSettings {
    /// The endpoint for display (no credentials, no query), given the workspace host.
    pub fn endpoint_for(&self, host: &str) -> String {
        match &self.target {
            Target::Otlp { endpoint, .. } => {
                let mut shown = endpoint.clone();
                let _ = shown.set_username("");
                let _ = shown.set_password(None);
                shown.set_query(None);
                shown.to_string()
            }
            Target::Databricks { .. } => {
                format!("{}/api/2.0/otel/v1/traces", host.trim_end_matches('/'))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut TraceArgs)) -> TraceArgs {
        let mut a = TraceArgs::default();
        f(&mut a);
        a
    }

    #[test]
    fn off_without_a_destination() {
        assert_eq!(TraceArgs::default().settings(), Ok(None));
        let a = args(|a| a.tracking_uri = Some("./mlruns".into()));
        assert_eq!(a.settings(), Ok(None));
        let a = args(|a| a.experiment_id = Some("1".into()));
        assert_eq!(a.settings(), Ok(None));
    }

    #[test]
    fn mlflow_server_gets_v1_traces() {
        let a = args(|a| {
            a.tracking_uri = Some("http://127.0.0.1:5000/".into());
            a.experiment_id = Some(" 7 ".into());
        });
        let s = a.settings().unwrap().unwrap();
        assert_eq!(s.experiment_id.as_deref(), Some("7"));
        assert_eq!(s.service_name, DEFAULT_SERVICE_NAME);
        match s.target {
            Target::Otlp { endpoint, .. } => {
                assert_eq!(endpoint.as_str(), "http://127.0.0.1:5000/v1/traces")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explicit_endpoint_wins() {
        let a = args(|a| {
            a.tracking_uri = Some("databricks".into());
            a.otlp_endpoint = Some("https://collector.example/v1/traces".into());
            a.service_name = Some("team-agents".into());
        });
        let s = a.settings().unwrap().unwrap();
        assert_eq!(s.service_name, "team-agents");
        assert!(matches!(
            s.target,
            Target::Otlp {
                tracking_uri: None,
                ..
            }
        ));
    }

    #[test]
    fn databricks_needs_the_spans_table() {
        let a = args(|a| a.tracking_uri = Some("databricks".into()));
        assert_eq!(a.settings(), Err(TraceConfigError::NoUcTable));
        let a = args(|a| {
            a.tracking_uri = Some("databricks".into());
            a.uc_table = Some("main.agents".into());
        });
        assert!(matches!(a.settings(), Err(TraceConfigError::BadUcTable(_))));
        let a = args(|a| {
            a.tracking_uri = Some("databricks".into());
            a.uc_table = Some("main.agents.kiln_otel_spans".into());
        });
        let s = a.settings().unwrap().unwrap();
        assert_eq!(
            s.endpoint_for("https://dbc-1.cloud.databricks.com/"),
            "https://dbc-1.cloud.databricks.com/api/2.0/otel/v1/traces"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_credentials() {
        let a = args(|a| a.otlp_endpoint = Some("ftp://x/v1/traces".into()));
        assert!(matches!(a.settings(), Err(TraceConfigError::BadUrl { .. })));
        let a = args(|a| a.otlp_endpoint = Some("http://user:secret@".into()));
        let e = a.settings().unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
