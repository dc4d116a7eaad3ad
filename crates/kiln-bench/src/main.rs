//! `kiln-bench`: measures kiln's terminal against a raw PTY driven in-process, in one run on the
//! same machine, and prints both numbers with their difference or ratio.
//!
//! `main` only parses the command line; `run` orders the measurements, one module per
//! measurement does the work, and `report` prints the result.

mod cli;
mod client;
mod concurrent;
mod cpu;
mod echo;
mod gateway;
mod gateway_report;
mod kiln;
mod memory;
mod orphan;
mod pattern;
mod raw;
mod relay;
mod report;
mod results;
mod run;
mod soak;
mod startup;
mod stats;
mod table;
mod term;
mod throughput;
mod versus;
mod versus_report;
mod vtparse;
mod ws;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {
        Some(cli::Command::Gen(args)) => match pattern::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("kiln-bench gen: {e}");
                ExitCode::FAILURE
            }
        },
        Some(cli::Command::Gateway(args)) => gateway::main(args),
        Some(cli::Command::Relay(args)) => relay::main(args),
        Some(cli::Command::Soak(args)) => soak::main(*args),
        None => run::main(cli.bench),
    }
}
