//! `kiln agents`: dispatches each subcommand ([`super::args`]) to its work in `commands`.
//! Exit status: 0 all items succeeded, 1 some failed, 2 the command could not run.

use super::args::AgentsCommand;
use super::commands;
use std::process::ExitCode;

pub use super::args::AgentsArgs;

/// Runs `kiln agents …` to completion.
pub async fn run(args: AgentsArgs) -> ExitCode {
    let result = match args.command {
        AgentsCommand::Setup(a) => commands::setup(a).await,
        AgentsCommand::Install(a) => commands::install_cmd(a).await,
        AgentsCommand::Configure(a) => commands::configure_cmd(a).await,
        AgentsCommand::Status(a) => commands::status_cmd(a).await,
        AgentsCommand::Check(a) => commands::check_cmd(a).await,
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kiln agents: {e}");
            ExitCode::from(2)
        }
    }
}
