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
    ///
    /// Prints a one-time sign-in link (`http://127.0.0.1:8000/#code=…`) and the access key:
    /// open the link in a browser, which then keeps the key for that address; another browser
    /// asks for the key. Example: `kiln serve --bind 127.0.0.1:9000`.
    Serve(crate::serve::ServeArgs),
    /// Show who the Databricks credentials belong to, and where each setting came from.
    Whoami(crate::whoami::WhoamiArgs),
    /// Run the local model gateway on its own (`kiln gateway status`: upstreams and usage).
    Gateway(crate::gateway::cli::GatewayArgs),
    /// Print the current Databricks token of the running kiln serve (from its local broker).
    Token(crate::token_cmd::TokenArgs),
    /// Install, configure, check and report on the coding agents.
    Agents(crate::agents::cmd::AgentsArgs),
    /// Coding agents on a Databricks cluster: init script, Asset Bundle, deploy, status.
    Cluster(crate::cluster::cli::ClusterArgs),
    /// Sync git projects under ~/projects to the workspace (now, restore, status).
    #[command(long_about = crate::sync::cli::LONG_ABOUT)]
    Sync(crate::sync::cli::SyncArgs),
    /// Deploy kiln as a Databricks App (`deploy`), package its source for a Git repository
    /// (`package`), or show the app's state (`status`).
    App(crate::app::cli::AppArgs),
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init();
    match cli.command {
        Command::Serve(args) => crate::serve::main(args),
        Command::Whoami(args) => crate::whoami::main(args),
        Command::Gateway(args) => crate::gateway::cli::main(args),
        Command::Token(args) => crate::token_cmd::main(args),
        Command::Agents(args) => crate::agents::cmd::main(args),
        Command::Cluster(args) => crate::cluster::cli::main(args),
        Command::Sync(args) => crate::sync::cli::main(args),
        Command::App(args) => crate::app::cli::main(args),
    }
}
