//! Keystroke echo latency: with `cat` echoing in a raw-mode terminal, write one byte and time
//! until that byte comes back. Warm-up samples are discarded; keystrokes are paced like typing.

use crate::stats::Summary;
use crate::term::{self, Chunk, Term};
use anyhow::{Context, bail};
use std::time::{Duration, Instant};

/// How an echo run is done.
#[derive(Debug, Clone, Copy)]
pub struct EchoPlan {
    pub samples: usize,
    pub warmup: usize,
    pub interval: Duration,
    /// Stop early (with the samples so far) once measuring has taken this long.
    pub budget: Duration,
}

/// Latencies and anything odd seen on the way.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EchoResult {
    pub summary: Summary,
    /// Bytes received that were not the expected echo (should be 0).
    pub stray_bytes: u64,
    /// A keystroke got no echo within 30 s; it counts as 30 s and measuring stopped there.
    pub timed_out: bool,
}

/// Turns the shell into an echoing `cat` and waits until it is in place.
pub async fn prepare<T: Term>(t: &mut T) -> anyhow::Result<()> {
    t.send(term::ECHO_SETUP).await?;
    let rest = term::wait_for(t, term::ECHO_READY, term::WAIT).await?;
    if !rest.is_empty() {
        bail!("unexpected output after the echo marker: {rest:?}");
    }
    Ok(())
}

/// Sends one byte and waits for it; returns the latency (`None`: no echo within
/// [`term::WAIT`]) and stray bytes seen.
async fn one<T: Term>(t: &mut T, byte: u8) -> anyhow::Result<(Option<Duration>, u64)> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + term::WAIT;
    t.send(&[byte]).await?;
    let mut stray = 0u64;
    loop {
        let Ok(chunk) = tokio::time::timeout_at(deadline, t.recv()).await else {
            return Ok((None, stray));
        };
        match chunk? {
            Chunk::Data(d) => {
                if d.contains(&byte) {
                    stray += (d.len() - 1) as u64;
                    return Ok((Some(started.elapsed()), stray));
                }
                stray += d.len() as u64;
            }
            Chunk::Gap | Chunk::Snapshot(_) => {
                bail!("output was skipped during an echo measurement")
            }
            Chunk::End => bail!("the terminal ended during an echo measurement"),
        }
    }
}

/// Measures `plan.samples` echoes after `plan.warmup` discarded ones.
pub async fn measure<T: Term>(t: &mut T, plan: EchoPlan) -> anyhow::Result<EchoResult> {
    let mut samples = Vec::with_capacity(plan.samples);
    let mut stray_bytes = 0;
    let mut measuring_since = None;
    let mut timed_out = false;
    for i in 0..plan.warmup + plan.samples {
        let byte = b'a' + (i % 26) as u8;
        let (d, stray) = one(t, byte).await?;
        let Some(d) = d else {
            samples.push(term::WAIT);
            timed_out = true;
            break;
        };
        if i >= plan.warmup {
            samples.push(d);
            stray_bytes += stray;
            let since = *measuring_since.get_or_insert_with(Instant::now);
            if since.elapsed() > plan.budget {
                break;
            }
        }
        tokio::time::sleep(plan.interval).await;
    }
    let summary = Summary::of(&samples).context("no echo samples")?;
    Ok(EchoResult {
        summary,
        stray_bytes,
        timed_out,
    })
}

/// Echo on a raw PTY started for the purpose, measured on a thread of its own.
pub async fn raw_on_own_thread(
    shell: std::path::PathBuf,
    home: std::path::PathBuf,
    plan: EchoPlan,
) -> anyhow::Result<EchoResult> {
    term::on_own_thread(move || async move {
        let mut t = crate::raw::RawPty::spawn(&shell, &home, 80, 24)?;
        prepare(&mut t).await?;
        measure(&mut t, plan).await
    })
    .await
}

/// Echo in a new kiln session over the WebSocket, measured on a thread of its own; the session
/// is deleted afterwards.
pub async fn kiln_on_own_thread(
    api: crate::kiln::Api,
    plan: EchoPlan,
) -> anyhow::Result<EchoResult> {
    term::on_own_thread(move || async move {
        let id = api.create_session().await?;
        let result = async {
            let mut t = crate::ws::KilnTerm::connect(&api, &id, Some(0)).await?;
            prepare(&mut t).await?;
            let r = measure(&mut t, plan).await?;
            t.close().await;
            anyhow::Ok(r)
        }
        .await;
        api.delete_session(&id).await?;
        result
    })
    .await
}
