//! `kiln-emulator`: run the emulated Databricks workspace on loopback and print how to use
//! it (workspace URL, a user PAT, the app's service-principal credentials) as `KEY=VALUE`
//! lines, ending with `KILN_EMULATOR_READY=1`.

use std::io::Write;
use std::net::IpAddr;

use clap::Parser;
use kiln_emulator::{Emulator, EmulatorOptions};

/// An emulated Databricks workspace for tests and local trials (loopback only).
#[derive(Parser, Debug)]
#[command(name = "kiln-emulator", version)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Address to bind; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// A user email; repeatable. The first one created the app.
    #[arg(long = "user", value_name = "EMAIL")]
    users: Vec<String>,
    /// A fixed PAT for a user, as EMAIL=TOKEN; repeatable.
    #[arg(long = "user-token", value_name = "EMAIL=TOKEN")]
    user_tokens: Vec<String>,
    /// Name of the seeded app.
    #[arg(long, default_value = kiln_emulator::DEFAULT_APP)]
    app: String,
    /// Client id of the app's service principal (random UUID by default).
    #[arg(long)]
    sp_client_id: Option<String>,
    /// OAuth secret of the app's service principal (random by default).
    #[arg(long)]
    sp_client_secret: Option<String>,
    /// Workspace id.
    #[arg(long, default_value_t = kiln_emulator::DEFAULT_WORKSPACE_ID)]
    workspace_id: u64,
}

fn options(args: Args) -> anyhow::Result<EmulatorOptions> {
    if !args.bind.is_loopback() {
        anyhow::bail!(
            "refusing --bind {}: the emulator only listens on loopback addresses (127.0.0.1 or ::1)",
            args.bind
        );
    }
    let mut user_tokens = Vec::new();
    for pair in &args.user_tokens {
        let (email, token) = pair
            .split_once('=')
            .filter(|(e, t)| !e.is_empty() && !t.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--user-token expects EMAIL=TOKEN"))?;
        user_tokens.push((email.to_string(), token.to_string()));
    }
    let mut users = args.users;
    if users.is_empty() {
        users = match user_tokens.first() {
            Some((email, _)) => vec![email.clone()],
            None => vec![kiln_emulator::DEFAULT_USER.to_string()],
        };
    }
    Ok(EmulatorOptions {
        bind: args.bind,
        port: args.port,
        users,
        user_tokens,
        app_name: args.app,
        sp_client_id: args.sp_client_id,
        sp_client_secret: args.sp_client_secret,
        workspace_id: args.workspace_id,
        ..EmulatorOptions::default()
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "kiln_emulator=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let opts = options(Args::parse())?;
    let mut emu = Emulator::start(opts).await?;
    let ids = emu.identities().clone();
    let mut out = String::new();
    out.push_str("# kiln-emulator: an emulated Databricks workspace (loopback only)\n");
    out.push_str(&format!("DATABRICKS_HOST={}\n", ids.workspace_url));
    out.push_str(&format!("DATABRICKS_WORKSPACE_ID={}\n", ids.workspace_id));
    for (i, u) in ids.users.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("KILN_EMULATOR_USER={}\n", u.email));
            out.push_str(&format!("DATABRICKS_TOKEN={}\n", u.token));
        } else {
            out.push_str(&format!("KILN_EMULATOR_USER_{}={}\n", i + 1, u.email));
            out.push_str(&format!("KILN_EMULATOR_TOKEN_{}={}\n", i + 1, u.token));
        }
    }
    out.push_str(&format!("DATABRICKS_APP_NAME={}\n", ids.app_name));
    out.push_str(&format!("DATABRICKS_CLIENT_ID={}\n", ids.sp_client_id));
    out.push_str(&format!(
        "DATABRICKS_CLIENT_SECRET={}\n",
        ids.sp_client_secret
    ));
    out.push_str(&format!(
        "DATABRICKS_APP_URL={}\n",
        emu.app_url(&ids.app_name).unwrap_or_default()
    ));
    out.push_str(&format!(
        "KILN_EMULATOR_ADMIN={}/__emulator\n",
        ids.workspace_url
    ));
    out.push_str("KILN_EMULATOR_READY=1\n");
    {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
    }
    tokio::select! {
        _ = emu.wait() => {}
        _ = shutdown_signal() => {}
    }
    emu.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
