//! Latency statistics: nearest-rank percentiles over a set of samples.

use serde::Serialize;
use std::time::Duration;

/// A summary of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub samples: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The nearest-rank `q`-quantile (`0.0..=1.0`) of sorted samples; `None` when empty.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Summary {
    /// Summarises `samples` (in any order); `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let total: Duration = s.iter().sum();
        Some(Summary {
            samples: s.len(),
            min_ms: ms(*s.first()?),
            p50_ms: ms(percentile(&s, 0.50)?),
            p90_ms: ms(percentile(&s, 0.90)?),
            p99_ms: ms(percentile(&s, 0.99)?),
            max_ms: ms(*s.last()?),
            mean_ms: ms(total) / s.len() as f64,
        })
    }
}

/// The median of a few durations (start-up runs, snapshot attaches).
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut s = samples.to_vec();
    s.sort_unstable();
    percentile(&s, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let s = us(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&s, 0.5), Some(Duration::from_micros(50)));
        assert_eq!(percentile(&s, 0.99), Some(Duration::from_micros(99)));
        assert_eq!(percentile(&s, 1.0), Some(Duration::from_micros(100)));
        assert_eq!(percentile(&s, 0.0), Some(Duration::from_micros(1)));
        assert_eq!(percentile(&us(&[7]), 0.99), Some(Duration::from_micros(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn summary_sorts_and_averages() {
        let s = Summary::of(&us(&[4000, 1000, 3000, 2000])).unwrap();
        assert_eq!(s.samples, 4);
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.p50_ms, 2.0);
        assert_eq!(s.p99_ms, 4.0);
        assert_eq!(s.max_ms, 4.0);
        assert_eq!(s.mean_ms, 2.5);
        assert!(Summary::of(&[]).is_none());
        assert_eq!(median(&us(&[5, 1, 3])), Some(Duration::from_micros(3)));
    }
}
