//! The soak's result: what ran, the trends of kiln's memory and descriptors, what the sessions
//! and the token watch saw, and the checks with their verdicts; printed as text or JSON.

use super::probe::{Sample, Trend};
use super::session::SessionStats;
use super::watch::TokenReport;
use serde::Serialize;

/// One verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &str, ok: bool, detail: String) -> Self {
        Check {
            name: name.to_owned(),
            ok,
            detail,
        }
    }
}

/// Everything a soak run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub sessions_asked: usize,
    pub emulated_hours: f64,
    pub time_scale: f64,
    pub token_lifetime_seconds: u64,
    /// Real seconds of the measured part (after the warm-up).
    pub real_seconds: f64,
    pub ring_bytes: u64,
    pub seed: u64,
    /// kiln with a token and no session.
    pub baseline: Sample,
    /// Every session open with its ring full, before the measured part.
    pub after_warmup: Sample,
    /// After every session was deleted.
    pub after_close: Sample,
    /// Sessions kiln still listed then (none expected).
    pub listed_after_close: usize,
    /// Where kiln's log was kept (only when a check failed).
    pub kept_log: Option<std::path::PathBuf>,
    /// Over the measured part; x is emulated minutes.
    pub rss: Option<Trend>,
    pub fds: Option<Trend>,
    pub threads: Option<Trend>,
    pub sessions_alive_at_end: usize,
    pub sessions: Vec<SessionStats>,
    pub tokens: TokenReport,
    pub log_warnings: usize,
    pub log_errors: usize,
    pub log_panics: usize,
    pub samples: Vec<Sample>,
    pub checks: Vec<Check>,
    pub passed: bool,
}

fn mib(b: f64) -> String {
    format!("{:.1} MiB", b / (1 << 20) as f64)
}

/// Prints `r` as text (or JSON with `json`).
pub fn print(r: &Report, json: bool) {
    if json {
        match serde_json::to_string_pretty(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("kiln-bench soak: cannot write JSON: {e}"),
        }
        return;
    }
    let sum = |f: fn(&SessionStats) -> u64| r.sessions.iter().map(f).sum::<u64>();
    println!(
        "soak: {} sessions, {} emulated hours in {:.0} s (time x{:.0}, token lifetime {} s), ring {}",
        r.sessions_asked,
        r.emulated_hours,
        r.real_seconds,
        r.time_scale,
        r.token_lifetime_seconds,
        mib(r.ring_bytes as f64)
    );
    println!(
        "work: {} jobs ok, {} failed; {} stream jobs ({} verified by SHA-256), {} echo, {} kiln token",
        sum(|s| s.jobs_ok),
        sum(|s| s.jobs_failed),
        sum(|s| s.stream_jobs),
        mib(sum(|s| s.bytes_verified) as f64),
        sum(|s| s.echo_jobs),
        sum(|s| s.token_jobs)
    );
    println!(
        "viewers: {} drops and reconnects at the kept offset, {} gaps, {} snapshot viewers, {} long polls, {} resizes",
        sum(|s| s.reconnects),
        sum(|s| s.gaps),
        sum(|s| s.snapshot_viewers),
        sum(|s| s.long_polls),
        sum(|s| s.resizes)
    );
    let t = &r.tokens;
    println!(
        "tokens: {} rotations, {} revoked, {} kiln tokens seen, at most {} alive at once ({} checks, {} hit by a fault), states {:?}, most consecutive failures {}, alive after stop: {:?}",
        t.rotations,
        t.revoked,
        t.kiln_tokens_seen,
        t.max_kiln_tokens_alive,
        t.token_checks,
        t.token_checks_skipped,
        t.states_seen,
        t.max_failures,
        t.kiln_tokens_alive_after_stop
    );
    println!("faults: {}", t.faults_injected.join("; "));
    println!(
        "kiln: baseline RSS {}, {} fds; after warm-up RSS {}, {} fds ({} PTY); after closing every session RSS {}, {} fds ({} PTY)",
        mib(r.baseline.rss as f64),
        r.baseline.fds.total,
        mib(r.after_warmup.rss as f64),
        r.after_warmup.fds.total,
        r.after_warmup.fds.pty,
        mib(r.after_close.rss as f64),
        r.after_close.fds.total,
        r.after_close.fds.pty
    );
    for (name, trend, bytes) in [
        ("RSS", &r.rss, true),
        ("fds", &r.fds, false),
        ("threads", &r.threads, false),
    ] {
        if let Some(tr) = trend {
            let f = |v: f64| if bytes { mib(v) } else { format!("{v:.1}") };
            println!(
                "{name}: {} samples, min {}, max {}, first quartile {}, last quartile {}, slope {} per emulated hour",
                tr.samples,
                f(tr.min),
                f(tr.max),
                f(tr.first_quartile_mean),
                f(tr.last_quartile_mean),
                f(tr.slope_per_emulated_hour)
            );
        }
    }
    let n = r.samples.len();
    if n > 0 {
        let line: Vec<String> = (0..=10)
            .map(|i| &r.samples[(i * (n - 1)) / 10])
            .map(|s| {
                format!(
                    "{:.0}m {:.1}/{}",
                    s.emulated_min,
                    s.rss as f64 / (1 << 20) as f64,
                    s.fds.total
                )
            })
            .collect();
        println!("timeline (emulated min, RSS MiB/fds): {}", line.join(", "));
    }
    println!(
        "kiln's log: {} warnings, {} errors, {} panics",
        r.log_warnings, r.log_errors, r.log_panics
    );
    println!(
        "sessions listed after deleting every one: {}",
        r.listed_after_close
    );
    if let Some(p) = &r.kept_log {
        println!("kiln's log kept in {}", p.display());
    }
    for s in &r.sessions {
        for e in &s.errors {
            println!("error in session {}: {e}", s.id);
        }
    }
    for e in &t.errors {
        println!("token error: {e}");
    }
    for c in &r.checks {
        println!(
            "[{}] {}: {}",
            if c.ok { "ok" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    println!("soak: {}", if r.passed { "passed" } else { "FAILED" });
}
