//! The `kiln agents` subcommands' work: configure (with `--dry-run` diffs), install, setup,
//! status and check, each printing one line per item and returning whether all succeeded.

use super::args::{
    CheckArgs, ConfigureArgs, InstallArgs, PrefixArgs, SetupArgs, StatusArgs, context,
    gateway_homes, home_of, manifest_of, prefix_of,
};
use super::check::{self, CheckOptions};
use super::configure::{self, ItemPlan};
use super::context::DIRECT_TOKEN_ENV;
use super::install::{self, InstallOptions};
use super::state::{self, State};
use super::{Agent, Selection, gateway_info, status};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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

pub(super) async fn configure_cmd(a: ConfigureArgs) -> Result<bool, String> {
    let sel = a.common.selection.selection()?;
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
    eprintln!(
        "kiln agents: installing into {} (in parallel; -v shows npm and pip output)",
        opts.prefix.display()
    );
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

pub(super) async fn install_cmd(a: InstallArgs) -> Result<bool, String> {
    let sel = a.common.selection.selection()?;
    let home = home_of(&a.common)?;
    run_installs(&sel, &home, &a.prefix, a.verbose).await
}

pub(super) async fn setup(a: SetupArgs) -> Result<bool, String> {
    let sel = a.common.selection.selection()?;
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

pub(super) async fn status_cmd(a: StatusArgs) -> Result<bool, String> {
    let sel = a.common.selection.selection()?;
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

pub(super) async fn check_cmd(a: CheckArgs) -> Result<bool, String> {
    let sel = a.common.selection.selection()?;
    let home = home_of(&a.common)?;
    let mut opts = CheckOptions::new(home.clone(), prefix_of(&a.prefix, &home)?);
    opts.prompt = a.prompt.clone();
    opts.timeout = Duration::from_secs(a.timeout_secs.max(1));
    // Agents get the allow-listed environment: direct mode's token reference needs the token
    // passed on purpose (it is the caller's own, for the agents the caller asked to run).
    if let Ok(t) = std::env::var(DIRECT_TOKEN_ENV) {
        opts.env.push((DIRECT_TOKEN_ENV.into(), t));
    }
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
