//! The table of kiln against the reference relay and the raw PTY (`versus.rs`): medians over the
//! repetitions, kiln's figures as ratios to the relay's and the raw PTY's, and the targets of
//! issue 14.

use crate::memory::MemoryResult;
use crate::table::{self, DASH};
use crate::versus::{FloodRun, SideRuns, StreamRun, VersusResult};

/// Median of the values (`None` when there are none; NaN values are left out).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn stream_median(runs: &[StreamRun], f: impl Fn(&StreamRun) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

fn flood_median(runs: &[FloodRun], f: impl Fn(&FloodRun) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

/// One line: raw, relay, kiln, kiln/relay, kiln/raw, target, met.
struct Line {
    what: String,
    cells: [String; 5],
    target: &'static str,
    met: Option<bool>,
}

fn fmt(v: Option<f64>, unit: &str, digits: usize) -> String {
    v.map_or_else(|| DASH.to_owned(), |v| format!("{v:.digits$} {unit}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn x(v: Option<f64>) -> String {
    v.map_or_else(|| DASH.to_owned(), |v| format!("{v:.2}x"))
}

/// A row comparing one figure on the three sides.
fn line(
    what: impl Into<String>,
    [raw, relay, kiln]: [Option<f64>; 3],
    unit: &str,
    digits: usize,
    target: &'static str,
    met: impl Fn(f64) -> bool,
) -> Line {
    let vs_relay = ratio(kiln, relay);
    Line {
        what: what.into(),
        cells: [
            fmt(raw, unit, digits),
            fmt(relay, unit, digits),
            fmt(kiln, unit, digits),
            x(vs_relay),
            x(ratio(kiln, raw)),
        ],
        target,
        met: if target == DASH {
            None
        } else {
            vs_relay.map(met)
        },
    }
}

fn mib(v: Option<f64>) -> Option<f64> {
    v.map(|b| b / f64::from(1 << 20))
}

fn cpu_ms(runs: &[StreamRun]) -> Option<f64> {
    stream_median(runs, |r| r.cpu_s_per_mb.map(|s| s * 1e3))
}

fn lines(v: &VersusResult, memory: Option<&MemoryResult>) -> Vec<Line> {
    let (raw, relay, kiln): (&SideRuns, &SideRuns, &SideRuns) = (&v.raw, &v.relay, &v.kiln);
    let n = v.streams;
    let mut out = vec![
        line(
            "server CPU per MB, one stream",
            [None, cpu_ms(&relay.efficient), cpu_ms(&kiln.efficient)],
            "ms",
            2,
            "<= 1.25x relay",
            |r| r <= 1.25,
        ),
        line(
            "server CPU per MB, one stream, slow client",
            [None, cpu_ms(&relay.slow), cpu_ms(&kiln.slow)],
            "ms",
            2,
            DASH,
            |_| true,
        ),
        line(
            format!("server CPU per MB, {n} streams"),
            [
                None,
                flood_median(&relay.flood, |f| f.cpu_s_per_mb.map(|s| s * 1e3)),
                flood_median(&kiln.flood, |f| f.cpu_s_per_mb.map(|s| s * 1e3)),
            ],
            "ms",
            2,
            "<= 1.25x relay",
            |r| r <= 1.25,
        ),
    ];
    let mbps = |runs: &[StreamRun]| stream_median(runs, |r| Some(r.mb_per_s));
    out.push(line(
        format!("throughput, {} MB, efficient client", v.bytes / 1_000_000),
        [
            mbps(&raw.efficient),
            mbps(&relay.efficient),
            mbps(&kiln.efficient),
        ],
        "MB/s",
        1,
        ">= 0.9x relay",
        |r| r >= 0.9,
    ));
    out.push(line(
        format!("throughput, {} MB, slow client", v.bytes / 1_000_000),
        [None, mbps(&relay.slow), mbps(&kiln.slow)],
        "MB/s",
        1,
        ">= 0.9x relay",
        |r| r >= 0.9,
    ));
    let intact = |s: &SideRuns| {
        let all = s.efficient.iter().chain(&s.slow);
        let (ok, total) = all.fold((0, 0), |(ok, t), r| (ok + usize::from(r.intact), t + 1));
        format!("{ok}/{total} sha256 ok")
    };
    out.push(Line {
        what: "streams intact (checksum, no gap)".into(),
        cells: [
            intact(raw),
            intact(relay),
            intact(kiln),
            DASH.into(),
            DASH.into(),
        ],
        target: "zero loss",
        met: Some(kiln.efficient.iter().chain(&kiln.slow).all(|r| r.intact)),
    });
    let echo = |s: &SideRuns, f: fn(&FloodRun) -> f64| flood_median(&s.flood, |r| Some(f(r)));
    out.push(line(
        format!("echo beside {n} floods, p50"),
        [
            echo(raw, |r| r.echo.summary.p50_ms),
            echo(relay, |r| r.echo.summary.p50_ms),
            echo(kiln, |r| r.echo.summary.p50_ms),
        ],
        "ms",
        3,
        "<= 1.5x relay",
        |r| r <= 1.5,
    ));
    out.push(line(
        format!("echo beside {n} floods, p99"),
        [
            echo(raw, |r| r.echo.summary.p99_ms),
            echo(relay, |r| r.echo.summary.p99_ms),
            echo(kiln, |r| r.echo.summary.p99_ms),
        ],
        "ms",
        3,
        "<= 1.5x relay",
        |r| r <= 1.5,
    ));
    out.push(line(
        format!("{n} floods, aggregate delivered"),
        [
            echo(raw, |r| r.aggregate_mb_per_s),
            echo(relay, |r| r.aggregate_mb_per_s),
            echo(kiln, |r| r.aggregate_mb_per_s),
        ],
        "MB/s",
        1,
        DASH,
        |_| true,
    ));
    out.push(line(
        format!("{n} floods, viewer snapshots (gaps)"),
        [None, None, echo(kiln, |r| r.gaps as f64)],
        "",
        0,
        DASH,
        |_| true,
    ));
    let idle = |s: &SideRuns| mib(s.idle_rss.map(|b| b as f64));
    let mut idle_line = line(
        "server RSS, idle",
        [None, idle(relay), idle(kiln)],
        "MiB",
        2,
        "kiln <= 10 MB",
        |_| true,
    );
    idle_line.met = kiln.idle_rss.map(|b| b <= 10_000_000);
    out.push(idle_line);
    if let Some(m) = memory {
        let mut per_idle = line(
            "RSS per idle session",
            [None, None, mib(Some(m.per_idle_session as f64))],
            "MiB",
            2,
            "no ring it has not filled",
            |_| true,
        );
        per_idle.cells[3] = format!("ring {:.0} MiB", m.ring_bytes as f64 / f64::from(1 << 20));
        per_idle.met = Some(m.per_idle_session < m.ring_bytes / 4);
        out.push(per_idle);
        let mut full = line(
            "RSS per full session beyond its ring",
            [None, None, mib(Some(m.per_full_session_beyond_ring as f64))],
            "MiB",
            2,
            "< 1 MiB",
            |_| true,
        );
        full.met = Some(m.per_full_session_beyond_ring < 1 << 20);
        out.push(full);
    }
    let rss = |s: &SideRuns| mib(flood_median(&s.flood, |r| r.rss.map(|b| b as f64)));
    let mut flood_rss = line(
        format!("server RSS, {n} flooding sessions"),
        [None, rss(relay), rss(kiln)],
        "MiB",
        1,
        "rings + 20 MB",
        |_| true,
    );
    let allowed = v.streams as f64 * v.ring_bytes as f64 + 20e6;
    flood_rss.met = flood_median(&kiln.flood, |r| r.rss.map(|b| b as f64)).map(|b| b <= allowed);
    out.push(flood_rss);
    out
}

/// The comparison as a table (medians of the repetitions).
pub fn table(v: &VersusResult, memory: Option<&MemoryResult>) -> String {
    let head = [
        "measurement (median)",
        "raw PTY",
        "relay",
        "kiln",
        "kiln / relay",
        "kiln / raw",
        "target (issue 14)",
        "met",
    ];
    let rows: Vec<[String; 8]> = lines(v, memory)
        .into_iter()
        .map(|l| {
            let [a, b, c, d, e] = l.cells;
            let met = table::met(l.met).to_owned();
            [l.what, a, b, c, d, e, l.target.to_owned(), met]
        })
        .collect();
    let mut out = format!(
        "\nkiln against the reference relay: medians of {} repetitions ({} single streams per \
         client and server in each), {} MB per stream\n\n",
        v.repeats,
        v.stream_runs,
        v.bytes / 1_000_000
    );
    out += &table::render(head, &rows);
    out
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN]), None);
        assert_eq!(median(vec![]), None);
    }
}
