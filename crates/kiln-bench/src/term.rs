//! What every measurement drives: a terminal that takes input bytes and yields output bytes,
//! either a raw PTY ([`crate::raw::RawPty`]) or a kiln session over the WebSocket protocol
//! ([`crate::ws::KilnTerm`]). Also the shell lines the measurements type, the marker waits, and a
//! helper that runs a measurement on a thread of its own.

use anyhow::{Context, bail};
use bytes::Bytes;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// Longest wait for any single expected event (a marker, an echo).
pub const WAIT: Duration = Duration::from_secs(30);

/// One read from a terminal.
#[derive(Debug)]
pub enum Chunk {
    /// Output bytes, in stream order.
    Data(Bytes),
    /// The viewer fell behind and bytes were skipped (kiln sends a snapshot instead).
    Gap,
    /// Snapshot bytes (a screen reproduction, not part of the stream).
    Snapshot(Bytes),
    /// The output ended (the program exited or the session was closed).
    End,
}

/// A terminal under measurement.
pub trait Term {
    /// Writes input bytes (keystrokes).
    fn send(&mut self, data: &[u8]) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// The next output.
    fn recv(&mut self) -> impl Future<Output = anyhow::Result<Chunk>> + Send;
}

/// Puts the terminal in raw mode without echo and replaces the shell by `cat`, so each byte
/// typed comes back exactly once, echoed by a program. The quotes keep the typed line itself
/// from containing the marker.
pub const ECHO_SETUP: &[u8] = b"stty raw -echo; printf 'KB''READY'; exec cat\r";
pub const ECHO_READY: &[u8] = b"KBREADY";
/// Printed by the fill command when it is done.
pub const FILL_DONE: &[u8] = b"KBDONE";

/// Replaces the shell by `gen`, with the terminal in raw mode so no byte is translated.
pub fn stream_command(exe: &Path, bytes: Option<u64>) -> Vec<u8> {
    let amount = match bytes {
        Some(n) => format!("--bytes {n}"),
        None => "--forever".to_owned(),
    };
    format!("stty raw -echo; exec '{}' gen {amount}\r", exe.display()).into_bytes()
}

/// Prints `bytes` of the stream in the shell's normal (cooked) mode, then [`FILL_DONE`].
pub fn fill_command(exe: &Path, bytes: u64) -> Vec<u8> {
    format!(
        "'{}' gen --no-marker --bytes {bytes}; printf 'KB''DONE'\r",
        exe.display()
    )
    .into_bytes()
}

/// Waits for the first output byte of a fresh session (its shell is up).
pub async fn first_output<T: Term>(t: &mut T) -> anyhow::Result<()> {
    let wait = async {
        loop {
            match t.recv().await? {
                Chunk::Data(d) if !d.is_empty() => return anyhow::Ok(()),
                Chunk::End => anyhow::bail!("the session ended at once"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .context("no output within 30 s")?
}

/// Reads until `marker` has appeared and returns the bytes that followed it in the same read.
/// After a gap the marker is also looked for in the snapshot (then nothing is returned).
pub async fn wait_for<T: Term>(t: &mut T, marker: &[u8], limit: Duration) -> anyhow::Result<Bytes> {
    let search = async {
        let mut window: Vec<u8> = Vec::new();
        loop {
            match t.recv().await? {
                Chunk::Data(d) => {
                    let keep = window.len();
                    window.extend_from_slice(&d);
                    if let Some(at) = find(&window, marker) {
                        let after = at + marker.len();
                        // The bytes after the marker all come from `d`.
                        return Ok(d.slice(after.saturating_sub(keep).min(d.len())..));
                    }
                    let tail = window.len().saturating_sub(marker.len());
                    window.drain(..tail);
                }
                Chunk::Gap => window.clear(),
                // The marker may have been skipped over into a snapshot; it shows on the screen.
                Chunk::Snapshot(d) => {
                    if find(&d, marker).is_some() {
                        return Ok(Bytes::new());
                    }
                }
                Chunk::End => bail!(
                    "the terminal ended before {:?} appeared",
                    String::from_utf8_lossy(marker)
                ),
            }
        }
    };
    tokio::time::timeout(limit, search).await.with_context(|| {
        format!(
            "{:?} did not appear within {limit:?}",
            String::from_utf8_lossy(marker)
        )
    })?
}

/// How a stream began: the bytes after its marker, or a gap that swallowed the marker.
pub struct StreamStart {
    pub after: Bytes,
    /// The viewer fell behind before the marker was seen (bytes were lost).
    pub gapped: bool,
}

/// Waits for the start marker of a stream started just before. A gap before the marker also
/// means the stream is running (only it can overrun the ring), with loss.
pub async fn wait_for_stream<T: Term>(
    t: &mut T,
    marker: &[u8],
    limit: Duration,
) -> anyhow::Result<StreamStart> {
    let search = async {
        let mut window: Vec<u8> = Vec::new();
        loop {
            match t.recv().await? {
                Chunk::Data(d) => {
                    let keep = window.len();
                    window.extend_from_slice(&d);
                    if let Some(at) = find(&window, marker) {
                        let after = (at + marker.len()).saturating_sub(keep).min(d.len());
                        return Ok(StreamStart {
                            after: d.slice(after..),
                            gapped: false,
                        });
                    }
                    let tail = window.len().saturating_sub(marker.len());
                    window.drain(..tail);
                }
                Chunk::Gap | Chunk::Snapshot(_) => {
                    return Ok(StreamStart {
                        after: Bytes::new(),
                        gapped: true,
                    });
                }
                Chunk::End => bail!("the terminal ended before its stream started"),
            }
        }
    };
    tokio::time::timeout(limit, search)
        .await
        .with_context(|| format!("the stream did not start within {limit:?}"))?
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs `make()`'s future on a fresh single-threaded runtime on its own OS thread, so a
/// latency measurement is not queued behind other tasks of this process.
pub async fn on_own_thread<F, Fut, R>(make: F) -> anyhow::Result<R>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<R>>,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(make())
    })
    .await
    .context("measurement thread panicked")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_locates_markers() {
        assert_eq!(find(b"xxKBREADYyy", ECHO_READY), Some(2));
        assert_eq!(find(b"KB''READY", ECHO_READY), None);
        assert_eq!(find(b"", b"a"), None);
    }
}
