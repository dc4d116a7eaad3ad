//! Server memory and snapshots: RSS of an idle server, per idle session, per session with a full
//! ring (what it costs beyond the ring), and the time to attach to a full session with no offset
//! (hello plus the whole snapshot), next to attaching at the live end (no snapshot).

use crate::kiln::{self, Api};
use crate::stats;
use crate::term::{self, Term};
use crate::ws::KilnTerm;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Page size assumed for the touched part of a barely used ring (4 KiB).
const PAGE_BYTES: u64 = 4096;

/// Memory figures, bytes unless said otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub idle_rss: u64,
    pub sessions: usize,
    pub ring_bytes: u64,
    /// (RSS with the idle sessions - idle RSS) / sessions.
    pub per_idle_session: u64,
    /// The same minus the ring pages the prompt touched.
    pub per_idle_session_beyond_ring: u64,
    /// (RSS with every ring full - idle RSS) / sessions.
    pub per_full_session: u64,
    /// The same minus the ring (scrollback state, buffers, tasks).
    pub per_full_session_beyond_ring: i64,
}

/// Attach timings on a session with a full ring.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotResult {
    pub runs: usize,
    pub snapshot_bytes: usize,
    /// Connect + hello + every snapshot byte, median over the runs, milliseconds.
    pub snapshot_ms: f64,
    pub snapshot_max_ms: f64,
    /// Connect + hello at the live end (no snapshot), median, milliseconds.
    pub live_attach_ms: f64,
}

/// Opens `n` sessions, fills their rings, measures memory and snapshots, deletes them.
pub async fn measure(
    api: &Api,
    pid: u32,
    exe: &Path,
    n: usize,
    ring_bytes: usize,
    snapshot_runs: usize,
) -> anyhow::Result<(MemoryResult, SnapshotResult)> {
    api.health().await?;
    let idle_rss = kiln::rss(pid)?.current;
    let n = n.max(1);
    let mut ids = Vec::with_capacity(n);
    let mut touched = 0u64;
    for _ in 0..n {
        let id = api.create_session().await?;
        let mut t = KilnTerm::connect(api, &id, Some(0)).await?;
        term::first_output(&mut t).await?;
        t.close().await;
        ids.push(id);
    }
    for id in &ids {
        touched += api.session_offset(id).await?.div_ceil(PAGE_BYTES) * PAGE_BYTES;
    }
    let with_idle = kiln::rss(pid)?.current;
    let per_idle = with_idle.saturating_sub(idle_rss) / n as u64;

    let fill = (2 * ring_bytes as u64).max(8 << 20);
    for id in &ids {
        let mut t = KilnTerm::connect(api, id, None).await?;
        t.read_snapshot().await?;
        t.send(&term::fill_command(exe, fill)).await?;
        term::wait_for(&mut t, term::FILL_DONE, Duration::from_secs(120)).await?;
        t.close().await;
    }
    let with_full = kiln::rss(pid)?.current;
    let per_full = with_full.saturating_sub(idle_rss) / n as u64;
    let memory = MemoryResult {
        idle_rss,
        sessions: n,
        ring_bytes: ring_bytes as u64,
        per_idle_session: per_idle,
        per_idle_session_beyond_ring: per_idle.saturating_sub(touched / n as u64),
        per_full_session: per_full,
        per_full_session_beyond_ring: per_full as i64 - ring_bytes as i64,
    };

    let mut snap = Vec::new();
    let mut live = Vec::new();
    let mut snapshot_bytes = 0;
    for i in 0..snapshot_runs.max(1) {
        let id = &ids[i % ids.len()];
        let started = Instant::now();
        let mut t = KilnTerm::connect(api, id, None).await?;
        t.read_snapshot().await?;
        snap.push(started.elapsed());
        snapshot_bytes = t.snapshot_len;
        t.close().await;
        let end = api.session_offset(id).await?;
        let started = Instant::now();
        let t = KilnTerm::connect(api, id, Some(end)).await?;
        live.push(started.elapsed());
        t.close().await;
    }
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3).unwrap_or(f64::NAN);
    let snapshot = SnapshotResult {
        runs: snap.len(),
        snapshot_bytes,
        snapshot_ms: ms(stats::median(&snap)),
        snapshot_max_ms: ms(snap.iter().max().copied()),
        live_attach_ms: ms(stats::median(&live)),
    };
    for id in &ids {
        api.delete_session(id).await?;
    }
    Ok((memory, snapshot))
}
