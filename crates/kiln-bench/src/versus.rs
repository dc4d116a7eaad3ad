//! kiln against the reference relay (`relay.rs`) and the raw PTY, in one run: a fresh
//! `kiln serve` and a fresh `kiln-bench relay` side by side, driven by the same client code, with
//! the measurements repeated (`--repeat`, 3 by default; the side that goes first alternates) so
//! the report can take medians. Per repetition and side:
//!
//! - `--stream-runs` single streams of `--bytes` per server, each read by an efficient client
//!   and by a slow one (`client.rs`), the servers taking turns, with the server's CPU time per
//!   MB: from attaching until the server is idle again after the last byte (so work a server
//!   defers is counted);
//! - `--streams` flooding sessions plus the keystroke echo of one more, with the server's CPU
//!   time per MB delivered and its RSS, both over the echo series and at least
//!   `--flood-seconds` of floods (kiln's echo series alone lasts well under a second, a few
//!   dozen clock ticks of CPU time);
//! - the raw PTY's single stream and echo beside floods, for the ratio to raw.
//!
//! A stream that does not arrive intact is named on stderr as it happens, with the bytes it
//! delivered, its gaps and its duration (also in the JSON).
//!
//! The servers' idle RSS is read right after they start.

use crate::echo::{self, EchoPlan, EchoResult};
use crate::kiln::{self, Api, KilnServer, ServerConfig, TempHome};
use crate::raw::RawPty;
use crate::ws::KilnTerm;
use crate::{client::Reader, concurrent, cpu, throughput};
use anyhow::{Context, anyhow, bail};
use serde::Serialize;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// One stream on one side.
#[derive(Debug, Clone, Serialize)]
pub struct StreamRun {
    pub mb_per_s: f64,
    /// Server CPU seconds per MB (10^6 bytes) delivered; `None` for the raw PTY (no server).
    pub cpu_s_per_mb: Option<f64>,
    pub intact: bool,
    /// Bytes received after the marker (at most the stream's size).
    pub received_bytes: u64,
    /// Snapshots sent instead of bytes (the viewer fell a ring behind).
    pub gaps: u64,
    pub seconds: f64,
}

impl StreamRun {
    fn new(r: &throughput::StreamResult, cpu_s_per_mb: Option<f64>) -> Self {
        StreamRun {
            mb_per_s: r.mb_per_s,
            cpu_s_per_mb,
            intact: r.intact,
            received_bytes: r.received_bytes,
            gaps: r.gaps,
            seconds: r.seconds,
        }
    }
}

/// Many flooding sessions plus an interactive one, on one side.
#[derive(Debug, Clone, Serialize)]
pub struct FloodRun {
    pub aggregate_mb_per_s: f64,
    pub cpu_s_per_mb: Option<f64>,
    /// Server RSS at the end of the echo series, bytes.
    pub rss: Option<u64>,
    pub gaps: u64,
    pub echo: EchoResult,
}

/// What one side measured, one entry per repetition.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SideRuns {
    pub efficient: Vec<StreamRun>,
    pub slow: Vec<StreamRun>,
    pub flood: Vec<FloodRun>,
    pub idle_rss: Option<u64>,
}

/// The comparison.
#[derive(Debug, Clone, Serialize)]
pub struct VersusResult {
    pub repeats: usize,
    /// Single streams per client kind and server in each repetition.
    pub stream_runs: usize,
    pub bytes: u64,
    pub streams: usize,
    pub ring_bytes: u64,
    pub raw: SideRuns,
    pub relay: SideRuns,
    pub kiln: SideRuns,
}

impl VersusResult {
    /// The runs of the server called `name` ("kiln" or the relay).
    fn server_mut(&mut self, name: &str) -> &mut SideRuns {
        if name == "kiln" {
            &mut self.kiln
        } else {
            &mut self.relay
        }
    }
}

/// What the comparison needs from the run.
pub struct Plan<'a> {
    pub cfg: &'a ServerConfig,
    pub exe: &'a Path,
    pub raw_home: &'a Path,
    pub bytes: u64,
    pub expected: [u8; 32],
    pub streams: usize,
    pub repeats: usize,
    /// Single streams per client kind and server in each repetition.
    pub stream_runs: usize,
    pub echo: EchoPlan,
    /// Shortest window of floods the CPU time per MB of `streams` is measured over.
    pub flood_min: Duration,
}

/// A running `kiln-bench relay`.
struct RelayServer {
    child: tokio::process::Child,
    pid: u32,
    api: Api,
}

impl RelayServer {
    async fn start(exe: &Path, shell: &Path, home: &Path) -> anyhow::Result<Self> {
        let mut cmd = tokio::process::Command::new(exe);
        crate::orphan::server(&mut cmd);
        let mut child = cmd
            .arg("relay")
            .arg("--shell")
            .arg(shell)
            .arg("--home")
            .arg(home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the relay")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the relay exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("relay: http://") {
                    let host = rest.trim_end_matches('/');
                    return Ok(host.parse()?);
                }
            }
            bail!("the relay ended without printing its URL")
        })
        .await
        .context("the relay printed no URL within 10 s")??;
        Ok(RelayServer {
            child,
            pid,
            api: Api::new(addr, "unused".into()),
        })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waits until `pid` uses no CPU for 100 ms (at most 10 s), and returns its CPU seconds then.
async fn cpu_when_idle(pid: u32) -> anyhow::Result<f64> {
    let mut last = cpu::seconds(pid)?;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = cpu::seconds(pid)?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// One stream through a server (kiln or the relay) whose process is `pid`.
async fn stream_server(
    api: &Api,
    pid: u32,
    plan: &Plan<'_>,
    reader: Reader,
) -> anyhow::Result<StreamRun> {
    let id = api.create_session().await?;
    let mut t = KilnTerm::connect_with(api, &id, Some(0), reader).await?;
    let before = cpu_when_idle(pid).await?;
    let r = throughput::measure(&mut t, plan.exe, plan.bytes, &plan.expected).await;
    let after = cpu_when_idle(pid).await?;
    t.close().await;
    api.delete_session(&id).await?;
    let r = r?;
    let cpu = (after - before) / (r.received_bytes as f64 / 1e6).max(1e-9);
    Ok(StreamRun::new(&r, Some(cpu)))
}

async fn stream_raw(plan: &Plan<'_>) -> anyhow::Result<StreamRun> {
    let mut t = RawPty::spawn(&plan.cfg.shell, plan.raw_home, 80, 24)?;
    let r = throughput::measure(&mut t, plan.exe, plan.bytes, &plan.expected).await?;
    Ok(StreamRun::new(&r, None))
}

/// CPU seconds and RSS of a server over an echo series.
type Window = Arc<Mutex<Option<(f64, Option<u64>)>>>;

/// Runs `echo`, recording `pid`'s CPU time and RSS over it in `window`.
async fn watched(
    pid: u32,
    window: Window,
    echo: impl Future<Output = anyhow::Result<EchoResult>>,
) -> anyhow::Result<EchoResult> {
    let before = cpu::seconds(pid)?;
    let r = echo.await;
    let used = cpu::seconds(pid)? - before;
    let rss = kiln::rss(pid).ok().map(|r| r.current);
    *window.lock().unwrap_or_else(|p| p.into_inner()) = Some((used, rss));
    r
}

/// Runs `echo`, then lets the floods go on until `min` has passed since it started.
async fn lasting<T>(min: Duration, echo: impl Future<Output = T>) -> T {
    let start = std::time::Instant::now();
    let r = echo.await;
    tokio::time::sleep(min.saturating_sub(start.elapsed())).await;
    r
}

async fn flood_server(api: &Api, pid: u32, plan: &Plan<'_>) -> anyhow::Result<FloodRun> {
    let mut ids = Vec::with_capacity(plan.streams);
    let mut terms = Vec::with_capacity(plan.streams);
    for _ in 0..plan.streams {
        let id = api.create_session().await?;
        terms.push(KilnTerm::connect(api, &id, Some(0)).await?);
        ids.push(id);
    }
    let window: Window = Arc::default();
    let echo = watched(
        pid,
        window.clone(),
        lasting(
            plan.flood_min,
            echo::kiln_on_own_thread(api.clone(), plan.echo),
        ),
    );
    let r = concurrent::run(terms, plan.exe.to_path_buf(), echo).await;
    for id in &ids {
        api.delete_session(id).await?;
    }
    let r = r?;
    let (used, rss) = window
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| anyhow!("the echo series recorded no CPU time"))?;
    Ok(FloodRun {
        aggregate_mb_per_s: r.aggregate_mb_per_s,
        cpu_s_per_mb: Some(used / (r.aggregate_mb_per_s * r.seconds).max(1e-9)),
        rss,
        gaps: r.gaps,
        echo: r.echo,
    })
}

async fn flood_raw(plan: &Plan<'_>) -> anyhow::Result<FloodRun> {
    let mut terms = Vec::with_capacity(plan.streams);
    for _ in 0..plan.streams {
        terms.push(RawPty::spawn(&plan.cfg.shell, plan.raw_home, 80, 24)?);
    }
    let echo = echo::raw_on_own_thread(
        plan.cfg.shell.clone(),
        plan.raw_home.to_path_buf(),
        plan.echo,
    );
    let r = concurrent::run(terms, plan.exe.to_path_buf(), echo).await?;
    Ok(FloodRun {
        aggregate_mb_per_s: r.aggregate_mb_per_s,
        cpu_s_per_mb: None,
        rss: None,
        gaps: r.gaps,
        echo: r.echo,
    })
}

fn progress(msg: &str) {
    eprintln!("kiln-bench: {msg}");
}

/// Runs the comparison.
pub async fn measure(plan: Plan<'_>) -> anyhow::Result<VersusResult> {
    let kiln_home = TempHome::new("versus-kiln")?;
    let relay_home = TempHome::new("versus-relay")?;
    let kiln = KilnServer::start(plan.cfg, &kiln_home.0).await?;
    let relay = RelayServer::start(plan.exe, &plan.cfg.shell, &relay_home.0).await;
    let relay = match relay {
        Ok(r) => r,
        Err(e) => {
            kiln.stop().await;
            return Err(e);
        }
    };
    let r = compare(&plan, &kiln, &relay).await;
    kiln.stop().await;
    relay.stop().await;
    r
}

async fn compare(
    plan: &Plan<'_>,
    kiln: &KilnServer,
    relay: &RelayServer,
) -> anyhow::Result<VersusResult> {
    kiln.api.health().await?;
    let mut out = VersusResult {
        repeats: plan.repeats.max(1),
        stream_runs: plan.stream_runs.max(1),
        bytes: plan.bytes,
        streams: plan.streams,
        ring_bytes: plan.cfg.ring_bytes as u64,
        raw: SideRuns::default(),
        relay: SideRuns {
            idle_rss: kiln::rss(relay.pid).ok().map(|r| r.current),
            ..SideRuns::default()
        },
        kiln: SideRuns {
            idle_rss: kiln::rss(kiln.pid).ok().map(|r| r.current),
            ..SideRuns::default()
        },
    };
    for rep in 0..out.repeats {
        let n = rep + 1;
        progress(&format!("versus relay {n}/{}: raw PTY stream", out.repeats));
        out.raw.efficient.push(stream_raw(plan).await?);
        // Alternate which server goes first, so a trend in the machine's load hits both.
        let sides: [(&str, &Api, u32); 2] = if rep % 2 == 0 {
            [
                ("relay", &relay.api, relay.pid),
                ("kiln", &kiln.api, kiln.pid),
            ]
        } else {
            [
                ("kiln", &kiln.api, kiln.pid),
                ("relay", &relay.api, relay.pid),
            ]
        };
        let runs = out.stream_runs;
        for run in 0..runs {
            // The servers take turns stream by stream, the first of each turn alternating too.
            let order = if run % 2 == 0 {
                sides
            } else {
                [sides[1], sides[0]]
            };
            for (name, api, pid) in order {
                for reader in [Reader::Efficient, Reader::Slow] {
                    progress(&format!(
                        "versus relay {n}/{}: {name}, {reader:?} client, stream {}/{runs}",
                        out.repeats,
                        run + 1
                    ));
                    let r = stream_server(api, pid, plan, reader)
                        .await
                        .with_context(|| format!("{name}, {reader:?} client"))?;
                    if !r.intact {
                        progress(&format!(
                            "{name}, {reader:?} client, stream {}/{runs}: NOT INTACT: {} of {} \
                             bytes, {} gaps, in {:.1} s",
                            run + 1,
                            r.received_bytes,
                            plan.bytes,
                            r.gaps,
                            r.seconds
                        ));
                    }
                    let side = out.server_mut(name);
                    match reader {
                        Reader::Efficient => side.efficient.push(r),
                        Reader::Slow => side.slow.push(r),
                    }
                }
            }
        }
        progress(&format!("versus relay {n}/{}: raw PTY floods", out.repeats));
        out.raw.flood.push(flood_raw(plan).await?);
        for (name, api, pid) in sides {
            progress(&format!("versus relay {n}/{}: {name} floods", out.repeats));
            let r = flood_server(api, pid, plan)
                .await
                .with_context(|| format!("{name}, floods"))?;
            out.server_mut(name).flood.push(r);
        }
    }
    Ok(out)
}
