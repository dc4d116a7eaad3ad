//! Shared fixtures: an emulator, clients for its user and its app's service principal, and
//! fast retry settings so failure paths finish quickly.

use kiln_databricks::{Client, ClientOptions, ConfigLoader, Environment, RetryPolicy};
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator, StateDelays};
use std::time::Duration;

/// Generous upper bound for any single test step.
pub const STEP: Duration = Duration::from_secs(60);

/// An emulator whose state machines take about a second per step.
pub async fn emulator() -> RunningEmulator {
    emulator_with(EmulatorOptions::default()).await
}

pub async fn emulator_with(mut opts: EmulatorOptions) -> RunningEmulator {
    opts.delays = StateDelays {
        cluster_start_secs: 1,
        cluster_terminate_secs: 1,
        app_start_secs: 1,
        app_stop_secs: 1,
        app_deploy_secs: 1,
        app_delete_secs: 1,
    };
    Emulator::start(opts).await.unwrap()
}

/// Short backoffs and a 20 s budget.
pub fn fast() -> ClientOptions {
    ClientOptions {
        retry: RetryPolicy {
            budget: Duration::from_secs(20),
            request_timeout: Duration::from_secs(10),
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(400),
            retry_after_jitter: Duration::from_millis(50),
        },
        max_poll_interval: Duration::from_millis(300),
        ..ClientOptions::default()
    }
}

pub fn env_for(emu: &RunningEmulator) -> Environment {
    Environment::new().with_var("DATABRICKS_HOST", emu.url())
}

/// The first user, with its PAT.
pub fn user(emu: &RunningEmulator) -> Client {
    token_client(emu, emu.user_token())
}

pub fn token_client(emu: &RunningEmulator, token: &str) -> Client {
    let config = ConfigLoader::new(env_for(emu).with_var("DATABRICKS_TOKEN", token))
        .load()
        .unwrap();
    Client::with_options(&config, fast()).unwrap()
}

/// The app's service principal, with OAuth M2M.
pub fn sp(emu: &RunningEmulator) -> Client {
    let config = ConfigLoader::new(
        env_for(emu)
            .with_var("DATABRICKS_CLIENT_ID", emu.sp_client_id())
            .with_var("DATABRICKS_CLIENT_SECRET", emu.sp_client_secret()),
    )
    .load()
    .unwrap();
    Client::with_options(&config, fast()).unwrap()
}

/// Requests the emulator logged for `method path`.
pub fn logged(
    emu: &RunningEmulator,
    method: &str,
    path: &str,
) -> Vec<kiln_emulator::RequestRecord> {
    emu.requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}
