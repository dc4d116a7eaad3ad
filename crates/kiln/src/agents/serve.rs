//! The setup runner inside `kiln serve`: pointed at the server's model gateway (its URL and key
//! file), asking the workspace through the credentials' token cell, started at serve start and
//! started again when a token is first configured (the cell goes from empty to holding one). The
//! Databricks CLI's `[kiln]` profile is the credentials code's to write; setup only reports it.

use super::args::ServeSetupArgs;
use super::setup::{SetupOptions, SetupRunner};
use crate::credentials::Credentials;
use crate::gateway::GatewayHandle;
use tokio_util::sync::CancellationToken;

/// Whether `kiln serve` sets agents up: `--agents-setup` / `KILN_AGENTS_SETUP` (1|0) decides;
/// without it, yes on Databricks Apps and no elsewhere (a laptop's `kiln serve` does not install
/// agents unasked).
pub fn enabled(setup: Option<&str>, in_apps: bool) -> bool {
    match setup {
        Some(v) => matches!(v.trim(), "1" | "true" | "yes" | "on"),
        None => in_apps,
    }
}

fn has_token(credentials: &Credentials) -> bool {
    credentials.cell().minted().is_some() || credentials.cell().is_delegate()
}

/// Starts the runner for a server (must run inside a tokio runtime): first run now, another
/// when a token first appears.
pub fn spawn_for_server(
    mut opts: SetupOptions,
    credentials: &Credentials,
    gateway: Option<&GatewayHandle>,
    shutdown: CancellationToken,
) -> SetupRunner {
    if let Some(gw) = gateway {
        opts.gateway_url = Some(gw.url().to_owned());
        opts.gateway_key_path = gw.key_path().to_owned();
    }
    let runner = SetupRunner::new(opts);
    let host = credentials.host().map(str::to_owned);
    let attach = |runner: &SetupRunner| {
        if let Some(h) = &host
            && let Err(e) = runner.set_workspace(h, credentials.token_source())
        {
            tracing::warn!(error = %e, "agents setup cannot ask the workspace");
        }
    };
    let had_token = has_token(credentials);
    if had_token {
        attach(&runner);
    }
    runner.trigger();
    if !had_token {
        let mut changes = credentials.cell().subscribe();
        let creds = credentials.clone();
        let r = runner.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = changes.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        if has_token(&creds) {
                            if let Some(h) = creds.host()
                                && let Err(e) = r.set_workspace(h, creds.token_source())
                            {
                                tracing::warn!(error = %e, "agents setup cannot ask the workspace");
                            }
                            tracing::info!("a Databricks token is configured: setting agents up again");
                            r.trigger();
                            break;
                        }
                    }
                    _ = shutdown.cancelled() => break,
                }
            }
        });
    }
    runner
}

/// The runner's options for `kiln serve` from its flags (`--agents-setup`, `--agents`,
/// `--manifest`) and `HOME`; `None` when setup is off.
pub fn options_for_serve(in_apps: bool, args: &ServeSetupArgs) -> Option<SetupOptions> {
    if !enabled(args.setup.as_deref(), in_apps) {
        return None;
    }
    let home = std::path::PathBuf::from(std::env::var_os("HOME")?);
    let mut opts = match SetupOptions::new(home) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "agents setup is off");
            return None;
        }
    };
    match args.selection.selection() {
        Ok(s) => opts.selection = s,
        Err(e) => tracing::warn!(error = %e, "ignoring KILN_AGENTS; setting up every agent"),
    }
    match args.manifest.load() {
        Ok(m) => opts.manifest = m,
        Err(e) => tracing::warn!(error = %e, "ignoring the manifest override"),
    }
    Some(opts)
}
