//! Start-up to first usable session: spawn a fresh `kiln serve`, read its URL, create a session,
//! attach over the WebSocket, and stop the clock at the shell's first output byte.

use crate::kiln::{KilnServer, ServerConfig, TempHome};
use crate::stats;
use crate::term;
use crate::ws::KilnTerm;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Median timings over the runs, milliseconds from spawning the process.
#[derive(Debug, Clone, Serialize)]
pub struct StartupResult {
    pub runs: usize,
    /// URL printed on stdout.
    pub url_ms: f64,
    /// `POST /api/sessions` answered.
    pub session_ms: f64,
    /// First output byte of the shell received over the WebSocket.
    pub first_byte_ms: f64,
    pub first_byte_min_ms: f64,
    pub first_byte_max_ms: f64,
}

struct Run {
    url: Duration,
    session: Duration,
    first_byte: Duration,
}

async fn once(cfg: &ServerConfig) -> anyhow::Result<Run> {
    let home = TempHome::new("startup")?;
    let started = Instant::now();
    let server = KilnServer::start(cfg, &home.0).await?;
    let url = started.elapsed();
    let result = async {
        let id = server.api.create_session().await?;
        let session = started.elapsed();
        let mut t = KilnTerm::connect(&server.api, &id, Some(0)).await?;
        term::first_output(&mut t).await?;
        let first_byte = started.elapsed();
        t.close().await;
        anyhow::Ok(Run {
            url,
            session,
            first_byte,
        })
    }
    .await;
    server.stop().await;
    result
}

/// Times `runs` fresh starts.
pub async fn measure(cfg: &ServerConfig, runs: usize) -> anyhow::Result<StartupResult> {
    let mut all = Vec::new();
    for _ in 0..runs.max(1) {
        all.push(once(cfg).await?);
    }
    let ms = |f: fn(&Run) -> Duration| {
        let v: Vec<Duration> = all.iter().map(f).collect();
        stats::median(&v)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN)
    };
    let firsts: Vec<Duration> = all.iter().map(|r| r.first_byte).collect();
    let to_ms = |d: Option<&Duration>| d.map(|d| d.as_secs_f64() * 1e3).unwrap_or(f64::NAN);
    Ok(StartupResult {
        runs: all.len(),
        url_ms: ms(|r| r.url),
        session_ms: ms(|r| r.session),
        first_byte_ms: ms(|r| r.first_byte),
        first_byte_min_ms: to_ms(firsts.iter().min()),
        first_byte_max_ms: to_ms(firsts.iter().max()),
    })
}
