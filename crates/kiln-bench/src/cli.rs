//! Command-line flags of `kiln-bench` and of its hidden `gen` helper (the deterministic output
//! program both sides run).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Measures kiln's terminal against a raw PTY on this machine, in one run.
#[derive(Debug, Parser)]
#[command(
    name = "kiln-bench",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub bench: BenchArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes the deterministic benchmark stream to stdout (run inside the terminals).
    #[command(hide = true)]
    Gen(GenArgs),
    /// Measures the model gateway against direct calls to an emulated workspace.
    Gateway(crate::gateway::GatewayArgs),
    /// The reference relay kiln is compared with (started by the bench itself).
    #[command(hide = true)]
    Relay(crate::relay::RelayArgs),
    /// Soak test: many working sessions, token rotation, faults and reconnects for emulated
    /// hours; reports whether kiln's memory and file descriptors stay flat.
    Soak(Box<crate::soak::SoakArgs>),
}

/// Flags of `kiln-bench gen`.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Bytes of stream to write after the start marker.
    #[arg(long, default_value_t = 0)]
    pub bytes: u64,
    /// Write forever (until the terminal goes away) instead of `--bytes`.
    #[arg(long)]
    pub forever: bool,
    /// Do not print the start marker.
    #[arg(long)]
    pub no_marker: bool,
}

/// Which measurements to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    Startup,
    Memory,
    Echo,
    Throughput,
    Concurrent,
    /// kiln against the reference PTY -> WebSocket relay (CPU per MB, throughput with an
    /// efficient and a slow client, echo beside floods, memory), repeated `--repeat` times.
    Relay,
}

/// Flags of a benchmark run.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The kiln binary (default: `kiln` next to this executable, i.e. the same target dir).
    #[arg(long)]
    pub kiln: Option<PathBuf>,
    /// Shell both sides start (`<shell> -l`, as kiln does).
    #[arg(long, default_value = "/bin/bash")]
    pub shell: PathBuf,
    /// Keystroke echo samples per measurement (after the warm-up).
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Echo samples discarded before measuring.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Pause between keystrokes, in milliseconds (a typist, not a flood).
    #[arg(long, default_value_t = 2)]
    pub keystroke_interval_ms: u64,
    /// Bytes of output for the single-stream throughput measurement.
    #[arg(long, default_value_t = 200_000_000)]
    pub bytes: u64,
    /// Echo samples beside the streams (fewer: each can take long under load).
    #[arg(long, default_value_t = 300)]
    pub concurrent_samples: usize,
    /// Longest time spent measuring one echo series, in seconds (fewer samples then).
    #[arg(long, default_value_t = 120)]
    pub echo_budget_s: u64,
    /// Shortest time the floods beside the echo last when kiln is compared with the relay: the
    /// CPU time per MB of the streams is measured over the echo series and at least this long.
    #[arg(long, default_value_t = 5)]
    pub flood_seconds: u64,
    /// Sessions streaming at once while a further one measures echo.
    #[arg(long, default_value_t = 20)]
    pub streams: usize,
    /// Idle sessions opened to measure memory per session.
    #[arg(long, default_value_t = 10)]
    pub idle_sessions: usize,
    /// Fresh `kiln serve` starts timed for start-up to first usable session.
    #[arg(long, default_value_t = 5)]
    pub startup_runs: usize,
    /// Attaches timed for the snapshot of a session with a full ring.
    #[arg(long, default_value_t = 10)]
    pub snapshot_runs: usize,
    /// Output ring per session of the kiln server under test, in bytes (kiln's default: 4 MiB).
    #[arg(long, default_value_t = 4 << 20)]
    pub ring_bytes: usize,
    /// Repetitions of the comparison with the reference relay (the report shows medians).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Single streams per client kind and server in each repetition of the comparison with the
    /// relay, the servers taking turns (one stream lasts well under a second, so its throughput
    /// moves with every scheduling accident; the report's median is over all of them; 0 counts
    /// as 1).
    #[arg(long, default_value_t = 3)]
    pub stream_runs: usize,
    /// Run only these parts (comma separated); default: all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<Part>,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    /// Whether `part` is selected.
    pub fn wants(&self, part: Part) -> bool {
        self.only.is_empty() || self.only.contains(&part)
    }
}
