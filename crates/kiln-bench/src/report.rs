//! How results are shown: a table of raw PTY vs kiln with the difference or ratio and the
//! target of issue 2, or the same results as JSON (`--json`).

use crate::concurrent::ConcurrentResult;
use crate::echo::EchoResult;
use crate::results::Results;
use crate::table::{self, DASH};
use crate::throughput::StreamResult;

/// One table line.
struct Row {
    what: String,
    raw: String,
    kiln: String,
    cmp: String,
    target: &'static str,
    met: Option<bool>,
}

fn row(
    what: impl Into<String>,
    raw: String,
    kiln: String,
    cmp: String,
    target: &'static str,
    met: Option<bool>,
) -> Row {
    Row {
        what: what.into(),
        raw,
        kiln,
        cmp,
        target,
        met,
    }
}

fn ms(v: f64) -> String {
    format!("{v:.3} ms")
}

fn mib(v: u64) -> String {
    format!("{:.2} MiB", v as f64 / f64::from(1 << 20))
}

fn opt<T>(v: Option<&T>, f: impl Fn(&T) -> String) -> String {
    v.map_or_else(|| DASH.to_owned(), f)
}

fn echo_rows(
    rows: &mut Vec<Row>,
    label: &str,
    raw: Option<&EchoResult>,
    kiln: Option<&EchoResult>,
    targets: bool,
) {
    let diff = |f: fn(&EchoResult) -> f64| match (raw, kiln) {
        (Some(r), Some(k)) => format!("{:+.3} ms", f(k) - f(r)),
        _ => DASH.to_owned(),
    };
    let p50_met = match (raw, kiln) {
        (Some(r), Some(k)) if targets => Some(k.summary.p50_ms - r.summary.p50_ms <= 0.2),
        _ => None,
    };
    rows.push(row(
        format!("{label} p50"),
        opt(raw, |e| ms(e.summary.p50_ms)),
        opt(kiln, |e| ms(e.summary.p50_ms)),
        diff(|e| e.summary.p50_ms),
        if targets {
            "within 0.2 ms of raw"
        } else {
            DASH
        },
        p50_met,
    ));
    let capped = |e: &EchoResult, v: f64| {
        if e.timed_out {
            format!("{} (a 30 s timeout)", ms(v))
        } else {
            ms(v)
        }
    };
    rows.push(row(
        format!("{label} p99"),
        opt(raw, |e| capped(e, e.summary.p99_ms)),
        opt(kiln, |e| capped(e, e.summary.p99_ms)),
        diff(|e| e.summary.p99_ms),
        if targets { "under 2 ms" } else { DASH },
        kiln.filter(|_| targets).map(|k| k.summary.p99_ms < 2.0),
    ));
    rows.push(row(
        format!("{label} max"),
        opt(raw, |e| capped(e, e.summary.max_ms)),
        opt(kiln, |e| capped(e, e.summary.max_ms)),
        diff(|e| e.summary.max_ms),
        DASH,
        None,
    ));
}

fn rows(r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    echo_rows(
        &mut rows,
        "keystroke echo",
        r.echo_raw.as_ref(),
        r.echo_kiln.as_ref(),
        true,
    );
    let (tr, tk) = (r.throughput_raw.as_ref(), r.throughput_kiln.as_ref());
    let ratio = match (tr, tk) {
        (Some(a), Some(b)) => Some(b.mb_per_s / a.mb_per_s),
        _ => None,
    };
    let size = tr.or(tk).map_or(0, |t| t.expected_bytes);
    rows.push(row(
        format!("throughput, {} MB", size / 1_000_000),
        opt(tr, |t| format!("{:.1} MB/s", t.mb_per_s)),
        opt(tk, |t| format!("{:.1} MB/s", t.mb_per_s)),
        opt(ratio.as_ref(), |x| format!("{:.0} %", x * 100.0)),
        "at least 80 % of raw",
        ratio.map(|x| x >= 0.8),
    ));
    rows.push(row(
        "VT parser alone (vt100), same stream",
        DASH.to_owned(),
        opt(r.vt_parser_mb_per_s.as_ref(), |v| format!("{v:.1} MB/s")),
        match (tr, r.vt_parser_mb_per_s) {
            (Some(t), Some(v)) => format!("{:.0} % of raw", v / t.mb_per_s * 100.0),
            _ => DASH.to_owned(),
        },
        "(ceiling for kiln)",
        None,
    ));
    let intact = |t: &StreamResult| {
        if t.intact {
            "sha256 ok".to_owned()
        } else {
            format!(
                "LOST: got {}/{} B, {} gaps (PTY drained at {:.1} MB/s)",
                t.received_bytes, t.expected_bytes, t.gaps, t.drained_mb_per_s
            )
        }
    };
    rows.push(row(
        "throughput, checksum",
        opt(tr, intact),
        opt(tk, intact),
        DASH.to_owned(),
        "zero loss",
        tk.map(|t| t.intact),
    ));
    let (cr, ck) = (r.concurrent_raw.as_ref(), r.concurrent_kiln.as_ref());
    let n = cr.or(ck).map_or(0, |c| c.streams);
    let agg_ratio = match (cr, ck) {
        (Some(a), Some(b)) => format!(
            "{:.0} %",
            b.aggregate_mb_per_s / a.aggregate_mb_per_s * 100.0
        ),
        _ => DASH.to_owned(),
    };
    rows.push(row(
        format!("{n} streams, aggregate"),
        opt(cr, |c| format!("{:.1} MB/s", c.aggregate_mb_per_s)),
        opt(ck, |c| format!("{:.1} MB/s", c.aggregate_mb_per_s)),
        agg_ratio,
        DASH,
        None,
    ));
    rows.push(row(
        format!("{n} streams, viewer snapshots"),
        DASH.to_owned(),
        opt(ck, |c| c.gaps.to_string()),
        DASH.to_owned(),
        DASH,
        None,
    ));
    let samples = |c: Option<&ConcurrentResult>| opt(c, |c| c.echo.summary.samples.to_string());
    echo_rows(
        &mut rows,
        &format!(
            "echo beside {n} streams (n={}/{})",
            samples(cr),
            samples(ck)
        ),
        cr.map(|c| &c.echo),
        ck.map(|c| &c.echo),
        false,
    );
    let m = r.memory.as_ref();
    rows.push(row(
        "server RSS, idle",
        DASH.into(),
        opt(m, |m| mib(m.idle_rss)),
        DASH.into(),
        "under 15 MB",
        m.map(|m| m.idle_rss < 15_000_000),
    ));
    rows.push(row(
        "RSS per idle session",
        DASH.into(),
        opt(m, |m| mib(m.per_idle_session)),
        DASH.into(),
        DASH,
        None,
    ));
    rows.push(row(
        "RSS per full session beyond ring",
        DASH.into(),
        opt(m, |m| {
            format!(
                "{:.2} MiB",
                m.per_full_session_beyond_ring as f64 / f64::from(1 << 20)
            )
        }),
        opt(m, |m| format!("ring {}", mib(m.ring_bytes))),
        "under 1 MiB",
        m.map(|m| m.per_full_session_beyond_ring < 1 << 20),
    ));
    rows.push(row(
        "server RSS, peak",
        DASH.into(),
        opt(r.peak_rss.as_ref(), |p| mib(*p)),
        DASH.into(),
        DASH,
        None,
    ));
    let s = r.startup.as_ref();
    rows.push(row(
        "start-up to first usable session",
        DASH.into(),
        opt(s, |s| ms(s.first_byte_ms)),
        opt(s, |s| {
            format!("URL {:.1}, session {:.1} ms", s.url_ms, s.session_ms)
        }),
        "under 100 ms",
        s.map(|s| s.first_byte_ms < 100.0),
    ));
    let sn = r.snapshot.as_ref();
    rows.push(row(
        "attach with snapshot, full ring",
        opt(sn, |s| format!("{} (live attach)", ms(s.live_attach_ms))),
        opt(sn, |s| ms(s.snapshot_ms)),
        opt(sn, |s| format!("{} KiB snapshot", s.snapshot_bytes / 1024)),
        DASH,
        None,
    ));
    rows
}

fn raw_vs_kiln(r: &Results) -> String {
    let rows: Vec<Row> = rows(r)
        .into_iter()
        .filter(|x| x.raw != DASH || x.kiln != DASH)
        .collect();
    let head = [
        "measurement",
        "raw PTY",
        "kiln",
        "kiln vs raw",
        "target (issue 2)",
        "met",
    ];
    let cells: Vec<[String; 6]> = rows
        .into_iter()
        .map(|x| {
            [
                x.what,
                x.raw,
                x.kiln,
                x.cmp,
                x.target.to_owned(),
                table::met(x.met).to_owned(),
            ]
        })
        .collect();
    table::render(head, &cells)
}

/// Prints the results: a table with the machine on stdout, or JSON with `--json`.
pub fn print(r: &Results, json: bool) {
    if json {
        match serde_json::to_string_pretty(r) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("kiln-bench: cannot encode the results: {e}"),
        }
        return;
    }
    let m = &r.machine;
    println!(
        "machine: {} CPUs, {}, kernel {}, {} MiB RAM",
        m.cpus, m.cpu_model, m.kernel, m.memory_mib
    );
    println!("command: {}", r.command);
    println!(
        "load average: {} at the start, {} at the end",
        r.load_before, r.load_after
    );
    println!(
        "echo: {} samples per measurement, one keystroke every {} ms\n",
        r.samples, r.keystroke_interval_ms
    );
    print!("{}", raw_vs_kiln(r));
    if let Some(v) = &r.versus {
        print!("{}", crate::versus_report::table(v, r.memory.as_ref()));
    }
    for e in &r.errors {
        println!("error: {e}");
    }
}
