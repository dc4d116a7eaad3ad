//! Results of `kiln-bench gateway` and their table: direct vs through the gateway, the
//! difference, and issue 5's targets (p50 added under 0.5 ms, first byte added under 1 ms).

use crate::stats::Summary;
use serde::Serialize;

/// Target: added latency p50 (ms).
const P50_TARGET_MS: f64 = 0.5;
/// Target: added time to first byte, p50 (ms).
const FIRST_BYTE_TARGET_MS: f64 = 1.0;

/// One figure measured on both sides.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub direct: Option<Summary>,
    pub gateway: Option<Summary>,
}

/// Everything `kiln-bench gateway` measured.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayResults {
    pub samples: usize,
    pub latency: Side,
    pub first_byte: Side,
    pub large_bytes: u64,
    pub large_direct_mb_s: Option<f64>,
    pub large_gateway_mb_s: Option<f64>,
    pub load_average: Option<String>,
}

fn cell(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

fn ms(v: f64) -> String {
    format!("{v:.3} ms")
}

/// The results as a Markdown table.
pub fn table(r: &GatewayResults) -> String {
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut pair = |what: &str, side: &Side, pick: fn(&Summary) -> f64, target: Option<f64>| {
        let d = side.direct.as_ref().map(pick);
        let g = side.gateway.as_ref().map(pick);
        let added = d.zip(g).map(|(d, g)| g - d);
        let (target_text, met) = match (target, added) {
            (Some(t), Some(a)) => (
                format!("under {t} ms added"),
                if a < t { "yes" } else { "**no**" }.to_owned(),
            ),
            (Some(t), None) => (format!("under {t} ms added"), String::new()),
            _ => (String::new(), String::new()),
        };
        rows.push([
            what.to_owned(),
            cell(d, ms),
            cell(g, ms),
            cell(added, |a| format!("{a:+.3} ms")),
            target_text,
            met,
        ]);
    };
    pair(
        "latency per request, p50",
        &r.latency,
        |s| s.p50_ms,
        Some(P50_TARGET_MS),
    );
    pair("latency per request, p99", &r.latency, |s| s.p99_ms, None);
    pair(
        "time to first streamed byte, p50",
        &r.first_byte,
        |s| s.p50_ms,
        Some(FIRST_BYTE_TARGET_MS),
    );
    pair(
        "time to first streamed byte, p99",
        &r.first_byte,
        |s| s.p99_ms,
        None,
    );
    let ratio = r
        .large_direct_mb_s
        .zip(r.large_gateway_mb_s)
        .map(|(d, g)| format!("{:.0} %", g / d * 100.0));
    rows.push([
        format!(
            "large streamed answer ({:.1} MiB), median",
            r.large_bytes as f64 / f64::from(1 << 20)
        ),
        cell(r.large_direct_mb_s, |v| format!("{v:.1} MB/s")),
        cell(r.large_gateway_mb_s, |v| format!("{v:.1} MB/s")),
        ratio.unwrap_or_else(|| "-".to_owned()),
        String::new(),
        String::new(),
    ]);
    let mut out = String::new();
    out.push_str(&format!(
        "{} samples per side; load average {}\n\n",
        r.samples,
        r.load_average.as_deref().unwrap_or("unknown")
    ));
    out.push_str("| measurement | direct | through the gateway | gateway vs direct | target (issue 5) | met |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}
