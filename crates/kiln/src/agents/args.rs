//! The `kiln agents` arguments (`setup`, `install`, `configure`, `status`, `check`, with
//! `--agents` / `KILN_AGENTS`, `--home`, `--prefix`, `--gateway URL`, `--mode direct`) and what
//! they resolve to (HOME, prefix, manifest, the writers' [`Context`]). A leaf under [`super::cli`]
//! and [`super::commands`], so neither imports the other's caller.

use super::check;
use super::context::{Context, DIRECT_TOKEN_ENV, DatabricksCliAccess, Target};
use super::manifest::Manifest;
use super::{gateway_info, resolve};
use std::path::{Path, PathBuf};

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

/// Which agents: `kiln agents` and `kiln serve`'s setup runner share this one flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArg {
    /// Agents to work on, e.g. `claude,codex` (also `git`, `databricks`, `all`). Default: all.
    #[arg(long, env = "KILN_AGENTS")]
    pub agents: Option<String>,
}

impl SelectionArg {
    /// The selection it names (everything when absent).
    pub fn selection(&self) -> Result<super::Selection, String> {
        match &self.agents {
            Some(a) => super::Selection::parse(a),
            None => Ok(super::Selection::all()),
        }
    }
}

/// Which package pins: `kiln agents` and `kiln serve`'s setup runner share this one flag.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ManifestArg {
    /// A JSON manifest overriding the pinned agent packages (docs/agents.md). The variables
    /// KILN_CLAUDE_VERSION, KILN_CODEX_VERSION, KILN_GEMINI_VERSION, KILN_OPENCODE_VERSION and
    /// KILN_HERMES_VERSION override one agent's version.
    #[arg(long, env = "KILN_AGENTS_MANIFEST", value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

impl ManifestArg {
    /// The built-in manifest with this override and the version variables applied.
    pub fn load(&self) -> Result<Manifest, String> {
        Manifest::load(self.manifest.as_deref(), &resolve::process_env())
    }
}

/// `kiln serve`'s agents setup.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeSetupArgs {
    /// Set the coding agents up when kiln serve starts (1 or 0) [default: 1 on Databricks
    /// Apps, 0 elsewhere].
    #[arg(long = "agents-setup", env = "KILN_AGENTS_SETUP", value_name = "1|0")]
    pub setup: Option<String>,
    #[command(flatten)]
    pub selection: SelectionArg,
    #[command(flatten)]
    pub manifest: ManifestArg,
}

/// Options every subcommand has.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub selection: SelectionArg,
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
    #[command(flatten)]
    pub manifest: ManifestArg,
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

pub(super) fn home_of(common: &CommonArgs) -> Result<PathBuf, String> {
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

pub(super) fn prefix_of(p: &PrefixArgs, home: &Path) -> Result<PathBuf, String> {
    match &p.prefix {
        Some(x) => std::path::absolute(x).map_err(|e| format!("--prefix {}: {e}", x.display())),
        None => Ok(home.join(".local")),
    }
}

pub(super) fn manifest_of(p: &PrefixArgs) -> Result<Manifest, String> {
    p.manifest.load()
}

/// HOMEs searched for the gateway's files: the target HOME, then the caller's.
pub(super) fn gateway_homes(home: &Path) -> Vec<PathBuf> {
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
            metadata_service_url: kiln_databricks::Secret::new(url.clone()),
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
