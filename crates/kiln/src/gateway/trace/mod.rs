//! Model calls as MLflow traces: every call that passes the gateway becomes an OpenTelemetry
//! span sent over OTLP/HTTP (MLflow ≥ 3.6 at `/v1/traces`, or a Databricks workspace's
//! `/api/2.0/otel/v1/traces`), grouped one trace per agent turn. Opt-in: nothing is recorded or
//! sent unless a destination is configured; prompt and answer text only with
//! `KILN_TRACE_CONTENT=1`.
//!
//! Rooms: `config` (flags and environment → [`TraceSettings`]), `turns` (grouping calls into
//! turns, the per-request hint), `content` (answer text, opt-in), `span` (a call as a span),
//! `export` (bounded queue, batches, the OTLP exporter, retries, counters), `experiment`
//! (`MLFLOW_EXPERIMENT_NAME` → id).
//!
//! [`Tracer::record`] is all the relay does: a `try_send` into a bounded queue. A full queue
//! drops the call (counted), so the relay never waits for the exporter.

pub mod config;
pub mod content;
mod experiment;
pub mod export;
pub mod span;
pub mod turns;

pub use config::{TraceArgs, TraceConfigError, TraceSettings};
pub use export::TraceStatus;
pub use span::CallRecord;

use export::{ExportState, SourceFn};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The gateway's tracer: off, or a queue into the export task.
#[derive(Debug, Default)]
pub struct Tracer {
    on: Option<On>,
}

#[derive(Debug)]
struct On {
    tx: mpsc::Sender<CallRecord>,
    state: Arc<ExportState>,
    settings: TraceSettings,
}

impl Tracer {
    /// A tracer that records nothing.
    pub fn off() -> Self {
        Tracer { on: None }
    }

    /// Starts the export task for `settings`; `source` gives the current workspace host and
    /// token source (used for the Databricks target). Stops when `cancel` fires, after a
    /// bounded final flush. Must run inside a tokio runtime.
    pub fn start(settings: TraceSettings, source: SourceFn, cancel: CancellationToken) -> Self {
        let state = Arc::new(ExportState::default());
        match export::spawn(settings.clone(), source, Arc::clone(&state), cancel) {
            Ok(tx) => {
                tracing::info!(
                    service = %settings.service_name,
                    content = settings.content,
                    "model calls are traced"
                );
                Tracer {
                    on: Some(On {
                        tx,
                        state,
                        settings,
                    }),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "tracing could not start; model calls are not traced");
                Tracer::off()
            }
        }
    }

    /// Tracing is on.
    pub fn enabled(&self) -> bool {
        self.on.is_some()
    }

    /// Prompt and answer text are to be recorded.
    pub fn content(&self) -> bool {
        self.on.as_ref().is_some_and(|o| o.settings.content)
    }

    /// Queues one finished call; never waits. A full queue drops it (counted).
    pub fn record(&self, rec: CallRecord) {
        let Some(on) = &self.on else { return };
        if on.tx.try_send(rec).is_err() {
            on.state.dropped_one();
        }
    }

    /// Counters and the latest outcome, for `GET /api/usage`.
    pub fn status(&self, host: &str) -> TraceStatus {
        let Some(on) = &self.on else {
            return TraceStatus::off();
        };
        let last = on
            .state
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let state = match (last.export_at, last.error_at) {
            (None, None) => "waiting",
            (Some(ok), Some(err)) if err > ok => "failing",
            (None, Some(_)) => "failing",
            _ => "flowing",
        };
        TraceStatus {
            enabled: true,
            state: state.into(),
            endpoint: Some(on.settings.endpoint_for(host)),
            experiment_id: last
                .experiment_id
                .or_else(|| on.settings.experiment_id.clone()),
            content: on.settings.content,
            exported_spans: on.state.exported.load(Ordering::Relaxed),
            dropped_spans: on.state.dropped.load(Ordering::Relaxed),
            failed_exports: on.state.failed_exports.load(Ordering::Relaxed),
            last_export_at: last.export_at.map(crate::time::rfc3339),
            last_error: last.error,
            last_error_at: last.error_at.map(crate::time::rfc3339),
        }
    }
}
