//! What the soak watches in the kiln process: resident memory, threads and open file
//! descriptors by kind, read from `/proc/<pid>/status` and `/proc/<pid>/fd`, and the trend of a
//! series of samples (least-squares slope, first- against last-quartile mean).

use anyhow::{Context, anyhow};
use serde::Serialize;

/// Open file descriptors of a process, by what they point at.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Fds {
    pub total: u64,
    /// PTY masters (`/dev/ptmx`, `/dev/pts/*`): one per live session.
    pub pty: u64,
    pub sockets: u64,
    pub pipes: u64,
    /// Event fds, epoll, timers and other anonymous inodes.
    pub anon: u64,
    /// Regular files, directories and everything else.
    pub other: u64,
}

/// One sample of the kiln process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Seconds of real time since the soak started.
    pub t_s: f64,
    /// Emulated minutes since the soak started.
    pub emulated_min: f64,
    pub rss: u64,
    pub threads: u64,
    pub fds: Fds,
}

fn status_field(status: &str, name: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .ok_or_else(|| anyhow!("{name} missing from /proc/<pid>/status"))?;
    let n = line
        .trim_start_matches(name)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(n)
}

/// `VmRSS` (bytes) and `Threads` of `pid`.
pub fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("kiln (pid {pid}) is gone"))?;
    Ok((
        status_field(&status, "VmRSS:")? * 1024,
        status_field(&status, "Threads:")?,
    ))
}

/// Counts the open file descriptors of `pid` by kind. An fd closed while the directory is read
/// is skipped.
pub fn fds(pid: u32) -> anyhow::Result<Fds> {
    let mut f = Fds::default();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let t = target.to_string_lossy();
        f.total += 1;
        if t == "/dev/ptmx" || t.starts_with("/dev/pts/") {
            f.pty += 1;
        } else if t.starts_with("socket:") {
            f.sockets += 1;
        } else if t.starts_with("pipe:") {
            f.pipes += 1;
        } else if t.starts_with("anon_inode:") {
            f.anon += 1;
        } else {
            f.other += 1;
        }
    }
    Ok(f)
}

/// How a series moved over the measured part of the run.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Trend {
    pub samples: usize,
    pub min: f64,
    pub max: f64,
    /// Mean of the first quarter of the samples.
    pub first_quartile_mean: f64,
    /// Mean of the last quarter of the samples.
    pub last_quartile_mean: f64,
    /// Least-squares slope per emulated hour.
    pub slope_per_emulated_hour: f64,
}

impl Trend {
    /// The trend of `(emulated minutes, value)` points; `None` with fewer than 4 points.
    pub fn of(points: &[(f64, f64)]) -> Option<Trend> {
        let n = points.len();
        if n < 4 {
            return None;
        }
        let q = n / 4;
        let mean = |s: &[(f64, f64)]| s.iter().map(|p| p.1).sum::<f64>() / s.len() as f64;
        let mx = points.iter().map(|p| p.0).sum::<f64>() / n as f64;
        let my = mean(points);
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (x, y) in points {
            sxy += (x - mx) * (y - my);
            sxx += (x - mx) * (x - mx);
        }
        let slope_per_min = if sxx > 0.0 { sxy / sxx } else { 0.0 };
        Some(Trend {
            samples: n,
            min: points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
            max: points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
            first_quartile_mean: mean(&points[..q]),
            last_quartile_mean: mean(&points[n - q..]),
            slope_per_emulated_hour: slope_per_min * 60.0,
        })
    }

    /// Last-quartile mean minus first-quartile mean.
    pub fn growth(&self) -> f64 {
        self.last_quartile_mean - self.first_quartile_mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_series_has_no_slope_and_a_line_has_its_own() {
        let flat: Vec<(f64, f64)> = (0..100).map(|i| (f64::from(i), 5.0)).collect();
        let t = Trend::of(&flat).unwrap();
        assert_eq!(t.slope_per_emulated_hour, 0.0);
        assert_eq!(t.growth(), 0.0);
        let line: Vec<(f64, f64)> = (0..100)
            .map(|i| (f64::from(i), 2.0 * f64::from(i)))
            .collect();
        let t = Trend::of(&line).unwrap();
        assert!((t.slope_per_emulated_hour - 120.0).abs() < 1e-9);
        assert!((t.growth() - 150.0).abs() < 1e-9, "{t:?}");
        assert!(Trend::of(&line[..3]).is_none());
    }

    #[test]
    fn this_process_has_memory_and_descriptors() {
        let pid = std::process::id();
        let (rss, threads) = memory(pid).unwrap();
        assert!(rss > 0 && threads >= 1);
        let f = fds(pid).unwrap();
        assert!(f.total >= 3, "{f:?}");
        assert_eq!(f.total, f.pty + f.sockets + f.pipes + f.anon + f.other);
    }
}
