//! One soak session: a shell in kiln doing work while its viewer comes and goes. Each job types
//! one command line and reads until the job's end marker; the viewer tracks its stream offset,
//! and when it drops (abruptly, or with a close frame) it reconnects with that offset, so the
//! job's output must continue with no byte lost or repeated:
//!
//! - **stream**: `gen` prints a start marker and `n` bytes of the deterministic pattern with the
//!   terminal in raw mode; the `n` bytes after the marker must have the pattern's SHA-256 and be
//!   followed at once by the end marker.
//! - **echo**: the shell computes a number; the exact text must come back.
//! - **token**: `kiln token` in the terminal must get the current token from kiln's broker.
//!
//! Between jobs, now and then, a second viewer attaches for a snapshot, the long-poll transport
//! reads from the live end, and the session is resized.

use super::Rng;
use crate::kiln::Api;
use crate::pattern;
use crate::term::{Chunk, Term, find};
use crate::ws::KilnTerm;
use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::watch;

/// Longest time one job may take (a loaded 2-core machine, a debug build).
const JOB_LIMIT: Duration = Duration::from_secs(120);
/// Errors kept per session (the count goes on).
const ERRORS_KEPT: usize = 10;

/// What a session did during the soak.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SessionStats {
    pub id: String,
    pub jobs_ok: u64,
    pub jobs_failed: u64,
    /// Pattern bytes whose checksum matched.
    pub bytes_verified: u64,
    pub stream_jobs: u64,
    pub echo_jobs: u64,
    pub token_jobs: u64,
    /// Viewer drops followed by a reconnect at the kept offset.
    pub reconnects: u64,
    /// Extra viewers that attached for a snapshot and left.
    pub snapshot_viewers: u64,
    pub long_polls: u64,
    pub resizes: u64,
    /// Bytes that were skipped (a `snapshot` frame on the viewer, a hello at another offset).
    pub gaps: u64,
    pub errors: Vec<String>,
    pub error_count: u64,
}

impl SessionStats {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.error_count += 1;
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(e.to_string());
        }
    }
}

/// How a session works.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `kiln-bench` itself (runs `gen`).
    pub bench: PathBuf,
    /// The kiln binary (runs `kiln token`).
    pub kiln: PathBuf,
    /// Largest stream job, bytes.
    pub job_bytes_max: u64,
    /// Bytes printed by the first job, to fill the ring and the scrollback before measuring.
    pub warmup_bytes: u64,
    /// Pause between jobs, milliseconds (a person reading), drawn from this range.
    pub think_ms: (u64, u64),
}

enum Job {
    Stream(u64),
    Echo(u64),
    Token,
}

/// A session's worker.
pub struct Worker {
    api: Api,
    plan: Plan,
    rng: Rng,
    pub stats: SessionStats,
    viewer: Option<KilnTerm>,
    /// Stream offset of the next byte this viewer will receive.
    pos: u64,
    jobs: u64,
}

fn shell_quote(p: &std::path::Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

impl Worker {
    /// A worker for an existing session.
    pub fn new(api: Api, id: String, plan: Plan, seed: u64) -> Self {
        Worker {
            api,
            plan,
            rng: Rng::new(seed),
            stats: SessionStats {
                id,
                ..SessionStats::default()
            },
            viewer: None,
            pos: 0,
            jobs: 0,
        }
    }

    /// Connects the viewer at the kept offset (the first time: at 0, the whole stream).
    async fn viewer(&mut self) -> anyhow::Result<&mut KilnTerm> {
        if self.viewer.is_none() {
            let t = KilnTerm::connect(&self.api, &self.stats.id, Some(self.pos)).await?;
            if t.offset != self.pos || t.snapshot_len != 0 {
                self.stats.gaps += 1;
                bail!(
                    "asked to resume at offset {}, got offset {} (snapshot {} bytes)",
                    self.pos,
                    t.offset,
                    t.snapshot_len
                );
            }
            self.viewer = Some(t);
        }
        self.viewer
            .as_mut()
            .ok_or_else(|| anyhow!("no viewer after connecting"))
    }

    /// Drops the viewer: abruptly (the TCP connection just closes) or with a close frame.
    async fn drop_viewer(&mut self, polite: bool) {
        if let Some(t) = self.viewer.take()
            && polite
        {
            t.close().await;
        }
    }

    /// Before measuring: fills the ring and the scrollback. The viewer may fall behind the ring
    /// here (kiln then sends a snapshot); that is not counted, and the worker resumes at the end
    /// of the stream.
    pub async fn warm_up(&mut self) {
        if let Err(e) = self.fill().await {
            self.stats.error(format!("warm-up: {e:#}"));
        }
        self.viewer = None;
        match self.api.session_offset(&self.stats.id).await {
            Ok(end) => self.pos = end,
            Err(e) => self.stats.error(format!("after the warm-up: {e:#}")),
        }
    }

    async fn fill(&mut self) -> anyhow::Result<()> {
        let cmd = crate::term::fill_command(&self.plan.bench, self.plan.warmup_bytes);
        let v = self.viewer().await?;
        v.send(&cmd).await?;
        crate::term::wait_for(v, crate::term::FILL_DONE, JOB_LIMIT).await?;
        Ok(())
    }

    /// Works until `stop` says so, then closes the viewer.
    pub async fn run(&mut self, mut stop: watch::Receiver<bool>) {
        while !*stop.borrow() {
            let job = match self.rng.below(10) {
                0..=5 => Job::Stream(1 + self.rng.below(self.plan.job_bytes_max)),
                6..=8 => Job::Echo(self.rng.below(1 << 20)),
                _ => Job::Token,
            };
            let drop = self.rng.below(3) == 0;
            self.job(job, drop).await;
            if self.stats.error_count > 0 && self.viewer.is_none() && self.gone().await {
                self.stats.error("the session is gone");
                break;
            }
            self.between_jobs().await;
            let (lo, hi) = self.plan.think_ms;
            let pause = Duration::from_millis(lo + self.rng.below(hi.saturating_sub(lo).max(1)));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
        self.drop_viewer(true).await;
    }

    /// Whether the session no longer exists or has exited.
    async fn gone(&self) -> bool {
        match self
            .api
            .request("GET", &format!("/api/sessions/{}", self.stats.id), None)
            .await
        {
            Ok((200, body)) => serde_json::from_slice::<serde_json::Value>(&body)
                .map(|v| !v["exit"].is_null())
                .unwrap_or(true),
            Ok(_) => true,
            Err(_) => false,
        }
    }

    /// Runs one job and records its result; on failure the viewer is dropped and the worker
    /// resumes at the live end of the stream.
    async fn job(&mut self, job: Job, drop: bool) {
        self.jobs += 1;
        let n = self.jobs;
        let r = tokio::time::timeout(JOB_LIMIT, self.run_job(&job, n, drop)).await;
        let r = r.unwrap_or_else(|_| Err(anyhow!("job {n} took longer than {JOB_LIMIT:?}")));
        match r {
            Ok(()) => self.stats.jobs_ok += 1,
            Err(e) => {
                self.stats.jobs_failed += 1;
                self.stats.error(format!("job {n}: {e:#}"));
                self.viewer = None;
                // Resume at the live end: what was missed is already counted as failed.
                match self.api.session_offset(&self.stats.id).await {
                    Ok(end) => self.pos = end,
                    Err(e) => self.stats.error(format!("after job {n}: {e:#}")),
                }
            }
        }
    }

    async fn run_job(&mut self, job: &Job, n: u64, drop: bool) -> anyhow::Result<()> {
        let end_marker = format!("KBEND{n}.");
        let line = match job {
            Job::Stream(bytes) => {
                self.stats.stream_jobs += 1;
                format!(
                    "stty raw -echo; {} gen --bytes {bytes}; stty sane; printf 'KB''END%s.' {n}\r",
                    shell_quote(&self.plan.bench)
                )
            }
            Job::Echo(x) => {
                self.stats.echo_jobs += 1;
                format!("printf 'KB''ECHO%s.' $(({x} * 7)); printf 'KB''END%s.' {n}\r")
            }
            Job::Token => {
                self.stats.token_jobs += 1;
                format!(
                    "{} token >/dev/null 2>&1 && printf 'KB''TOK%s.' ok || printf 'KB''TOK%s.' \"failed $?\"; printf 'KB''END%s.' {n}\r",
                    shell_quote(&self.plan.kiln)
                )
            }
        };
        // Where to drop the viewer: after this many bytes of the job's output.
        let expected = match job {
            Job::Stream(b) => *b,
            _ => 64,
        };
        let mut drop_after = drop.then(|| self.rng.below(expected + line.len() as u64));
        self.viewer().await?.send(line.as_bytes()).await?;
        let mut out: Vec<u8> = Vec::new();
        // Where the search for the end marker goes on (never rescan the whole output).
        let mut scanned = 0;
        loop {
            if let Some(at) = drop_after
                && out.len() as u64 >= at
            {
                drop_after = None;
                let polite = self.rng.below(2) == 0;
                self.drop_viewer(polite).await;
                let away = Duration::from_millis(self.rng.below(1000));
                tokio::time::sleep(away).await;
                self.stats.reconnects += 1;
            }
            let chunk = self.viewer().await?.recv().await?;
            match chunk {
                Chunk::Data(d) => {
                    self.pos += d.len() as u64;
                    out.extend_from_slice(&d);
                }
                Chunk::Gap | Chunk::Snapshot(_) => {
                    self.stats.gaps += 1;
                    bail!("the viewer fell behind the ring (a snapshot instead of bytes)");
                }
                Chunk::End => bail!("the session ended"),
            }
            if find(&out[scanned..], end_marker.as_bytes()).is_some() {
                break;
            }
            scanned = out.len().saturating_sub(end_marker.len());
        }
        match job {
            Job::Stream(bytes) => {
                let at = find(&out, pattern::BEGIN_MARKER)
                    .ok_or_else(|| anyhow!("no start marker before the end marker"))?
                    + pattern::BEGIN_MARKER.len();
                let len = *bytes as usize;
                let body = out
                    .get(at..at + len)
                    .ok_or_else(|| anyhow!("fewer than {bytes} bytes between the markers"))?;
                if sha256(body) != pattern::sha256(*bytes) {
                    bail!("the {bytes} bytes of the stream differ from the pattern (checksum)");
                }
                if !out[at + len..].starts_with(end_marker.as_bytes()) {
                    bail!("bytes between the stream's end and the end marker (repeated output?)");
                }
                self.stats.bytes_verified += bytes;
            }
            Job::Echo(x) => {
                let want = format!("KBECHO{}.", x * 7);
                if find(&out, want.as_bytes()).is_none() {
                    bail!("{want:?} did not come back");
                }
            }
            Job::Token => {
                if find(&out, b"KBTOKok.").is_none() {
                    let at = find(&out, b"KBTOK").unwrap_or(0);
                    let end = (at + 32).min(out.len());
                    bail!(
                        "`kiln token` in the terminal failed: {}",
                        String::from_utf8_lossy(&out[at..end])
                    );
                }
            }
        }
        Ok(())
    }

    /// Occasional extra traffic between jobs: a snapshot viewer, a long poll, a resize.
    async fn between_jobs(&mut self) {
        let id = self.stats.id.clone();
        match self.rng.below(12) {
            0 => match snapshot_viewer(&self.api, &id).await {
                Ok(()) => self.stats.snapshot_viewers += 1,
                Err(e) => self.stats.error(format!("snapshot viewer: {e:#}")),
            },
            1 => {
                let path = format!("/api/sessions/{id}/output?offset={}&wait=0", self.pos);
                match self.api.request("GET", &path, None).await {
                    Ok((200 | 204, _)) => self.stats.long_polls += 1,
                    Ok((s, b)) => self.stats.error(format!(
                        "long poll: status {s}: {}",
                        String::from_utf8_lossy(&b)
                    )),
                    Err(e) => self.stats.error(format!("long poll: {e:#}")),
                }
            }
            2 => {
                let cols = 80 + self.rng.below(41);
                let body = serde_json::json!({"cols": cols, "rows": 24});
                let path = format!("/api/sessions/{id}/resize");
                match self.api.request("POST", &path, Some(&body)).await {
                    Ok((204, _)) => self.stats.resizes += 1,
                    Ok((s, _)) => self.stats.error(format!("resize: status {s}")),
                    Err(e) => self.stats.error(format!("resize: {e:#}")),
                }
            }
            _ => {}
        }
    }
}

/// Attaches without an offset, reads the whole snapshot, leaves.
async fn snapshot_viewer(api: &Api, id: &str) -> anyhow::Result<()> {
    let mut t = KilnTerm::connect(api, id, None).await?;
    tokio::time::timeout(crate::term::WAIT, t.read_snapshot())
        .await
        .context("the snapshot did not arrive")??;
    t.close().await;
    Ok(())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}
