//! The `kiln cluster` command line: `init-script`, plus what the init script runs on the driver
//! (`gateway`, `configure-user`).

use super::{gateway, script, user};
use anyhow::{Context as _, anyhow};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `kiln cluster`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Guide: docs/cluster.md. Example:\n  \
    kiln cluster init-script --out init.sh   # script for the running kiln binary")]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Write the cluster init script (for the kiln binary that will sit next to it).
    ///
    /// The script installs kiln, Node.js (when missing) and the five coding agents at kiln's
    /// pinned versions on the driver, starts the cluster's model gateway and configures every
    /// user's agents. Put the kiln binary in the same directory (workspace files or a Volume).
    /// Example: kiln cluster init-script --out src/kiln-init.sh
    InitScript(InitScriptArgs),
    /// Run the cluster's model gateway (started by the init script on the driver).
    ///
    /// Takes KILN_DATABRICKS_HOST and KILN_DATABRICKS_TOKEN from its environment, refuses a
    /// user's token on a shared cluster (KILN_CLUSTER_ACCESS_MODE), listens on 127.0.0.1.
    Gateway(gateway::GatewayArgs),
    /// Point this user's agents at the cluster's gateway (run by the shell hook on login).
    ///
    /// Example: kiln cluster configure-user
    ConfigureUser(user::ConfigureUserArgs),
}

/// Options of `kiln cluster init-script`.
#[derive(Debug, clap::Args)]
pub struct InitScriptArgs {
    /// Write the script here (mode 0755) instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The kiln binary the script will verify (default: this running binary).
    #[arg(long, env = "KILN_CLUSTER_BINARY")]
    pub binary: Option<PathBuf>,
}

/// The binary to ship: `--binary`, else the running executable.
pub fn binary_path(flag: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match flag {
        Some(p) => Ok(p.clone()),
        None => std::env::current_exe().context("cannot find the running kiln binary"),
    }
}

fn init_script(args: &InitScriptArgs) -> anyhow::Result<()> {
    let binary = binary_path(args.binary.as_ref())?;
    let sha = script::sha256_file(&binary)
        .with_context(|| format!("reading the kiln binary {}", binary.display()))?;
    let text = script::render(&sha);
    match &args.out {
        None => print!("{text}"),
        Some(out) => {
            write_executable(out, text.as_bytes())?;
            eprintln!(
                "kiln cluster: wrote {} for the kiln binary {} (SHA-256 {sha}); put that binary next to it as `kiln`",
                out.display(),
                binary.display()
            );
        }
    }
    Ok(())
}

/// Writes a file atomically with mode 0755.
pub fn write_executable(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    crate::agents::plan::write_atomic(path, bytes, false).map_err(|e| anyhow!("{e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", path.display()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the runtime")
}

/// Entry point of `kiln cluster`.
pub fn main(args: ClusterArgs) -> ExitCode {
    let result = match args.command {
        ClusterCommand::InitScript(a) => init_script(&a),
        ClusterCommand::Gateway(a) => runtime().and_then(|rt| rt.block_on(gateway::run(a))),
        ClusterCommand::ConfigureUser(a) => user::run(&a).map(|lines| {
            if !a.quiet {
                for l in lines {
                    println!("{l}");
                }
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln cluster: {e:#}");
            ExitCode::FAILURE
        }
    }
}
