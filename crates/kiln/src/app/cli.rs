//! `kiln app package | deploy | status`: flags (following the Databricks CLI: `--profile`,
//! `DATABRICKS_*`), the Databricks client, and exit statuses (0 done, 1 refused or failed,
//! 2 a problem with the command or the configuration).

use super::binary;
use super::deploy::{self, Plan, SharedTracker, Tracker};
use super::error::AppError;
use super::name::{self, DEFAULT_NAME};
use super::package;
use super::progress::{self, Progress};
use super::source::AppSource;
use super::status;
use kiln_databricks::{Attr, Client, ClientOptions, ConfigLoader, Environment, Error};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Arguments of `kiln app`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Walkthrough of both ways to deploy (CLI, Git repository): docs/deploy.md")]
pub struct AppArgs {
    #[command(subcommand)]
    pub command: AppCommand,
}

/// `kiln app` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AppCommand {
    /// Write the app source (app.yaml, launch.py, the kiln binary in parts) into a directory,
    /// to commit to a Git repository and create the app from it in the Databricks UI.
    ///
    /// Example: kiln app package --out ./kiln-app --binary target/x86_64-unknown-linux-gnu/release/kiln
    Package(PackageArgs),
    /// Upload the app source to the workspace, create the app when missing, deploy it and
    /// print its URL. A redeploy uploads only what changed.
    ///
    /// Example: kiln app deploy my-kiln --profile dev
    Deploy(DeployArgs),
    /// Show the app's state, its compute's, its deployments' and its URL.
    ///
    /// Example: kiln app status my-kiln --profile dev
    Status(StatusArgs),
}

/// Which binary goes into the app.
#[derive(Debug, clap::Args)]
pub struct BinaryArgs {
    /// The kiln executable to put into the app: a Linux x86_64 build that needs glibc 2.31 at
    /// most (`./scripts/build-release` makes one). Default: the running kiln.
    #[arg(long, env = "KILN_APP_BINARY")]
    pub binary: Option<PathBuf>,
}

/// How to reach the workspace (as the Databricks CLI does).
#[derive(Debug, clap::Args)]
pub struct WorkspaceArgs {
    /// Profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE). Default: DATABRICKS_HOST and
    /// DATABRICKS_TOKEN (or other DATABRICKS_* credentials), else DATABRICKS_CONFIG_PROFILE or
    /// the default profile.
    #[arg(long, short = 'p')]
    pub profile: Option<String>,
}

/// Arguments of `kiln app package`.
#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    /// Directory to write (created when missing; other files in it are left alone).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub binary: BinaryArgs,
}

/// Arguments of `kiln app deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// App name: 2-30 lowercase letters, digits and hyphens.
    #[arg(default_value = DEFAULT_NAME)]
    pub name: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Workspace folder for the app source. Default: /Workspace/Users/<you>/apps/<NAME>.
    #[arg(long)]
    pub source_code_path: Option<String>,
    /// Longest wait, in seconds, for the compute to start and for the deployment to finish.
    #[arg(long, default_value_t = 1200, env = "KILN_APP_TIMEOUT_SECONDS")]
    pub timeout_seconds: u64,
    /// Extra environment for the app, NAME=VALUE (repeatable), sent with the deployment and
    /// overriding app.yaml, e.g. --env KILN_AGENTS=claude,codex.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    #[command(flatten)]
    pub binary: BinaryArgs,
}

fn parse_env(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v))
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            Ok((k.to_owned(), v.to_owned()))
        }
        _ => Err(format!(
            "{raw:?} is not NAME=VALUE (NAME of letters, digits and underscores)"
        )),
    }
}

/// Arguments of `kiln app status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// App name.
    #[arg(default_value = DEFAULT_NAME)]
    pub name: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
}

fn profile_flag(p: &Option<String>) -> String {
    p.as_ref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default()
}

/// The client for `profile`, or why there is none.
pub fn client(profile: Option<&str>, env: Environment) -> Result<Client, AppError> {
    let mut loader = ConfigLoader::new(env);
    if let Some(p) = profile {
        loader = loader.set_from(Attr::Profile, p, "--profile");
    }
    let config = loader.load().map_err(|e| AppError::Config(e.to_string()))?;
    Client::with_options(&config, ClientOptions::default()).map_err(|e| match e {
        Error::Config(c) => AppError::Config(c.to_string()),
        other => AppError::Config(other.to_string()),
    })
}

fn build_source(args: &BinaryArgs) -> Result<AppSource, AppError> {
    let bin = binary::load(args.binary.as_deref())?;
    AppSource::new(&bin.bytes, env!("CARGO_PKG_VERSION"))
        .map_err(|e| AppError::Io(format!("cannot compress {}: {e}", bin.path.display())))
}

/// `kiln app package`.
pub fn package(args: &PackageArgs) -> Result<String, AppError> {
    let source = build_source(&args.binary)?;
    package::write(&source, &args.out)?;
    Ok(format!(
        "wrote the app source to {} ({} files, {}; the largest {}): commit it to a Git \
         repository and create the app from it (docs/deploy.md)",
        args.out.display(),
        source.files.len(),
        progress::bytes(source.total_bytes()),
        progress::bytes(
            source
                .files
                .iter()
                .map(|f| f.content.len())
                .max()
                .unwrap_or(0)
        ),
    ))
}

/// The name and path rules, before anything else happens.
fn check_args(args: &DeployArgs) -> Result<(), AppError> {
    name::check(&args.name).map_err(AppError::Usage)?;
    match &args.source_code_path {
        Some(p) if !p.starts_with('/') => Err(AppError::Usage(format!(
            "--source-code-path {p:?} is not an absolute workspace path; use e.g. \
             /Workspace/Users/you@example.com/apps/{}",
            args.name
        ))),
        _ => Ok(()),
    }
}

/// `kiln app deploy` with an explicit environment and progress sink; the URL on success.
pub async fn deploy(
    args: &DeployArgs,
    env: Environment,
    progress: &Progress,
    tracker: SharedTracker,
) -> Result<deploy::Deployed, AppError> {
    check_args(args)?;
    let source = build_source(&args.binary)?;
    deploy_source(args, env, &source, progress, tracker).await
}

/// `kiln app deploy` of an already built source (the binary checks are the caller's).
pub async fn deploy_source(
    args: &DeployArgs,
    env: Environment,
    source: &AppSource,
    progress: &Progress,
    tracker: SharedTracker,
) -> Result<deploy::Deployed, AppError> {
    check_args(args)?;
    let client = client(args.workspace.profile.as_deref(), env)?;
    progress.step(format!(
        "app source: {} files, {} (kiln {})",
        source.files.len(),
        progress::bytes(source.total_bytes()),
        env!("CARGO_PKG_VERSION")
    ));
    let plan = Plan {
        name: args.name.clone(),
        source_code_path: args.source_code_path.clone(),
        timeout: Duration::from_secs(args.timeout_seconds.max(1)),
        profile_flag: profile_flag(&args.workspace.profile),
        env: args.env.clone(),
    };
    deploy::run(&client, &plan, source, progress, tracker).await
}

/// `kiln app status`: the report, or why there is none.
pub async fn status(args: &StatusArgs, env: Environment) -> Result<String, AppError> {
    name::check(&args.name).map_err(AppError::Usage)?;
    let client = client(args.workspace.profile.as_deref(), env)?;
    let flag = profile_flag(&args.workspace.profile);
    match client.apps().get(&args.name).await {
        Ok(app) => Ok(status::render(&app)),
        Err(e) if e.is_not_found() => Err(AppError::Usage(format!(
            "there is no app named {} in {}; create it with `kiln app deploy {}{flag}`",
            args.name,
            client.host(),
            args.name
        ))),
        Err(error) if error.is_auth_failure() => Err(AppError::Refused {
            error: Box::new(error),
            profile_flag: flag,
        }),
        Err(error) => Err(AppError::Step {
            step: format!("reading the app {}", args.name),
            error: Box::new(error),
            leftover: Default::default(),
        }),
    }
}

async fn app(args: AppArgs) -> Result<(), AppError> {
    match args.command {
        AppCommand::Package(a) => {
            println!("{}", package(&a)?);
            Ok(())
        }
        AppCommand::Status(a) => {
            print!("{}", status(&a, Environment::from_process()).await?);
            Ok(())
        }
        AppCommand::Deploy(a) => {
            let tracker = Arc::new(Mutex::new(Tracker::default()));
            let progress = Progress::stdout();
            let work = deploy(&a, Environment::from_process(), &progress, tracker.clone());
            tokio::select! {
                done = work => done.map(|_| ()),
                _ = tokio::signal::ctrl_c() => {
                    let t = tracker.lock().map(|t| t.clone()).unwrap_or_default();
                    Err(AppError::Interrupted { step: t.step, leftover: Box::new(t.leftover) })
                }
            }
        }
    }
}

/// Runs `kiln app …` to completion.
pub async fn run(args: AppArgs) -> ExitCode {
    match app(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kiln app: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
