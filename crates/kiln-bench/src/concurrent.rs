//! Many sessions streaming at once while one more measures keystroke echo: every streaming
//! terminal runs `gen --forever` and is drained by a task of its own; the echo runs on its own
//! thread. Reports the echo latencies and the aggregate output rate during the echo run.

use crate::echo::EchoResult;
use crate::pattern;
use crate::term::{self, Chunk, Term};
use anyhow::{Context, bail};
use serde::Serialize;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// The outcome of one concurrent run.
#[derive(Debug, Clone, Serialize)]
pub struct ConcurrentResult {
    pub streams: usize,
    /// Output of all streams together while the echo was measured, MB (10^6 bytes) per second.
    pub aggregate_mb_per_s: f64,
    /// How long the echo series (and so the aggregate's window) took, seconds.
    pub seconds: f64,
    /// Times a streaming viewer fell behind the ring and got a snapshot (kiln only).
    pub gaps: u64,
    /// Echo of the one further, interactive session.
    pub echo: EchoResult,
}

/// Longest wait for every stream to be running (sessions start slowly under load).
const START_WAIT: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Counters {
    bytes: AtomicU64,
    gaps: AtomicU64,
}

async fn drain<T: Term + Send + 'static>(
    mut t: T,
    exe: PathBuf,
    counters: Arc<Counters>,
    ready: mpsc::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    t.send(&term::stream_command(&exe, None)).await?;
    let start = term::wait_for_stream(&mut t, pattern::BEGIN_MARKER, START_WAIT).await?;
    counters
        .bytes
        .fetch_add(start.after.len() as u64, Ordering::Relaxed);
    let _ = ready.send(()).await;
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            r = t.recv() => match r? {
                Chunk::Data(d) => { counters.bytes.fetch_add(d.len() as u64, Ordering::Relaxed); }
                Chunk::Gap => { counters.gaps.fetch_add(1, Ordering::Relaxed); }
                Chunk::Snapshot(_) => {}
                Chunk::End => bail!("a streaming terminal ended early"),
            },
        }
    }
}

/// Starts `gen --forever` in every terminal of `terms`, waits until all stream, then runs
/// `echo` and stops the streams (dropping the terminals).
pub async fn run<T, E>(terms: Vec<T>, exe: PathBuf, echo: E) -> anyhow::Result<ConcurrentResult>
where
    T: Term + Send + 'static,
    E: Future<Output = anyhow::Result<EchoResult>>,
{
    let streams = terms.len();
    let counters = Arc::new(Counters::default());
    let (ready_tx, mut ready_rx) = mpsc::channel(streams.max(1));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(streams);
    for t in terms {
        tasks.push(tokio::spawn(drain(
            t,
            exe.clone(),
            counters.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    for _ in 0..streams {
        tokio::time::timeout(START_WAIT, ready_rx.recv())
            .await
            .context("the streams did not all start within 2 minutes")?
            .context("a streaming terminal failed to start")?;
    }
    let started = Instant::now();
    let (bytes0, gaps0) = (
        counters.bytes.load(Ordering::Relaxed),
        counters.gaps.load(Ordering::Relaxed),
    );
    let echo = echo.await;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = counters.bytes.load(Ordering::Relaxed) - bytes0;
    let gaps = counters.gaps.load(Ordering::Relaxed) - gaps0;
    let _ = stop_tx.send(true);
    for task in tasks {
        task.await.context("a drain task panicked")??;
    }
    Ok(ConcurrentResult {
        streams,
        aggregate_mb_per_s: bytes as f64 / 1e6 / seconds.max(1e-9),
        seconds,
        gaps,
        echo: echo?,
    })
}
