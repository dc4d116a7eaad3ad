//! `kiln whoami`: resolves the Databricks configuration (flags, environment, `~/.databrickscfg`),
//! asks the workspace who the credential belongs to (SCIM `Me`) and prints the identity plus,
//! redacted, where each setting came from. Exit status 2 for configuration problems, 1 when the
//! workspace refuses the credential or cannot be reached.

use kiln_databricks::api::scim::User;
use kiln_databricks::{
    Attr, Client, ClientOptions, ConfigError, ConfigLoader, Environment, Error, RetryPolicy, Source,
};
use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

/// How long `whoami` keeps retrying a throttled or unreachable workspace.
const RETRY_BUDGET: Duration = Duration::from_secs(15);
/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Arguments of `kiln whoami`.
#[derive(Debug, Default, clap::Args)]
pub struct WhoamiArgs {
    /// Profile of ~/.databrickscfg (or DATABRICKS_CONFIG_FILE) to use.
    #[arg(long)]
    pub profile: Option<String>,
    /// Workspace URL; overrides DATABRICKS_HOST and the profile's host.
    #[arg(long)]
    pub host: Option<String>,
}

/// Why `kiln whoami` failed.
#[derive(Debug, thiserror::Error)]
pub enum WhoamiError {
    /// The configuration is incomplete or contradictory.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The workspace refused the credential.
    #[error("the workspace refused the credentials: {error}. Config: {config}")]
    Refused {
        /// The refusal.
        error: Error,
        /// Redacted configuration description.
        config: String,
    },
    /// Anything else (network, server errors).
    #[error("{error}. Config: {config}")]
    Failed {
        /// The failure.
        error: Error,
        /// Redacted configuration description.
        config: String,
    },
}

impl WhoamiError {
    /// Process exit status: 2 for configuration problems, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            WhoamiError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// What `whoami` found.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The SCIM identity.
    pub user: User,
    /// Workspace URL.
    pub host: String,
    /// Authentication method used.
    pub auth_type: String,
    /// Each setting (secrets as `***`) and where it came from.
    pub settings: Vec<(Attr, String, Source)>,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.user.is_service_principal() {
            "service principal"
        } else {
            "user"
        };
        writeln!(f, "user name:    {}", self.user.user_name)?;
        writeln!(
            f,
            "display name: {}",
            self.user.display_name.as_deref().unwrap_or("-")
        )?;
        writeln!(f, "id:           {}", self.user.id)?;
        writeln!(f, "kind:         {kind}")?;
        write!(f, "workspace:    {}", self.host)?;
        if let Some(id) = &self.user.workspace_id {
            write!(f, " (workspace id {id})")?;
        }
        writeln!(f)?;
        writeln!(f, "auth type:    {}", self.auth_type)?;
        writeln!(f, "settings:")?;
        for (attr, value, source) in &self.settings {
            writeln!(f, "  {attr}={value} (from {source})")?;
        }
        Ok(())
    }
}

/// Resolves configuration from `env` plus the flags and calls SCIM `Me`.
pub async fn identify(args: &WhoamiArgs, env: Environment) -> Result<Identity, WhoamiError> {
    let mut loader = ConfigLoader::new(env);
    if let Some(p) = &args.profile {
        loader = loader.set_from(Attr::Profile, p, "--profile flag");
    }
    if let Some(h) = &args.host {
        loader = loader.set_from(Attr::Host, h, "--host flag");
    }
    let config = loader.load()?;
    let options = ClientOptions {
        retry: RetryPolicy {
            budget: RETRY_BUDGET,
            request_timeout: REQUEST_TIMEOUT,
            ..RetryPolicy::default()
        },
        ..ClientOptions::default()
    };
    let client = match Client::with_options(&config, options) {
        Ok(c) => c,
        Err(Error::Config(e)) => return Err(WhoamiError::Config(e)),
        Err(error) => {
            return Err(WhoamiError::Failed {
                error,
                config: config.describe(),
            });
        }
    };
    let user = client.scim().me().await.map_err(|error| {
        let config = config.describe();
        if error.is_auth_failure() {
            WhoamiError::Refused { error, config }
        } else {
            WhoamiError::Failed { error, config }
        }
    })?;
    Ok(Identity {
        user,
        host: client.host().to_owned(),
        auth_type: client.auth_type().to_owned(),
        settings: config.redacted_values(),
    })
}

/// Runs `kiln whoami` to completion.
pub async fn run(args: WhoamiArgs) -> ExitCode {
    match identify(&args, Environment::from_process()).await {
        Ok(identity) => {
            print!("{identity}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kiln whoami: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kiln_emulator::{Emulator, EmulatorOptions};

    async fn emulator() -> kiln_emulator::RunningEmulator {
        Emulator::start(EmulatorOptions::default()).await.unwrap()
    }

    #[tokio::test]
    async fn prints_identity_and_redacted_sources() {
        let emu = emulator().await;
        let host_no_scheme = emu.url().trim_start_matches("http://").to_owned();
        let env = Environment::new()
            .with_var("DATABRICKS_HOST", &host_no_scheme)
            .with_var("DATABRICKS_TOKEN", emu.user_token());
        // A scheme-less host becomes https://, which the plain-HTTP emulator cannot serve;
        // the explicit flag (with http://) wins over the environment.
        let args = WhoamiArgs {
            host: Some(emu.url().to_owned()),
            profile: None,
        };
        let id = identify(&args, env).await.unwrap();
        assert_eq!(id.user.user_name, emu.user_email());
        assert_eq!(id.auth_type, "pat");
        let text = id.to_string();
        assert!(
            text.contains(&format!("user name:    {}", emu.user_email())),
            "{text}"
        );
        assert!(text.contains("kind:         user"), "{text}");
        assert!(
            text.contains(&format!("host={} (from --host flag)", emu.url())),
            "{text}"
        );
        assert!(
            text.contains("token=*** (from env DATABRICKS_TOKEN)"),
            "{text}"
        );
        assert!(!text.contains(emu.user_token()), "{text}");
    }

    #[tokio::test]
    async fn service_principal_via_oauth_from_a_profile() {
        let emu = emulator().await;
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".databrickscfg"),
            format!(
                "[sp]\nhost = {}\nclient_id = {}\nclient_secret = {}\n",
                emu.url(),
                emu.sp_client_id(),
                emu.sp_client_secret()
            ),
        )
        .unwrap();
        let args = WhoamiArgs {
            profile: Some("sp".into()),
            host: None,
        };
        let id = identify(&args, Environment::new().with_home(home.path()))
            .await
            .unwrap();
        assert!(id.user.is_service_principal(), "{:?}", id.user);
        assert_eq!(id.auth_type, "oauth-m2m");
        let text = id.to_string();
        assert!(text.contains("kind:         service principal"), "{text}");
        assert!(text.contains("client_secret=*** (from profile sp in ~/.databrickscfg)"));
        assert!(text.contains("profile=sp (from --profile flag)"));
        assert!(!text.contains(emu.sp_client_secret()));
    }

    #[tokio::test]
    async fn refused_token_is_exit_1_without_the_token() {
        let emu = emulator().await;
        let env = Environment::new()
            .with_var("DATABRICKS_HOST", emu.url())
            .with_var("DATABRICKS_TOKEN", "dapi-not-a-real-token-123");
        let e = identify(&WhoamiArgs::default(), env).await.unwrap_err();
        assert_eq!(e.exit_code(), 1);
        let msg = e.to_string();
        assert!(
            msg.contains("the workspace refused the credentials"),
            "{msg}"
        );
        assert!(
            msg.contains("token=*** (from env DATABRICKS_TOKEN)"),
            "{msg}"
        );
        assert!(!msg.contains("dapi-not-a-real-token-123"), "{msg}");
    }

    #[tokio::test]
    async fn config_problems_are_exit_2() {
        let home = tempfile::tempdir().unwrap();
        let args = WhoamiArgs {
            profile: Some("missing".into()),
            host: None,
        };
        let e = identify(&args, Environment::new().with_home(home.path()))
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("profile missing"), "{e}");

        let e = identify(
            &WhoamiArgs::default(),
            Environment::new().with_home(home.path()),
        )
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string().contains("no authentication configured"),
            "{e}"
        );
    }
}
