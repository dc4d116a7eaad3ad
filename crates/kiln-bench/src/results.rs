//! The results of one run: what was measured (each part `None` when not run), where it ran
//! (CPU, kernel, load average) and the errors of parts that failed.

use crate::cli::BenchArgs;
use crate::concurrent::ConcurrentResult;
use crate::echo::EchoResult;
use crate::memory::{MemoryResult, SnapshotResult};
use crate::startup::StartupResult;
use crate::throughput::StreamResult;
use serde::Serialize;

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub memory_mib: u64,
}

/// Everything measured in one run; parts not run stay `None`.
#[derive(Debug, Serialize)]
pub struct Results {
    pub command: String,
    pub machine: Machine,
    pub samples: usize,
    pub keystroke_interval_ms: u64,
    pub startup: Option<StartupResult>,
    pub memory: Option<MemoryResult>,
    pub snapshot: Option<SnapshotResult>,
    pub echo_raw: Option<EchoResult>,
    pub echo_kiln: Option<EchoResult>,
    pub throughput_raw: Option<StreamResult>,
    pub throughput_kiln: Option<StreamResult>,
    pub concurrent_raw: Option<ConcurrentResult>,
    pub concurrent_kiln: Option<ConcurrentResult>,
    /// The `vt100` parser alone on the same stream, MB/s.
    pub vt_parser_mb_per_s: Option<f64>,
    /// kiln against the reference relay (`versus.rs`).
    pub versus: Option<crate::versus::VersusResult>,
    /// `/proc/loadavg` when the run started and ended (other work on the machine skews results).
    pub load_before: String,
    pub load_after: String,
    /// VmHWM of the server at the end of the run, bytes.
    pub peak_rss: Option<u64>,
    pub errors: Vec<String>,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let memory_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0);
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model,
        kernel,
        memory_mib,
    }
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minute load averages).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

impl Results {
    pub fn new(args: &BenchArgs) -> Self {
        Results {
            command: std::env::args().collect::<Vec<_>>().join(" "),
            machine: machine(),
            samples: args.samples,
            keystroke_interval_ms: args.keystroke_interval_ms,
            startup: None,
            memory: None,
            snapshot: None,
            echo_raw: None,
            echo_kiln: None,
            throughput_raw: None,
            throughput_kiln: None,
            concurrent_raw: None,
            concurrent_kiln: None,
            vt_parser_mb_per_s: None,
            versus: None,
            load_before: loadavg(),
            load_after: String::new(),
            peak_rss: None,
            errors: Vec::new(),
        }
    }
}
