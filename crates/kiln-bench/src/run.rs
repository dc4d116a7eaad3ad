//! One benchmark run: resolves the binaries, starts the kiln server under test, runs each
//! selected measurement on the raw PTY and on kiln in turn, and hands the results to `report`.
//! A measurement that fails is reported and the others still run.

use crate::cli::{BenchArgs, Part};
use crate::echo::{self, EchoPlan};
use crate::kiln::{self, KilnServer, ServerConfig, TempHome};
use crate::raw::RawPty;
use crate::results::Results;
use crate::ws::KilnTerm;
use crate::{concurrent, memory, pattern, startup, throughput, vtparse};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn progress(msg: &str) {
    eprintln!("kiln-bench: {msg}");
}

/// Everything one run needs to know.
struct Ctx {
    args: BenchArgs,
    exe: PathBuf,
    cfg: ServerConfig,
    raw_home: TempHome,
    plan: EchoPlan,
}

/// Entry point of a benchmark run.
pub fn main(args: BenchArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let json = args.json;
    match rt.block_on(run(args)) {
        Ok(results) => {
            crate::report::print(&results, json);
            if results.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("kiln-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

impl Ctx {
    /// The echo plan beside the streams.
    fn loaded_plan(&self) -> EchoPlan {
        EchoPlan {
            samples: self.args.concurrent_samples.max(1),
            warmup: self.args.warmup.min(self.args.concurrent_samples),
            ..self.plan
        }
    }
}

fn context(args: BenchArgs) -> anyhow::Result<Ctx> {
    let exe = std::env::current_exe().context("cannot locate this executable")?;
    let kiln = kiln::locate(args.kiln.as_deref())?;
    let cfg = ServerConfig {
        kiln,
        shell: args.shell.clone(),
        max_sessions: args.streams.max(args.idle_sessions) + 4,
        ring_bytes: args.ring_bytes,
    };
    let plan = EchoPlan {
        samples: args.samples.max(1),
        warmup: args.warmup,
        interval: Duration::from_millis(args.keystroke_interval_ms),
        budget: Duration::from_secs(args.echo_budget_s),
    };
    Ok(Ctx {
        exe,
        cfg,
        raw_home: TempHome::new("raw")?,
        plan,
        args,
    })
}

fn record<T>(results: &mut Results, what: &str, r: anyhow::Result<T>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            let msg = format!("{what}: {e:#}");
            progress(&format!("FAILED {msg}"));
            results.errors.push(msg);
            None
        }
    }
}

async fn run(args: BenchArgs) -> anyhow::Result<Results> {
    let ctx = context(args)?;
    let mut results = Results::new(&ctx.args);
    if ctx.args.wants(Part::Startup) {
        progress("start-up to first usable session");
        let r = startup::measure(&ctx.cfg, ctx.args.startup_runs).await;
        results.startup = record(&mut results, "start-up", r);
    }
    let home = TempHome::new("serve")?;
    let server = KilnServer::start(&ctx.cfg, &home.0).await?;
    let api = server.api.clone();
    if ctx.args.wants(Part::Memory) {
        progress("memory per session and snapshot of a full ring");
        let r = memory::measure(
            &api,
            server.pid,
            &ctx.exe,
            ctx.args.idle_sessions,
            ctx.args.ring_bytes,
            ctx.args.snapshot_runs,
        )
        .await;
        if let Some((m, s)) = record(&mut results, "memory", r) {
            results.memory = Some(m);
            results.snapshot = Some(s);
        }
    }
    if ctx.args.wants(Part::Throughput) {
        progress("VT parser alone (the server's per-byte work)");
        let bytes = ctx.args.bytes.min(50_000_000);
        let r = tokio::task::spawn_blocking(move || vtparse::measure(bytes)).await;
        results.vt_parser_mb_per_s = record(&mut results, "VT parser", r.map_err(Into::into));
    }
    if ctx.args.wants(Part::Echo) {
        progress("keystroke echo, raw PTY");
        let r =
            echo::raw_on_own_thread(ctx.cfg.shell.clone(), ctx.raw_home.0.clone(), ctx.plan).await;
        results.echo_raw = record(&mut results, "echo (raw)", r);
        progress("keystroke echo, kiln");
        let r = echo::kiln_on_own_thread(api.clone(), ctx.plan).await;
        results.echo_kiln = record(&mut results, "echo (kiln)", r);
    }
    if ctx.args.wants(Part::Throughput) {
        let bytes = ctx.args.bytes;
        let expected = tokio::task::spawn_blocking(move || pattern::sha256(bytes)).await?;
        progress(&format!("throughput of {bytes} bytes, raw PTY"));
        let r = async {
            let mut t = RawPty::spawn(&ctx.cfg.shell, &ctx.raw_home.0, 80, 24)?;
            throughput::measure(&mut t, &ctx.exe, bytes, &expected).await
        }
        .await;
        results.throughput_raw = record(&mut results, "throughput (raw)", r);
        progress(&format!("throughput of {bytes} bytes, kiln"));
        let r = async {
            let id = api.create_session().await?;
            let mut t = KilnTerm::connect(&api, &id, Some(0)).await?;
            let r = throughput::measure(&mut t, &ctx.exe, bytes, &expected).await;
            t.close().await;
            api.delete_session(&id).await?;
            r
        }
        .await;
        results.throughput_kiln = record(&mut results, "throughput (kiln)", r);
    }
    if ctx.args.wants(Part::Concurrent) {
        let n = ctx.args.streams;
        progress(&format!("{n} streams + echo of one more, raw PTY"));
        let r = async {
            let mut terms = Vec::with_capacity(n);
            for _ in 0..n {
                terms.push(RawPty::spawn(&ctx.cfg.shell, &ctx.raw_home.0, 80, 24)?);
            }
            let echo = echo::raw_on_own_thread(
                ctx.cfg.shell.clone(),
                ctx.raw_home.0.clone(),
                ctx.loaded_plan(),
            );
            concurrent::run(terms, ctx.exe.clone(), echo).await
        }
        .await;
        results.concurrent_raw = record(&mut results, "concurrent (raw)", r);
        progress(&format!("{n} streams + echo of one more, kiln"));
        let r = async {
            let mut ids = Vec::with_capacity(n);
            let mut terms = Vec::with_capacity(n);
            for _ in 0..n {
                let id = api.create_session().await?;
                terms.push(KilnTerm::connect(&api, &id, Some(0)).await?);
                ids.push(id);
            }
            let echo = echo::kiln_on_own_thread(api.clone(), ctx.loaded_plan());
            let r = concurrent::run(terms, ctx.exe.clone(), echo).await;
            for id in &ids {
                api.delete_session(id).await?;
            }
            r
        }
        .await;
        results.concurrent_kiln = record(&mut results, "concurrent (kiln)", r);
    }
    if ctx.args.wants(Part::Relay) {
        progress("kiln against the reference relay");
        let bytes = ctx.args.bytes;
        let expected = tokio::task::spawn_blocking(move || pattern::sha256(bytes)).await?;
        let r = crate::versus::measure(crate::versus::Plan {
            cfg: &ctx.cfg,
            exe: &ctx.exe,
            raw_home: &ctx.raw_home.0,
            bytes,
            expected,
            streams: ctx.args.streams,
            repeats: ctx.args.repeat,
            stream_runs: ctx.args.stream_runs,
            echo: ctx.loaded_plan(),
            flood_min: Duration::from_secs(ctx.args.flood_seconds),
        })
        .await;
        results.versus = record(&mut results, "versus relay", r);
    }
    let peak = kiln::rss(server.pid);
    results.peak_rss = record(&mut results, "peak RSS", peak).map(|r| r.peak);
    server.stop().await;
    results.load_after = crate::results::loadavg();
    Ok(results)
}
