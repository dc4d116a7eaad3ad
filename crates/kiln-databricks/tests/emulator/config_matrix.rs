//! The `.databrickscfg` matrix end to end: profiles against the emulator, missing profile,
//! corrupt file, two auth methods, a host without a scheme.

use crate::common::*;
use kiln_databricks::{
    Attr, Client, ConfigErrorKind, ConfigLoader, Environment, Error, TransportKind,
};
use std::time::Instant;

struct Home(std::path::PathBuf);

impl Home {
    fn new(cfg: &str) -> Home {
        let dir = std::env::temp_dir().join(format!(
            "kiln-databricks-it-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".databrickscfg"), cfg).unwrap();
        Home(dir)
    }

    fn env(&self) -> Environment {
        Environment::new().with_home(&self.0)
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg_for(emu: &kiln_emulator::RunningEmulator) -> String {
    format!(
        "[__settings__]\ndefault_profile = user\n\n[DEFAULT]\nhost = https://unused.example.com\ntoken = dapi-unused\n\n\
         [user]\nhost = {url}/\ntoken = {tok}\n\n[sp]\nhost = {url}\nclient_id = {cid}\nclient_secret = {sec}\n\n\
         [both]\nhost = {url}\ntoken = {tok}\nclient_id = {cid}\nclient_secret = {sec}\n\n\
         [noscheme]\nhost = {bare}\ntoken = {tok}\n",
        url = emu.url(),
        tok = emu.user_token(),
        cid = emu.sp_client_id(),
        sec = emu.sp_client_secret(),
        bare = emu.url().trim_start_matches("http://"),
    )
}

#[tokio::test]
async fn default_profile_and_named_profiles_reach_the_workspace() {
    let emu = emulator().await;
    let home = Home::new(&cfg_for(&emu));
    let config = ConfigLoader::new(home.env()).load().unwrap();
    assert_eq!(config.loaded_profile(), Some("user"));
    let me = Client::with_options(&config, fast())
        .unwrap()
        .scim()
        .me()
        .await
        .unwrap();
    assert_eq!(me.user_name, emu.user_email());

    let config = ConfigLoader::new(home.env().with_var("DATABRICKS_CONFIG_PROFILE", "sp"))
        .load()
        .unwrap();
    let me = Client::with_options(&config, fast())
        .unwrap()
        .scim()
        .me()
        .await
        .unwrap();
    assert_eq!(me.user_name, emu.sp_client_id());
}

#[tokio::test]
async fn missing_profile() {
    let emu = emulator().await;
    let home = Home::new(&cfg_for(&emu));
    let err = ConfigLoader::new(home.env())
        .set(Attr::Profile, "nope")
        .load()
        .unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::MissingProfile { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("DEFAULT, user, sp, both, noscheme"),
        "{err}"
    );
}

#[tokio::test]
async fn corrupt_file() {
    let home = Home::new("[user]\nhost = https://x\n[user\n");
    let err = ConfigLoader::new(home.env()).load().unwrap_err();
    assert!(
        err.to_string().contains("~/.databrickscfg: line 3"),
        "{err}"
    );
}

#[tokio::test]
async fn two_auth_methods() {
    let emu = emulator().await;
    let home = Home::new(&cfg_for(&emu));
    let err = ConfigLoader::new(home.env())
        .set(Attr::Profile, "both")
        .load()
        .unwrap_err();
    assert!(err.to_string().contains("oauth and pat"), "{err}");
    assert!(
        !err.to_string().contains(emu.user_token())
            && !err.to_string().contains(emu.sp_client_secret())
    );
    // Choosing one makes it work.
    let config = ConfigLoader::new(home.env())
        .set(Attr::Profile, "both")
        .set(Attr::AuthType, "oauth-m2m")
        .load()
        .unwrap();
    let me = Client::with_options(&config, fast())
        .unwrap()
        .scim()
        .me()
        .await
        .unwrap();
    assert_eq!(me.user_name, emu.sp_client_id());
}

#[tokio::test]
async fn host_without_scheme_becomes_https_and_fails_fast_against_plain_http() {
    let emu = emulator().await;
    let home = Home::new(&cfg_for(&emu));
    let config = ConfigLoader::new(home.env())
        .set(Attr::Profile, "noscheme")
        .load()
        .unwrap();
    let client = Client::with_options(&config, fast()).unwrap();
    assert_eq!(client.host(), emu.url().replace("http://", "https://"));
    let start = Instant::now();
    let err = client.scim().me().await.unwrap_err();
    // A TLS failure is not a glitch: one attempt, a clear transport error.
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::Setup,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(start.elapsed() < STEP);
    assert!(logged(&emu, "GET", "/api/2.0/preview/scim/v2/Me").is_empty());
}
