//! Command-line interface: clap definitions and dispatch to library calls.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Coding agents on Databricks.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the browser terminal server.
    Serve,
    /// Print the resolved Databricks identity and where each setting came from.
    Whoami,
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve | Command::Whoami => {
            eprintln!("kiln: not implemented yet");
            ExitCode::FAILURE
        }
    }
}
