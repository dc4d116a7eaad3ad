//! `kiln-bench soak`: kiln serve under long, realistic use against an emulated workspace, with
//! its resources watched. ~20 sessions work (pattern output checked by SHA-256, shell
//! arithmetic, `kiln token` through the broker) while their viewers drop and reconnect at their
//! offsets, extra viewers take snapshots, long polls and resizes come in; kiln rotates its
//! Databricks token while faults are injected into the workspace (429, 5xx, resets, a five-minute
//! outage). The kiln process's RSS, threads and open file descriptors are sampled throughout;
//! at the end every session must still be alive, every session closed must give back its
//! descriptors, and a clean stop must leave no kiln token alive.
//!
//! **Emulated time.** kiln's rotation timers all follow the token lifetime (rotate with a third
//! left, grace a tenth, backoff a fraction), so a lifetime of `L` seconds instead of kiln's 900
//! runs the same schedule `900 / L` times faster. The soak uses `KILN_TOKEN_LIFETIME_SECONDS`
//! and scales its own schedule (faults, the outage, the run length) by the same factor.
//!
//! `probe` reads `/proc`, `session` drives one session, `watch` injects faults and checks
//! tokens, `report` prints the result.

mod probe;
mod report;
mod session;
mod watch;

use crate::kiln::{self, Api, KilnServer, ServerConfig, TempHome};
use anyhow::{Context, bail};
use clap::Args;
use kiln_emulator::{Emulator, EmulatorOptions};
use probe::{Fds, Sample, Trend};
use report::{Check, Report};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// kiln's own token lifetime, which the emulated time is measured against (seconds).
const REAL_LIFETIME_S: f64 = 900.0;

/// Flags of `kiln-bench soak`.
#[derive(Debug, Clone, Args)]
#[command(
    about = "Soak test: kiln serve with ~20 working sessions, token rotation, Databricks faults and \
             reconnecting viewers for emulated hours; reports whether memory and file descriptors \
             stay flat, lost or repeated bytes, and errors",
    after_help = "Example (two emulated hours in four minutes, the default):\n  \
                  cargo build -p kiln -p kiln-bench && target/debug/kiln-bench soak\n\
                  Longer: kiln-bench soak --emulated-hours 10 --json > soak.json\n\
                  Exit status 0 when every check passed. See docs/performance.md (Soak)."
)]
pub struct SoakArgs {
    /// The kiln binary (default: `kiln` next to this executable).
    #[arg(long)]
    pub kiln: Option<PathBuf>,
    /// Shell the sessions run.
    #[arg(long, default_value = "/bin/bash")]
    pub shell: PathBuf,
    /// Sessions working at once.
    #[arg(long, default_value_t = 20)]
    pub sessions: usize,
    /// Length of the run in emulated hours.
    #[arg(long, default_value_t = 2.0)]
    pub emulated_hours: f64,
    /// Lifetime of kiln's tokens in real seconds (10 to 900). Time runs 900 / this faster.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(10..=900))]
    pub token_lifetime_seconds: u64,
    /// Output ring per session (kiln's default: 4 MiB).
    #[arg(long, default_value_t = 4 << 20)]
    pub ring_bytes: u64,
    /// Largest output of one job, bytes (must stay below half the ring).
    #[arg(long, default_value_t = 256 << 10)]
    pub job_bytes_max: u64,
    /// Emulated minutes between two injected transient faults.
    #[arg(long, default_value_t = 10.0)]
    pub fault_every_minutes: f64,
    /// Skip the five-minute outage.
    #[arg(long)]
    pub no_outage: bool,
    /// Real milliseconds between two samples of kiln's memory and descriptors.
    #[arg(long, default_value_t = 1000)]
    pub sample_every_ms: u64,
    /// Largest accepted growth of RSS (last- minus first-quartile mean), MiB.
    #[arg(long, default_value_t = 16)]
    pub rss_growth_limit_mib: u64,
    /// Descriptors tolerated above the baseline after every session closed, and as growth of
    /// the quartile means (pooled HTTP connections come and go).
    #[arg(long, default_value_t = 8)]
    pub fd_slack: u64,
    /// Seed of the workload's choices (which job, when a viewer drops).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report (with every sample) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A small deterministic generator for the workload's choices (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        if n == 0 { 0 } else { r % n }
    }
}

/// Real and emulated time of the measured part of the run.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    scale: f64,
    real_total: Duration,
}

impl Clock {
    fn new(scale: f64, real_total: Duration) -> Self {
        Clock {
            start: Instant::now(),
            scale,
            real_total,
        }
    }

    /// Emulated time since the start.
    pub fn emulated(&self) -> Duration {
        self.start.elapsed().mul_f64(self.scale)
    }

    /// How much of the run is done (0 to 1 and beyond).
    pub fn fraction(&self) -> f64 {
        self.start.elapsed().as_secs_f64() / self.real_total.as_secs_f64().max(1e-9)
    }

    /// The real time an emulated span takes.
    pub fn real_for(&self, emulated: Duration) -> Duration {
        emulated.div_f64(self.scale)
    }
}

/// Entry point of `kiln-bench soak`.
pub fn main(args: SoakArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln-bench soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(report) => {
            report::print(&report, args.json);
            if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("kiln-bench soak: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn sample(pid: u32, clock: Option<&Clock>, started: Instant) -> anyhow::Result<Sample> {
    let (rss, threads) = probe::memory(pid)?;
    Ok(Sample {
        t_s: started.elapsed().as_secs_f64(),
        emulated_min: clock.map_or(0.0, |c| c.emulated().as_secs_f64() / 60.0),
        rss,
        threads,
        fds: probe::fds(pid)?,
    })
}

async fn paste(api: &Api, token: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "token": token });
    let (status, answer) = api.request("POST", "/api/credentials", Some(&body)).await?;
    if status != 200 {
        bail!(
            "pasting the token: status {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    Ok(())
}

async fn run(args: &SoakArgs) -> anyhow::Result<Report> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if args.job_bytes_max * 2 > args.ring_bytes {
        bail!(
            "--job-bytes-max must be at most half of --ring-bytes (a dropped viewer must find its bytes in the ring)"
        );
    }
    let started = Instant::now();
    let kiln_bin = kiln::locate(args.kiln.as_deref())?;
    let bench = std::env::current_exe().context("cannot locate this executable")?;
    let emu = Emulator::start(EmulatorOptions::default()).await?;
    let pat = emu.create_token(emu.user_email(), Some(Duration::from_secs(24 * 3600)))?;
    let home = TempHome::new("soak")?;
    let cfg = ServerConfig {
        kiln: kiln_bin.clone(),
        shell: args.shell.clone(),
        max_sessions: args.sessions + 2,
        ring_bytes: args.ring_bytes as usize,
    };
    let lifetime = args.token_lifetime_seconds.to_string();
    let env: Vec<(&str, Option<&str>)> = vec![
        ("DATABRICKS_HOST", Some(emu.url())),
        ("KILN_TOKEN_LIFETIME_SECONDS", Some(&lifetime)),
        ("KILN_SYNC", Some("false")),
        ("RUST_LOG", Some("info")),
        ("DATABRICKS_TOKEN", None),
        ("DATABRICKS_CONFIG_PROFILE", None),
        ("DATABRICKS_CONFIG_FILE", None),
        ("DATABRICKS_CLIENT_ID", None),
        ("DATABRICKS_CLIENT_SECRET", None),
        ("DATABRICKS_APP_NAME", None),
        ("KILN_AGENTS_SETUP", None),
    ];
    eprintln!(
        "kiln-bench soak: starting kiln serve ({})",
        kiln_bin.display()
    );
    let server = KilnServer::start_with_env(&cfg, &home.0, &env).await?;
    let api = server.api.clone();
    let pid = server.pid;
    paste(&api, &pat).await?;
    let http = reqwest::Client::new();
    let scale = REAL_LIFETIME_S / args.token_lifetime_seconds as f64;
    let real_total = Duration::from_secs_f64(args.emulated_hours.max(0.0) * 3600.0 / scale);

    let baseline = sample(pid, None, started)?;
    eprintln!(
        "kiln-bench soak: baseline RSS {:.1} MiB, {} fds; opening {} sessions and filling their rings",
        mib(baseline.rss),
        baseline.fds.total,
        args.sessions
    );
    let plan = session::Plan {
        bench,
        kiln: kiln_bin.clone(),
        job_bytes_max: args.job_bytes_max.max(1),
        warmup_bytes: args.ring_bytes + (64 << 10),
        think_ms: (100, 1500),
    };
    let mut workers = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions {
        let id = api.create_session().await?;
        workers.push(session::Worker::new(
            api.clone(),
            id,
            plan.clone(),
            args.seed.wrapping_add(i as u64 * 7919),
        ));
    }
    let warm = workers.into_iter().map(|mut w| {
        tokio::spawn(async move {
            w.warm_up().await;
            w
        })
    });
    let mut workers = Vec::new();
    for h in warm {
        workers.push(h.await?);
    }
    let after_warmup = sample(pid, None, started)?;

    eprintln!(
        "kiln-bench soak: {} emulated hours ({:.0} s real, time x{scale:.0})",
        args.emulated_hours,
        real_total.as_secs_f64()
    );
    let clock = Clock::new(scale, real_total);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = workers
        .into_iter()
        .map(|mut w| {
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                w.run(stop).await;
                w
            })
        })
        .collect();
    let faults = {
        let every = Duration::from_secs_f64(args.fault_every_minutes.max(0.1) * 60.0);
        let outage = (!args.no_outage).then_some(0.3);
        let stop = stop_rx.clone();
        let (emu, api) = (&emu, &api);
        async move { watch::faults(emu, api, clock, every, outage, stop).await }
    };
    let sampling = async {
        let mut samples = Vec::new();
        let mut seen = Default::default();
        let mut tokens = watch::TokenReport::default();
        let mut tick = tokio::time::interval(Duration::from_millis(args.sample_every_ms.max(50)));
        let mut last_progress = Instant::now();
        while clock.fraction() < 1.0 {
            tick.tick().await;
            match sample(pid, Some(&clock), started) {
                Ok(s) => samples.push(s),
                Err(e) => {
                    tokens.errors.push(format!("sampling kiln: {e:#}"));
                    break;
                }
            }
            watch::check_tokens(&http, &emu, &api, &mut seen, &mut tokens).await;
            if last_progress.elapsed() >= Duration::from_secs(60) {
                last_progress = Instant::now();
                if let Some(s) = samples.last() {
                    eprintln!(
                        "kiln-bench soak: {:.0} emulated min: RSS {:.1} MiB, {} fds, {} rotations",
                        s.emulated_min,
                        mib(s.rss),
                        s.fds.total,
                        tokens.rotations
                    );
                }
            }
        }
        let _ = stop_tx.send(true);
        (samples, seen, tokens)
    };
    let (fault_report, (samples, mut seen, mut tokens)) = tokio::join!(faults, sampling);
    let mut sessions = Vec::new();
    for h in handles {
        sessions.push(h.await?.stats);
    }
    // One last look while everything is still open.
    watch::check_tokens(&http, &emu, &api, &mut seen, &mut tokens).await;
    tokens.faults_injected = fault_report.faults_injected;
    tokens.outage_at_emulated_min = fault_report.outage_at_emulated_min;
    tokens.outage_emulated_min = if args.no_outage { 0.0 } else { 5.0 };

    let alive = alive_sessions(&api).await?;
    for s in &sessions {
        api.delete_session(&s.id).await?;
    }
    let after_close = settle_fds(pid, &baseline.fds, args.fd_slack, started).await?;
    let listed_after_close = listed_sessions(&api).await?;
    // The clean stop revokes kiln's tokens: with the workspace up again (a revocation that
    // fails is left to the next start, by design, and would not say anything about leaks).
    emu.clear_faults();
    server.stop().await;
    let log_path = home.0.join("kiln-serve.log");
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    tokens.kiln_tokens_alive_after_stop = Some(watch::kiln_tokens(&http, &emu).await?.len());

    let measured = |f: fn(&Sample) -> f64| -> Option<Trend> {
        let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.emulated_min, f(s))).collect();
        Trend::of(&points)
    };
    let mut report = Report {
        sessions_asked: args.sessions,
        emulated_hours: args.emulated_hours,
        time_scale: scale,
        token_lifetime_seconds: args.token_lifetime_seconds,
        real_seconds: clock.start.elapsed().as_secs_f64(),
        ring_bytes: args.ring_bytes,
        seed: args.seed,
        baseline,
        after_warmup,
        after_close,
        listed_after_close,
        kept_log: None,
        rss: measured(|s| s.rss as f64),
        fds: measured(|s| s.fds.total as f64),
        threads: measured(|s| s.threads as f64),
        sessions_alive_at_end: alive,
        sessions,
        tokens,
        log_warnings: count_lines(&log, "WARN"),
        log_errors: count_lines(&log, "ERROR"),
        log_panics: count_lines(&log, "panicked"),
        samples,
        checks: Vec::new(),
        passed: false,
    };
    report.checks = checks(&report, args);
    report.passed = report.checks.iter().all(|c| c.ok);
    if !report.passed {
        // The temporary HOME goes away with this run: keep kiln's log for a post-mortem.
        let kept = std::env::temp_dir().join(format!("kiln-bench-soak-{}.log", std::process::id()));
        if std::fs::copy(&log_path, &kept).is_ok() {
            report.kept_log = Some(kept);
        }
    }
    Ok(report)
}

/// Lines of kiln's log at `level` (the word after the time stamp), colour codes (`ESC [ … m`)
/// taken out; with `level` "panicked", lines that mention a panic anywhere.
fn count_lines(log: &str, level: &str) -> usize {
    log.lines()
        .filter(|l| {
            let mut plain = String::with_capacity(l.len());
            let mut in_code = false;
            for c in l.chars() {
                match (in_code, c) {
                    (false, '\u{1b}') => in_code = true,
                    (true, 'm') => in_code = false,
                    (true, _) => {}
                    (false, c) => plain.push(c),
                }
            }
            if level == "panicked" {
                plain.contains(level)
            } else {
                plain.split_whitespace().nth(1) == Some(level)
            }
        })
        .count()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

/// Sessions `GET /api/sessions` lists, exited or not.
async fn listed_sessions(api: &Api) -> anyhow::Result<usize> {
    let (status, body) = api.request("GET", "/api/sessions", None).await?;
    if status != 200 {
        bail!("GET /api/sessions: status {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["sessions"].as_array().map_or(0, Vec::len))
}

/// Sessions listed by kiln whose shell has not exited.
async fn alive_sessions(api: &Api) -> anyhow::Result<usize> {
    let (status, body) = api.request("GET", "/api/sessions", None).await?;
    if status != 200 {
        bail!("GET /api/sessions: status {status}");
    }
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["sessions"]
        .as_array()
        .map(|a| a.iter().filter(|s| s["exit"].is_null()).count())
        .unwrap_or(0))
}

/// After every session was deleted: waits (30 s at most) until no PTY is open and the
/// descriptors are back within `slack` of the baseline, and returns the last sample.
async fn settle_fds(
    pid: u32,
    baseline: &Fds,
    slack: u64,
    started: Instant,
) -> anyhow::Result<Sample> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = sample(pid, None, started)?;
        let settled = s.fds.pty <= baseline.pty && s.fds.total <= baseline.total + slack;
        if settled || Instant::now() >= deadline {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn checks(r: &Report, args: &SoakArgs) -> Vec<Check> {
    let total = |f: fn(&session::SessionStats) -> u64| r.sessions.iter().map(f).sum::<u64>();
    let mut c = Vec::new();
    let failed = total(|s| s.jobs_failed);
    let errors = total(|s| s.error_count);
    c.push(Check::new(
        "every job verified (no byte lost or repeated, echo and kiln token right)",
        failed == 0 && errors == 0 && total(|s| s.gaps) == 0,
        format!(
            "{} jobs ok, {failed} failed, {errors} errors, {} gaps",
            total(|s| s.jobs_ok),
            total(|s| s.gaps)
        ),
    ));
    c.push(Check::new(
        "no session lost",
        r.sessions_alive_at_end == args.sessions,
        format!(
            "{} of {} alive at the end",
            r.sessions_alive_at_end, args.sessions
        ),
    ));
    c.push(Check::new(
        "viewers dropped and resumed at their offsets",
        total(|s| s.reconnects) > 0,
        format!("{} reconnects", total(|s| s.reconnects)),
    ));
    let t = &r.tokens;
    c.push(Check::new(
        "tokens rotated, at most current + one previous alive, never without a token",
        t.rotations > 0 && t.max_kiln_tokens_alive <= 2 && t.errors.is_empty(),
        format!(
            "{} rotations, at most {} alive, {} errors",
            t.rotations,
            t.max_kiln_tokens_alive,
            t.errors.len()
        ),
    ));
    c.push(Check::new(
        "every kiln token revoked after a clean stop",
        t.kiln_tokens_alive_after_stop == Some(0),
        format!("{:?} alive after the stop", t.kiln_tokens_alive_after_stop),
    ));
    let limit = (args.rss_growth_limit_mib << 20) as f64;
    c.push(match &r.rss {
        Some(rss) => Check::new(
            "RSS flat (last- minus first-quartile mean within the limit)",
            rss.growth() <= limit,
            format!(
                "{:+.1} MiB (limit {} MiB), slope {:+.2} MiB per emulated hour",
                rss.growth() / (1 << 20) as f64,
                args.rss_growth_limit_mib,
                rss.slope_per_emulated_hour / (1 << 20) as f64
            ),
        ),
        None => Check::new("RSS flat", false, "fewer than 4 samples".into()),
    });
    c.push(match &r.fds {
        Some(fds) => Check::new(
            "open descriptors flat during the run",
            fds.growth() <= args.fd_slack as f64,
            format!(
                "{:+.1} (slack {}), slope {:+.2} per emulated hour",
                fds.growth(),
                args.fd_slack,
                fds.slope_per_emulated_hour
            ),
        ),
        None => Check::new("descriptors flat", false, "fewer than 4 samples".into()),
    });
    c.push(Check::new(
        "descriptors back to the baseline after every session closed",
        r.after_close.fds.pty <= r.baseline.fds.pty
            && r.after_close.fds.total <= r.baseline.fds.total + args.fd_slack,
        format!(
            "{} fds ({} PTY) after, {} ({} PTY) at the baseline",
            r.after_close.fds.total,
            r.after_close.fds.pty,
            r.baseline.fds.total,
            r.baseline.fds.pty
        ),
    ));
    c.push(Check::new(
        "no panic in kiln's log",
        r.log_panics == 0,
        format!("{} panic lines", r.log_panics),
    ));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_counted_without_colour_codes() {
        let log = "\u{1b}[2mt\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x: y\nt  INFO a: WARN in text\n\
                   t ERROR z\nthread 'x' panicked at y\n";
        assert_eq!(count_lines(log, "WARN"), 1);
        assert_eq!(count_lines(log, "ERROR"), 1);
        assert_eq!(count_lines(log, "panicked"), 1);
    }
}
