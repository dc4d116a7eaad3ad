//! The `kiln agents` command line: `setup` (install + configure), `install`, `configure`
//! (`--dry-run` prints the diff), `status` and `check`, with `--agents` / `KILN_AGENTS`,
//! `--home` (a scratch HOME), `--prefix`, `--gateway URL` and `--mode direct`.

use super::check::{self, CheckOptions};
use super::configure::{self, ItemPlan};
use super::context::{Context, DIRECT_TOKEN_ENV, DatabricksCliAccess, Target};
use super::install::{self, InstallOptions};
use super::manifest::Manifest;
use super::state::{self, State};
use super::{Agent, Selection, gateway_info, resolve, status};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `kiln agents`.
#[derive(Debug, clap::Args)]
pub struct AgentsArgs {
    #[command(subcommand)]
    pub command: AgentsCommand,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AgentsCommand {
    /// Install the pinned agents, then configure them.
    Setup(SetupArgs),
    /// Install the pinned agents only (skipped when present).
    Install(InstallArgs),
    /// Write the agents' config files only.
    Configure(ConfigureArgs),
    /// Show each agent's version, endpoint, model and last result.
    Status(StatusArgs),
    /// Send one tiny prompt through each agent's real CLI.
    Check(CheckArgs),
}

/// Options every subcommand has.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Agents to work on, e.g. `claude,codex` (also `git`, `databricks`, `all`). Default: all.
    #[arg(long, env = "KILN_AGENTS")]
    pub agents: Option<String>,
    /// HOME to configure (default: $HOME), e.g. a scratch directory.
    #[arg(long)]
    pub home: Option<PathBuf>,
}

/// Where agents are installed.
#[derive(Debug, Clone, clap::Args)]
pub struct PrefixArgs {
    /// Install prefix: npm packages and commands go to <prefix>/lib and <prefix>/bin.
    /// Default: <home>/.local.
    #[arg(long)]
    pub prefix: Option<PathBuf>,
    /// A JSON manifest overriding the pinned packages (also KILN_AGENTS_MANIFEST).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

/// Model-call target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Through the local kiln gateway (agents hold only its local key).
    Gateway,
    /// Directly to Databricks, with a token reference (for places without a running kiln).
    Direct,
}

/// Options of `configure` (and `setup`).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Gateway mode (default) or direct mode.
    #[arg(long, value_enum, default_value_t = Mode::Gateway)]
    pub mode: Mode,
    /// Gateway URL (default: the running gateway in ~/.kiln/gateway.json).
    #[arg(long)]
    pub gateway: Option<String>,
    /// File holding the gateway's local key (default: ~/.kiln/gateway.key).
    #[arg(long)]
    pub gateway_key_file: Option<PathBuf>,
    /// Databricks config profile (for models, identity and the direct-mode host).
    #[arg(long)]
    pub profile: Option<String>,
    /// Workspace URL (overrides the profile's).
    #[arg(long)]
    pub host: Option<String>,
    /// Direct mode: the variable holding the token.
    #[arg(long, default_value = DIRECT_TOKEN_ENV)]
    pub token_env: String,
    /// A localhost URL serving the current token in the SDKs' metadata-service shape, for the
    /// Databricks CLI's profile (kiln's token broker provides one).
    #[arg(long, env = "KILN_DATABRICKS_METADATA_URL")]
    pub metadata_url: Option<String>,
}

/// `kiln agents setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub prefix: PrefixArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the package managers' output.
    #[arg(long, short)]
    pub verbose: bool,
}

/// `kiln agents install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub prefix: PrefixArgs,
    /// Print the package managers' output.
    #[arg(long, short)]
    pub verbose: bool,
}

/// `kiln agents configure`.
#[derive(Debug, clap::Args)]
pub struct ConfigureArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print what would change (a unified diff, keys redacted) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `kiln agents status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub prefix: PrefixArgs,
    /// Gateway to ask for usage (default: the running one in ~/.kiln/gateway.json).
    #[arg(long)]
    pub gateway: Option<String>,
    /// File holding the gateway's local key (default: ~/.kiln/gateway.key).
    #[arg(long)]
    pub gateway_key_file: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// `kiln agents check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub prefix: PrefixArgs,
    /// The prompt.
    #[arg(long, default_value = check::DEFAULT_PROMPT)]
    pub prompt: String,
    /// Seconds each agent may take.
    #[arg(long, default_value_t = 180)]
    pub timeout_secs: u64,
}

fn home_of(common: &CommonArgs) -> Result<PathBuf, String> {
    match &common.home {
        Some(h) => {
            std::fs::create_dir_all(h).map_err(|e| format!("--home {}: {e}", h.display()))?;
            std::path::absolute(h).map_err(|e| format!("--home {}: {e}", h.display()))
        }
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| "HOME is not set (pass --home)".into()),
    }
}

fn prefix_of(p: &PrefixArgs, home: &Path) -> Result<PathBuf, String> {
    match &p.prefix {
        Some(x) => std::path::absolute(x).map_err(|e| format!("--prefix {}: {e}", x.display())),
        None => Ok(home.join(".local")),
    }
}

fn manifest_of(p: &PrefixArgs) -> Result<Manifest, String> {
    Manifest::load(p.manifest.as_deref(), &resolve::process_env())
}

/// HOMEs searched for the gateway's files: the target HOME, then the caller's.
fn gateway_homes(home: &Path) -> Vec<PathBuf> {
    let mut v = vec![home.to_owned()];
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from)
        && h != home
    {
        v.push(h);
    }
    v
}

/// Builds the writers' context from flags, the gateway files and the workspace.
pub async fn context(home: &Path, t: &TargetArgs) -> Result<(Context, Vec<String>), String> {
    let client = resolve::client_from_config(t.profile.as_deref(), t.host.as_deref());
    let mut notes = Vec::new();
    let client = match client {
        Ok(c) => Some(c),
        Err(e) => {
            notes.push(format!("Databricks configuration: {e}"));
            None
        }
    };
    let ws = resolve::workspace(client.as_ref(), &resolve::process_env()).await;
    notes.extend(ws.notes.iter().cloned());
    let target = match t.mode {
        Mode::Gateway => {
            let homes = gateway_homes(home);
            let url = match &t.gateway {
                Some(u) => u.trim_end_matches('/').to_owned(),
                None => gateway_info::discover(&homes)?.url,
            };
            let key = gateway_info::find_key(t.gateway_key_file.as_deref(), &homes)?;
            Target::Gateway { url, key }
        }
        Mode::Direct => {
            let host = ws.host.clone().ok_or_else(|| {
                "direct mode needs the workspace URL: set DATABRICKS_HOST, a profile or --host"
                    .to_owned()
            })?;
            Target::Direct {
                host: host.trim_end_matches('/').to_owned(),
                token_env: t.token_env.clone(),
            }
        }
    };
    let databricks_cli = match (&t.metadata_url, &ws.host) {
        (Some(url), Some(host)) => Some(DatabricksCliAccess {
            host: host.clone(),
            metadata_service_url: url.clone(),
        }),
        _ => None,
    };
    notes.push(format!("models: {}", ws.models.source));
    Ok((
        Context {
            home: home.to_owned(),
            target,
            models: ws.models,
            identity: ws.identity,
            databricks_cli,
        },
        notes,
    ))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Entry point of `kiln agents`.
pub fn main(args: AgentsArgs) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln agents: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match args.command {
            AgentsCommand::Setup(a) => setup(a).await,
            AgentsCommand::Install(a) => install_cmd(a).await,
            AgentsCommand::Configure(a) => configure_cmd(a).await,
            AgentsCommand::Status(a) => status_cmd(a).await,
            AgentsCommand::Check(a) => check_cmd(a).await,
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kiln agents: {e}");
            ExitCode::from(2)
        }
    }
}

/// Prints one item's outcome; returns false on failure.
fn report(plan: &ItemPlan, applied: Option<&Result<(), super::plan::ConfigureError>>) -> bool {
    let name = plan.item.name();
    let ok = match (&plan.error, applied) {
        (Some(e), _) => {
            println!("{name}: FAILED: {e}");
            false
        }
        (None, Some(Err(e))) => {
            println!("{name}: FAILED: {e}");
            false
        }
        (None, _) if plan.is_noop() => {
            println!("{name}: unchanged");
            true
        }
        (None, _) => {
            let files: Vec<String> = plan
                .files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let dirs: Vec<String> = plan.dirs.iter().map(|d| d.display().to_string()).collect();
            println!("{name}: wrote {}", [files, dirs].concat().join(", "));
            true
        }
    };
    for n in &plan.notes {
        println!("{name}: note: {n}");
    }
    ok
}

async fn configure_cmd(a: ConfigureArgs) -> Result<bool, String> {
    let sel = Selection::from_flag_or_env(a.common.agents.as_deref())?;
    let home = home_of(&a.common)?;
    let (ctx, notes) = context(&home, &a.target).await?;
    for n in &notes {
        eprintln!("kiln agents: {n}");
    }
    let plans = configure::plan(&ctx, &sel);
    if a.dry_run {
        let secrets = ctx.secrets();
        let mut ok = true;
        for p in &plans {
            if let Some(e) = &p.error {
                println!("# {}: FAILED: {e}", p.item);
                ok = false;
            } else if p.is_noop() {
                println!("# {}: unchanged", p.item);
            } else {
                println!("# {}", p.item);
                print!("{}", p.diff(&secrets));
            }
            for n in &p.notes {
                println!("# {}: note: {n}", p.item);
            }
        }
        return Ok(ok);
    }
    Ok(apply_and_report(&plans))
}

fn apply_and_report(plans: &[ItemPlan]) -> bool {
    let mut ok = true;
    for p in plans {
        let applied = if p.error.is_none() {
            Some(p.apply())
        } else {
            None
        };
        ok &= report(p, applied.as_ref());
    }
    ok
}

async fn run_installs(
    sel: &Selection,
    home: &Path,
    prefix: &PrefixArgs,
    verbose: bool,
) -> Result<bool, String> {
    let manifest = manifest_of(prefix)?;
    let opts = InstallOptions::new(prefix_of(prefix, home)?);
    for a in &sel.agents {
        if let Some(s) = manifest.get(*a) {
            println!(
                "{a}: installing {}@{} into {}",
                s.package,
                s.version,
                opts.prefix.display()
            );
        }
    }
    let sink: install::AgentLineSink = Arc::new(move |a: Agent, line: &str| {
        if verbose {
            eprintln!("[{a}] {line}");
        }
    });
    let results = install::install_all(&sel.agents, &manifest, &opts, sink).await;
    let mut ok = true;
    for (agent, r) in results {
        match r {
            Ok(i) => {
                let what = if i.changed {
                    "installed"
                } else {
                    "already installed"
                };
                println!(
                    "{agent}: {what} {} ({:.1} s)",
                    i.version,
                    i.duration.as_secs_f64()
                );
                let _ = State::update(home, agent, |s| s.installed_version = Some(i.version));
            }
            Err(e) => {
                println!("{agent}: install FAILED: {e}");
                ok = false;
            }
        }
    }
    println!(
        "agents are in {} (add it to PATH)",
        install::bin_dir(&opts.prefix).display()
    );
    Ok(ok)
}

async fn install_cmd(a: InstallArgs) -> Result<bool, String> {
    let sel = Selection::from_flag_or_env(a.common.agents.as_deref())?;
    let home = home_of(&a.common)?;
    run_installs(&sel, &home, &a.prefix, a.verbose).await
}

async fn setup(a: SetupArgs) -> Result<bool, String> {
    let sel = Selection::from_flag_or_env(a.common.agents.as_deref())?;
    let home = home_of(&a.common)?;
    let (ctx, notes) = context(&home, &a.target).await?;
    for n in &notes {
        eprintln!("kiln agents: {n}");
    }
    let installed = run_installs(&sel, &home, &a.prefix, a.verbose).await?;
    let configured = apply_and_report(&configure::plan(&ctx, &sel));
    Ok(installed && configured)
}

/// The running gateway's usage per agent, if it can be reached.
async fn gateway_usage(
    home: &Path,
    url: Option<&str>,
    key_file: Option<&Path>,
) -> Result<std::collections::BTreeMap<String, status::Usage>, String> {
    let homes = gateway_homes(home);
    let url = match url {
        Some(u) => u.to_owned(),
        None => gateway_info::discover(&homes)?.url,
    };
    let key = gateway_info::find_key(key_file, &homes)?;
    let snapshot = crate::gateway::cli::fetch_usage(&url, &key)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(status::usage_by_agent(&snapshot))
}

async fn status_cmd(a: StatusArgs) -> Result<bool, String> {
    let sel = Selection::from_flag_or_env(a.common.agents.as_deref())?;
    let home = home_of(&a.common)?;
    let prefix = prefix_of(&a.prefix, &home)?;
    let usage =
        match gateway_usage(&home, a.gateway.as_deref(), a.gateway_key_file.as_deref()).await {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("kiln agents: no usage: {e}");
                None
            }
        };
    let rows = status::collect(
        &sel.agents,
        &home,
        &prefix,
        &manifest_of(&a.prefix)?,
        usage.as_ref(),
    );
    if a.json {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", status::render(&rows, state::now_unix()));
    }
    Ok(true)
}

async fn check_cmd(a: CheckArgs) -> Result<bool, String> {
    let sel = Selection::from_flag_or_env(a.common.agents.as_deref())?;
    let home = home_of(&a.common)?;
    let mut opts = CheckOptions::new(home.clone(), prefix_of(&a.prefix, &home)?);
    opts.prompt = a.prompt.clone();
    opts.timeout = Duration::from_secs(a.timeout_secs.max(1));
    // Direct mode: Gemini CLI reads its key from the environment only.
    if let Ok(t) = std::env::var(DIRECT_TOKEN_ENV)
        && !std::fs::read_to_string(home.join(".gemini/.env"))
            .unwrap_or_default()
            .contains("GEMINI_API_KEY=")
    {
        opts.env.push(("GEMINI_API_KEY".into(), t));
    }
    let mut set = tokio::task::JoinSet::new();
    for &agent in &sel.agents {
        let opts = opts.clone();
        set.spawn(async move { (agent, check::check(agent, &opts).await) });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        if let Ok(pair) = r {
            results.push(pair);
        }
    }
    results.sort_by_key(|(a, _)| *a);
    let mut ok = true;
    for (agent, out) in results {
        let summary = out.summary();
        println!(
            "{agent}: {} ({:.1} s): {summary}",
            if out.ok { "ok" } else { "FAILED" },
            out.duration.as_secs_f64()
        );
        ok &= out.ok;
        let _ = State::update(&home, agent, |s| {
            s.last_check = Some(state::CheckResult {
                ok: out.ok,
                at_unix: state::now_unix(),
                message: summary,
                duration_ms: out.duration.as_millis() as u64,
            })
        });
    }
    Ok(ok)
}
