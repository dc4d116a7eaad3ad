//! The export task: a bounded queue of finished calls (a full queue drops the call and counts
//! it, so the relay never waits), batched (up to 256 spans or 1 s), encoded and sent by the
//! OpenTelemetry OTLP/HTTP exporter (`opentelemetry-otlp`, protobuf) over kiln's own reqwest
//! client. A failed batch is tried twice more (1 s, 2 s apart) and then dropped and counted;
//! after a dropped batch the task waits, doubling from 2 s to 60 s, before the next one, while
//! new calls queue up to the bound. On Databricks each request gets the current token from the
//! gateway's token source, marked sensitive; tokens never reach a span, a log line or the status.

use super::config::{Target, TraceSettings};
use super::span::{self, CallRecord};
use super::turns::{Turns, new_span_id};
use async_trait::async_trait;
use bytes::Bytes;
use kiln_databricks::TokenSource;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Calls waiting for export at most; more are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 2048;
/// Spans per export request at most.
const MAX_BATCH: usize = 256;
/// Longest a span waits for its batch to fill.
const BATCH_DELAY: Duration = Duration::from_secs(1);
/// Timeout of one export request. Generous: an MLflow server handles its first spans slowly
/// (17.6 s measured on a loaded 2-core machine, 0.7 s for the next), and a slow export delays
/// only the export task, never a model call.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per batch.
const ATTEMPTS: u32 = 3;
/// Pause after a dropped batch: starts here, doubles, capped at [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_secs(2);
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// Longest time the final flush at shutdown may take.
const FLUSH_ON_STOP: Duration = Duration::from_secs(3);

/// Gives the current workspace token source (Databricks target only).
pub type SourceFn = Arc<dyn Fn() -> (String, Arc<dyn TokenSource>) + Send + Sync>;

/// Counters and the last outcome, read by `GET /api/usage`.
#[derive(Debug, Default)]
pub struct ExportState {
    pub(super) exported: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) failed_exports: AtomicU64,
    pub(super) last: Mutex<LastOutcome>,
}

/// The latest export outcome.
#[derive(Debug, Default, Clone)]
pub(super) struct LastOutcome {
    pub export_at: Option<SystemTime>,
    pub error: Option<String>,
    pub error_at: Option<SystemTime>,
    pub experiment_id: Option<String>,
}

impl ExportState {
    fn ok(&self, n: usize) {
        self.exported.fetch_add(n as u64, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.export_at = Some(SystemTime::now());
    }

    fn failed(&self, n: usize, why: String) {
        self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        self.failed_exports.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.error = Some(why);
        last.error_at = Some(SystemTime::now());
    }

    /// One call that could not even be queued.
    pub(super) fn dropped_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// kiln's reqwest client as the OTLP exporter's transport, adding the workspace token per
/// request when the target is Databricks.
struct Transport {
    http: reqwest::Client,
    source: Option<SourceFn>,
    /// Why the latest request got no answer (the exporter reports only "network error");
    /// never holds a header.
    detail: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("databricks_token", &self.source.is_some())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl HttpClient for Transport {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let mut builder = self
            .http
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body);
        if let Some(source) = &self.source {
            let (_, source) = source();
            let token = source
                .token()
                .await
                .map_err(|e| format!("no Databricks token for the trace export: {e}"))?;
            let mut v =
                reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| "the token contains characters not allowed in a header")?;
            v.set_sensitive(true);
            builder = builder.header(reqwest::header::AUTHORIZATION, v);
        }
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => {
                // The reqwest error names the URL only; never a header.
                let why = if e.is_timeout() {
                    format!("no answer within {} s", EXPORT_TIMEOUT.as_secs())
                } else {
                    crate::http::client::error_chain(&e)
                };
                *self.detail.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
                return Err(why.into());
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap_or_default();
        let mut out = Response::builder().status(status);
        if let Some(h) = out.headers_mut() {
            *h = headers;
        }
        Ok(out.body(body)?)
    }
}

/// Spawns the export task; the sender side is the gateway's.
pub(super) fn spawn(
    settings: TraceSettings,
    source: SourceFn,
    state: Arc<ExportState>,
    cancel: CancellationToken,
) -> Result<mpsc::Sender<CallRecord>, String> {
    let http = reqwest::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the trace HTTP client: {e}"))?;
    let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
    let task = Task {
        settings,
        source,
        state,
        http,
        exporter: None,
        turns: Turns::default(),
        scope: span::scope(),
        pause: FIRST_PAUSE,
        detail: Arc::default(),
    };
    tokio::spawn(task.run(rx, cancel));
    Ok(tx)
}

struct Task {
    settings: TraceSettings,
    source: SourceFn,
    state: Arc<ExportState>,
    http: reqwest::Client,
    exporter: Option<opentelemetry_otlp::SpanExporter>,
    turns: Turns,
    scope: opentelemetry::InstrumentationScope,
    pause: Duration,
    detail: Arc<Mutex<Option<String>>>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<CallRecord>, cancel: CancellationToken) {
        loop {
            let first = tokio::select! {
                r = rx.recv() => r,
                _ = cancel.cancelled() => break,
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + BATCH_DELAY;
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    r = rx.recv() => match r { Some(r) => batch.push(r), None => break },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = cancel.cancelled() => break,
                }
            }
            let spans = self.spans(batch);
            if !self.export(spans).await {
                // Pause (calls queue up to the bound meanwhile), unless stopping.
                tokio::select! {
                    _ = tokio::time::sleep(self.pause) => {},
                    _ = cancel.cancelled() => {},
                }
                self.pause = (self.pause * 2).min(MAX_PAUSE);
            } else {
                self.pause = FIRST_PAUSE;
            }
        }
        // Final flush: what is queued, one attempt, bounded in time.
        let mut rest = Vec::new();
        while let Ok(r) = rx.try_recv() {
            rest.push(r);
        }
        if !rest.is_empty() {
            let n = rest.len();
            let spans = self.spans(rest);
            if tokio::time::timeout(FLUSH_ON_STOP, self.export_once(spans))
                .await
                .is_err()
            {
                self.state.failed(
                    n,
                    "the gateway stopped before the last spans were sent".into(),
                );
            }
        }
    }

    fn spans(&mut self, batch: Vec<CallRecord>) -> Vec<SpanData> {
        let now = Instant::now();
        batch
            .into_iter()
            .map(|rec| {
                let id = new_span_id();
                let place = self.turns.place(rec.agent, &rec.model, &rec.hint, id, now);
                span::build(rec, id, place, &self.scope)
            })
            .collect()
    }

    /// Sends with retries; `false` when the batch was dropped.
    async fn export(&mut self, spans: Vec<SpanData>) -> bool {
        let n = spans.len();
        let mut why = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
            }
            match self.try_export(spans.clone()).await {
                Ok(()) => {
                    self.state.ok(n);
                    return true;
                }
                Err(e) => why = self.explain(e),
            }
        }
        tracing::warn!(spans = n, error = %why, "trace export failed; spans dropped");
        self.state.failed(n, why);
        false
    }

    async fn export_once(&mut self, spans: Vec<SpanData>) {
        let n = spans.len();
        match self.try_export(spans).await {
            Ok(()) => self.state.ok(n),
            Err(e) => {
                let why = self.explain(e);
                self.state.failed(n, why);
            }
        }
    }

    /// The exporter's error, with the transport's reason when it has one.
    fn explain(&self, e: String) -> String {
        match self
            .detail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(d) => format!("{e} ({d})"),
            None => e,
        }
    }

    async fn try_export(&mut self, spans: Vec<SpanData>) -> Result<(), String> {
        if self.exporter.is_none() {
            self.exporter = Some(self.build().await?);
        }
        let Some(exporter) = &self.exporter else {
            return Err("no exporter".into());
        };
        exporter.export(spans).await.map_err(|e| e.to_string())
    }

    /// Builds the OTLP exporter (after resolving the experiment, if named).
    async fn build(&mut self) -> Result<opentelemetry_otlp::SpanExporter, String> {
        let experiment_id = match (&self.settings.experiment_id, &self.settings.target) {
            (Some(id), _) => Some(id.clone()),
            (
                None,
                Target::Otlp {
                    tracking_uri: Some(uri),
                    ..
                },
            ) => match &self.settings.experiment_name {
                Some(name) => Some(
                    super::experiment::resolve(&self.http, uri, name)
                        .await
                        .map_err(|e| format!("MLflow experiment {name:?}: {e}"))?,
                ),
                // MLflow's Default experiment.
                None => Some("0".to_owned()),
            },
            _ => None,
        };
        let mut headers = HashMap::new();
        if let Some(id) = &experiment_id {
            headers.insert("x-mlflow-experiment-id".to_owned(), id.clone());
        }
        let (endpoint, source) = match &self.settings.target {
            Target::Otlp { endpoint, .. } => (endpoint.to_string(), None),
            Target::Databricks { uc_table } => {
                headers.insert("X-Databricks-UC-Table-Name".to_owned(), uc_table.clone());
                let (host, _) = (self.source)();
                (
                    format!("{}/api/2.0/otel/v1/traces", host.trim_end_matches('/')),
                    Some(Arc::clone(&self.source)),
                )
            }
        };
        let transport = Transport {
            http: self.http.clone(),
            source,
            detail: Arc::clone(&self.detail),
        };
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(transport)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(EXPORT_TIMEOUT)
            .with_headers(headers)
            .build()
            .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
        let resource = Resource::builder_empty()
            .with_service_name(self.settings.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        exporter.set_resource(&resource);
        let mut last = self
            .state
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        last.experiment_id = experiment_id;
        Ok(exporter)
    }
}

/// What `GET /api/usage` says about tracing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceStatus {
    /// Tracing is configured.
    pub enabled: bool,
    /// `off`, `waiting` (nothing sent yet), `flowing` (the latest export succeeded) or
    /// `failing` (the latest export failed).
    pub state: String,
    /// Where spans go (no credentials, no query).
    pub endpoint: Option<String>,
    /// MLflow experiment id, once known.
    pub experiment_id: Option<String>,
    /// Prompt and answer text are recorded.
    pub content: bool,
    /// Spans the endpoint accepted.
    pub exported_spans: u64,
    /// Spans lost: queue full, or their export failed after retries.
    pub dropped_spans: u64,
    /// Export requests that failed after retries.
    pub failed_exports: u64,
    /// When the latest export succeeded (RFC 3339).
    pub last_export_at: Option<String>,
    /// The latest export error (status or connection; never a header).
    pub last_error: Option<String>,
    /// When it happened (RFC 3339).
    pub last_error_at: Option<String>,
}

impl TraceStatus {
    /// Tracing is not configured.
    pub fn off() -> Self {
        TraceStatus {
            state: "off".into(),
            ..TraceStatus::default()
        }
    }
}
