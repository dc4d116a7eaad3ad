//! Single-stream throughput: the shell is replaced by `kiln-bench gen`, which prints a marker and
//! then a known number of deterministic bytes; the reader times them from the marker on and
//! checks their SHA-256 against the same stream computed in-process.

use crate::pattern;
use crate::term::{self, Chunk, Term};
use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

/// Longest a throughput run may take (a stuck stream fails instead of hanging).
const LIMIT: Duration = Duration::from_secs(600);

/// What one stream delivered.
#[derive(Debug, Clone, Serialize)]
pub struct StreamResult {
    /// Bytes expected after the marker.
    pub expected_bytes: u64,
    /// Bytes received after the marker (up to the expected count).
    pub received_bytes: u64,
    pub seconds: f64,
    /// Megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub sha256: String,
    pub sha256_expected: String,
    /// Received bytes are exactly the stream: same count, same checksum, no gap.
    pub intact: bool,
    /// Times the viewer fell behind and was sent a snapshot instead of bytes.
    pub gaps: u64,
    /// How fast the program's output was consumed from the PTY: the stream size over the time
    /// until it was all received or the program's exit was reported (differs from `mb_per_s`
    /// only when bytes were skipped).
    pub drained_mb_per_s: f64,
}

/// Runs `gen --bytes bytes` in the terminal's shell and measures it.
pub async fn measure<T: Term>(
    t: &mut T,
    exe: &Path,
    bytes: u64,
    expected: &[u8; 32],
) -> anyhow::Result<StreamResult> {
    t.send(&term::stream_command(exe, Some(bytes))).await?;
    let start = term::wait_for_stream(t, pattern::BEGIN_MARKER, term::WAIT).await?;
    let first = start.after;
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut gaps = u64::from(start.gapped);
    let mut take = |d: &[u8], received: &mut u64| {
        let n = (bytes - *received).min(d.len() as u64) as usize;
        hasher.update(&d[..n]);
        *received += n as u64;
    };
    take(&first, &mut received);
    let mut ended = false;
    let run = async {
        while received < bytes {
            match t.recv().await? {
                Chunk::Data(d) => take(&d, &mut received),
                Chunk::Gap => gaps += 1,
                Chunk::Snapshot(_) => {}
                Chunk::End => {
                    ended = true;
                    break;
                }
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(LIMIT, run)
        .await
        .context("the stream did not finish within 10 minutes")??;
    let seconds = started.elapsed().as_secs_f64();
    let digest: [u8; 32] = hasher.finalize().into();
    Ok(StreamResult {
        expected_bytes: bytes,
        received_bytes: received,
        seconds,
        mb_per_s: received as f64 / 1e6 / seconds.max(1e-9),
        sha256: pattern::hex(&digest),
        sha256_expected: pattern::hex(expected),
        intact: received == bytes && gaps == 0 && &digest == expected,
        gaps,
        drained_mb_per_s: if received == bytes || ended {
            bytes as f64 / 1e6 / seconds.max(1e-9)
        } else {
            f64::NAN
        },
    })
}
