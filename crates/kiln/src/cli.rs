//! Command-line interface: registers each command (its flags and `run` live in its capability's
//! module: `server::cli`, `gateway::cli`, `agents::cli`, …) and runs it on the one tokio runtime.

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
    Serve(crate::server::cli::ServeArgs),
    /// Show who the Databricks credentials belong to, and where each setting came from.
    Whoami(crate::whoami::WhoamiArgs),
    /// Run the local model gateway on its own (`kiln gateway status`: upstreams and usage).
    Gateway(crate::gateway::cli::GatewayArgs),
    /// Print the current Databricks token of the running kiln serve (from its local broker).
    Token(crate::credentials::cli::TokenArgs),
    /// Install, configure, check and report on the coding agents.
    Agents(crate::agents::cli::AgentsArgs),
    /// Coding agents on a Databricks cluster: init script, Asset Bundle, deploy, status.
    Cluster(crate::cluster::cli::ClusterArgs),
    /// Sync git projects under ~/projects to the workspace (now, restore, status).
    #[command(long_about = crate::sync::cli::LONG_ABOUT)]
    Sync(crate::sync::cli::SyncArgs),
    /// Deploy kiln as a Databricks App (`deploy`), package its source for a Git repository
    /// (`package`), or show the app's state (`status`).
    App(crate::app::cli::AppArgs),
}

/// Entry point used by `main.rs`: parses the command line, does what must happen before any
/// other thread exists (`kiln serve`'s secret handling), then runs the command on the one tokio
/// runtime.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init();
    let apps = match &cli.command {
        Command::Serve(args) => match crate::server::cli::prepare(args) {
            Ok(apps) => apps,
            Err(code) => return code,
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.command, apps))
}

/// Runs one command to completion (`apps`: what `kiln serve` prepared before the runtime).
async fn run(command: Command, apps: Option<crate::credentials::AppsSettings>) -> ExitCode {
    match command {
        Command::Serve(args) => crate::server::cli::run(args, apps).await,
        Command::Whoami(args) => crate::whoami::run(args).await,
        Command::Gateway(args) => crate::gateway::cli::run(args).await,
        Command::Token(args) => crate::credentials::cli::run(args).await,
        Command::Agents(args) => crate::agents::cli::run(args).await,
        Command::Cluster(args) => crate::cluster::cli::run(args).await,
        Command::Sync(args) => crate::sync::cli::run(args).await,
        Command::App(args) => crate::app::cli::run(args).await,
    }
}
