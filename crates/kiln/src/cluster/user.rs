//! `kiln cluster configure-user`: points one user's agents at the cluster's gateway. Reads
//! `<root>/etc/kiln/cluster.json` and the key it names, writes the five agents' files in the
//! user's HOME with the same writers as `kiln agents configure` (merge, never clobber; the key
//! files 0600), and leaves a copy of `cluster.json` as `~/.kiln/cluster-configured.json` so the
//! shell hook runs it again only when the gateway changed.

use super::info::{self, Layout};
use crate::agents::context::{Context, Target};
use crate::agents::{Selection, configure, plan};
use anyhow::{Context as _, anyhow, bail};
use kiln_databricks::Secret;
use std::path::PathBuf;

/// Options of `kiln cluster configure-user`.
#[derive(Debug, clap::Args)]
pub struct ConfigureUserArgs {
    /// File-system root (tests use a scratch directory).
    #[arg(long, env = "KILN_CLUSTER_ROOT", default_value = "/")]
    pub root: PathBuf,
    /// HOME to configure (default: $HOME).
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Print nothing when all went well.
    #[arg(long)]
    pub quiet: bool,
}

/// The marker in HOME: the `cluster.json` this HOME was configured from.
pub const STAMP: &str = ".kiln/cluster-configured.json";

/// Configures the HOME; returns the lines to print.
pub fn run(args: &ConfigureUserArgs) -> anyhow::Result<Vec<String>> {
    let layout = Layout::new(&args.root);
    let home = match &args.home {
        Some(h) => h.clone(),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| anyhow!("HOME is not set (pass --home)"))?,
    };
    let info_path = layout.info_file();
    let raw = std::fs::read(&info_path).map_err(|e| {
        anyhow!(
            "no kiln gateway runs on this cluster ({}: {e}); the init script's log {} says why",
            info_path.display(),
            layout.log_dir().join("init-script.log").display()
        )
    })?;
    let cluster = info::read(&info_path)?;
    let key = std::fs::read_to_string(&cluster.key_file)
        .with_context(|| format!("reading the gateway key {}", cluster.key_file.display()))?;
    let key = key.trim();
    if key.is_empty() {
        bail!("the gateway key {} is empty", cluster.key_file.display());
    }
    let ctx = Context {
        home: home.clone(),
        target: Target::Gateway {
            url: cluster.gateway_url.clone(),
            key: Secret::new(key.to_owned()),
        },
        models: cluster.models.clone(),
        identity: None,
        databricks_cli: None,
    };
    let selection = Selection {
        git: false,
        databricks: false,
        ..Selection::all()
    };
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    for p in configure::plan(&ctx, &selection) {
        let result = match &p.error {
            Some(e) => Err(e.clone()),
            None => p.apply().map_err(|e| e.to_string()),
        };
        match result {
            Ok(()) if p.is_noop() => lines.push(format!("{}: unchanged", p.item.name())),
            Ok(()) => lines.push(format!("{}: configured", p.item.name())),
            Err(e) => {
                lines.push(format!("{}: FAILED: {e}", p.item.name()));
                failed.push(p.item.name());
            }
        }
        for n in &p.notes {
            lines.push(format!("{}: note: {n}", p.item.name()));
        }
    }
    if !failed.is_empty() {
        bail!(
            "configuring {} failed:\n{}",
            failed.join(", "),
            lines.join("\n")
        );
    }
    let stamp = home.join(STAMP);
    if std::fs::read(&stamp).ok().as_deref() != Some(&raw[..]) {
        plan::write_atomic(&stamp, &raw, true).map_err(|e| anyhow!("{e}"))?;
    }
    lines.push(format!(
        "agents in {} use the gateway {} (model calls act as {})",
        home.display(),
        cluster.gateway_url,
        cluster.identity.name
    ));
    Ok(lines)
}
