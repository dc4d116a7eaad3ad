//! Tests of configuration resolution: precedence, profiles, files, hosts, validation, redaction.

use super::*;
use crate::config::{AuthMethod, ConfigErrorKind};
use crate::test_support::TempHome;

const CFG: &str = "\
[__settings__]
default_profile = agents

[DEFAULT]
host  = https://default.example.com
token = dapi-default-secret

[agents]
host      = https://agents.example.com
token     = dapi-agents-secret
auth_type = pat

[app-sp]
host          = sp.example.com/
client_id     = 0b6e5f6a-1c2d-4e3f-8a9b-0c1d2e3f4a5b
client_secret = dose-sp-secret

[both]
host          = https://both.example.com
token         = dapi-both-secret
client_id     = cid
client_secret = dose-both-secret
";

fn env(home: &TempHome) -> Environment {
    Environment::new().with_home(home.path())
}

fn no_secret(s: &str) {
    for secret in [
        "dapi-default-secret",
        "dapi-agents-secret",
        "dose-sp-secret",
        "dapi-both-secret",
        "dose-both-secret",
        "dapi-env-secret",
        "dapi-explicit-secret",
        "dose-env-secret",
    ] {
        assert!(!s.contains(secret), "secret {secret} leaked in: {s}");
    }
}

#[test]
fn explicit_beats_env_beats_profile() {
    let home = TempHome::new();
    home.write_cfg(CFG);
    let cfg = ConfigLoader::new(
        env(&home)
            .with_var("DATABRICKS_CONFIG_PROFILE", "app-sp")
            .with_var("DATABRICKS_HOST", "env.example.com")
            .with_var("DATABRICKS_CLIENT_ID", "env-client"),
    )
    .set_from(Attr::Host, "https://explicit.example.com/", "--host flag")
    .load()
    .unwrap();
    assert_eq!(cfg.host(), Some("https://explicit.example.com"));
    assert_eq!(
        cfg.source(Attr::Host),
        Some(&Source::Explicit("--host flag".into()))
    );
    assert_eq!(cfg.get(Attr::ClientId), Some("env-client"));
    assert_eq!(
        cfg.source(Attr::ClientId),
        Some(&Source::Env("DATABRICKS_CLIENT_ID"))
    );
    assert_eq!(
        cfg.source(Attr::ClientSecret),
        Some(&Source::Profile {
            profile: "app-sp".into(),
            file: "~/.databrickscfg".into()
        })
    );
    assert_eq!(cfg.loaded_profile(), Some("app-sp"));
    let Ok(AuthMethod::OAuthM2m {
        client_id,
        client_secret,
    }) = cfg.auth_method()
    else {
        panic!("expected oauth-m2m")
    };
    assert_eq!(client_id, "env-client");
    assert_eq!(client_secret.expose(), "dose-sp-secret");
}

#[test]
fn describe_names_every_source_and_hides_secrets() {
    let home = TempHome::new();
    home.write_cfg("[DEFAULT]\ntoken = dapi-default-secret\nhost = https://ignored.example.com\n");
    let cfg = ConfigLoader::new(
        env(&home)
            .with_var("DATABRICKS_HOST", "https://x")
            .with_var("DATABRICKS_CONFIG_PROFILE", "DEFAULT"),
    )
    .load()
    .unwrap();
    assert_eq!(
        cfg.describe(),
        "host=https://x (from env DATABRICKS_HOST), token=*** (from profile DEFAULT in ~/.databrickscfg), \
         profile=DEFAULT (from env DATABRICKS_CONFIG_PROFILE)"
    );
    no_secret(&format!("{cfg:?}"));
    // Sensitive values are not readable through `get`.
    assert!(cfg.is_set(Attr::Token));
    assert_eq!(cfg.get(Attr::Token), None);
}

#[test]
fn env_host_and_token_skip_the_file() {
    let home = TempHome::new();
    home.write_cfg(CFG);
    let cfg = ConfigLoader::new(
        env(&home)
            .with_var("DATABRICKS_HOST", "https://env.example.com")
            .with_var("DATABRICKS_TOKEN", "dapi-env-secret"),
    )
    .load()
    .unwrap();
    assert_eq!(cfg.loaded_profile(), None);
    assert_eq!(cfg.host(), Some("https://env.example.com"));
    assert!(
        !cfg.is_set(Attr::AuthType),
        "agents profile must not have been read"
    );
    let AuthMethod::Pat(t) = cfg.auth_method().unwrap() else {
        panic!()
    };
    assert_eq!(t.expose(), "dapi-env-secret");
}

#[test]
fn default_profile_setting_is_honoured() {
    let home = TempHome::new();
    home.write_cfg(CFG);
    let cfg = ConfigLoader::new(env(&home)).load().unwrap();
    assert_eq!(cfg.loaded_profile(), Some("agents"));
    assert_eq!(cfg.host(), Some("https://agents.example.com"));
    assert_eq!(cfg.auth_type(), Some("pat"));
    assert_eq!(
        cfg.source(Attr::Profile),
        Some(&Source::DefaultProfileSetting {
            file: "~/.databrickscfg".into()
        })
    );
    assert!(
        cfg.describe()
            .contains("profile=agents (from [__settings__] default_profile in ~/.databrickscfg)")
    );
}

#[test]
fn default_section_otherwise_and_no_inheritance() {
    let home = TempHome::new();
    home.write_cfg("[DEFAULT]\nhost = https://d.example.com\ntoken = dapi-default-secret\nworkspace_id = 42\n\n[named]\nhost = n.example.com\ntoken = t\n");
    let cfg = ConfigLoader::new(env(&home)).load().unwrap();
    assert_eq!(cfg.loaded_profile(), Some("DEFAULT"));
    assert_eq!(cfg.workspace_id(), Some("42"));
    let named = ConfigLoader::new(env(&home))
        .set(Attr::Profile, "named")
        .load()
        .unwrap();
    assert_eq!(named.host(), Some("https://n.example.com"));
    assert_eq!(
        named.workspace_id(),
        None,
        "named profiles do not inherit DEFAULT"
    );
}

#[test]
fn no_file_and_no_default_section_are_fine() {
    let home = TempHome::new();
    let cfg = ConfigLoader::new(env(&home)).load().unwrap();
    assert_eq!(cfg.describe(), "nothing configured");
    let e = cfg.auth_method().unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::NoAuth));
    home.write_cfg("[other]\nhost = x\n");
    let cfg = ConfigLoader::new(env(&home)).load().unwrap();
    assert_eq!(cfg.loaded_profile(), None);
    // No home at all and nothing requested: nothing to read.
    assert!(ConfigLoader::new(Environment::new()).load().is_ok());
}

#[test]
fn missing_profile_is_an_error_listing_profiles() {
    let home = TempHome::new();
    home.write_cfg(CFG);
    let e = ConfigLoader::new(env(&home).with_var("DATABRICKS_CONFIG_PROFILE", "nope"))
        .load()
        .unwrap_err();
    assert!(
        matches!(e.kind, ConfigErrorKind::MissingProfile { .. }),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("profile nope not found in ~/.databrickscfg"),
        "{msg}"
    );
    assert!(msg.contains("DEFAULT, agents, app-sp, both"), "{msg}");
    assert!(
        msg.contains("profile=nope (from env DATABRICKS_CONFIG_PROFILE)"),
        "{msg}"
    );

    home.write_cfg("[__settings__]\ndefault_profile = gone\n[DEFAULT]\nhost = h\n");
    let e = ConfigLoader::new(env(&home)).load().unwrap_err();
    assert!(e.to_string().contains("profile gone not found"), "{e}");
}

#[test]
fn missing_file_with_profile_or_named_file_is_an_error() {
    let home = TempHome::new();
    let e = ConfigLoader::new(env(&home))
        .set(Attr::Profile, "p")
        .load()
        .unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::MissingFile { .. }), "{e}");
    let e = ConfigLoader::new(env(&home).with_var("DATABRICKS_CONFIG_FILE", "~/elsewhere.cfg"))
        .load()
        .unwrap_err();
    assert!(
        matches!(e.kind, ConfigErrorKind::MissingConfigFile { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("~/elsewhere.cfg"));
    let e = ConfigLoader::new(Environment::new())
        .set(Attr::Profile, "p")
        .load()
        .unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::NoHome), "{e}");
}

#[test]
fn config_file_from_env_with_tilde_and_absolute() {
    let home = TempHome::new();
    std::fs::write(
        home.path().join("alt.cfg"),
        "[DEFAULT]\nhost = alt.example.com\ntoken = t\n",
    )
    .unwrap();
    let cfg = ConfigLoader::new(env(&home).with_var("DATABRICKS_CONFIG_FILE", "~/alt.cfg"))
        .load()
        .unwrap();
    assert_eq!(cfg.host(), Some("https://alt.example.com"));
    assert!(
        cfg.describe()
            .contains("(from profile DEFAULT in ~/alt.cfg)"),
        "{}",
        cfg.describe()
    );
    let abs = home.path().join("alt.cfg").display().to_string();
    let cfg = ConfigLoader::new(Environment::new())
        .set(Attr::ConfigFile, &abs)
        .load()
        .unwrap();
    assert_eq!(cfg.host(), Some("https://alt.example.com"));
}

#[test]
fn corrupt_files_report_path_and_line() {
    let home = TempHome::new();
    home.write_cfg("[DEFAULT]\nhost = h\nthis is garbage dapi-secret-garbage\n");
    let e = ConfigLoader::new(env(&home)).load().unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cannot parse config file ~/.databrickscfg: line 3:"),
        "{msg}"
    );
    assert!(!msg.contains("dapi-secret-garbage"), "{msg}");

    home.write_cfg("[a]\nx=1\n[a]\n");
    let e = ConfigLoader::new(env(&home))
        .set(Attr::Profile, "a")
        .load()
        .unwrap_err();
    assert!(
        e.to_string().contains("line 3: duplicate section [a]"),
        "{e}"
    );

    std::fs::write(home.path().join(".databrickscfg"), [0xff, 0xfe, b'[', 0x80]).unwrap();
    let e = ConfigLoader::new(env(&home)).load().unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::ReadFile { .. }), "{e}");
}

#[test]
fn two_auth_methods_need_auth_type() {
    let home = TempHome::new();
    home.write_cfg(CFG);
    let e = ConfigLoader::new(env(&home))
        .set(Attr::Profile, "both")
        .load()
        .unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::MultipleAuth(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("more than one authorization method configured: oauth and pat"),
        "{msg}"
    );
    assert!(
        msg.contains("token=*** (from profile both in ~/.databrickscfg)"),
        "{msg}"
    );
    assert!(msg.contains("client_secret=***"), "{msg}");
    no_secret(&msg);
    no_secret(&format!("{e:?}"));

    // Env mixing: the app's SP credentials plus a user token.
    let e = ConfigLoader::new(
        Environment::new()
            .with_var("DATABRICKS_HOST", "h.example.com")
            .with_var("DATABRICKS_CLIENT_ID", "id")
            .with_var("DATABRICKS_CLIENT_SECRET", "dose-env-secret"),
    )
    .set(Attr::Token, "dapi-explicit-secret")
    .load()
    .unwrap_err();
    assert!(e.to_string().contains("oauth and pat"));
    no_secret(&e.to_string());

    // Forcing one resolves it.
    let cfg = ConfigLoader::new(env(&home))
        .set(Attr::Profile, "both")
        .set(Attr::AuthType, "oauth-m2m")
        .load()
        .unwrap();
    assert_eq!(cfg.auth_method().unwrap().name(), "oauth-m2m");
    let cfg = ConfigLoader::new(env(&home).with_var("DATABRICKS_AUTH_TYPE", "pat"))
        .set(Attr::Profile, "both")
        .load()
        .unwrap();
    let AuthMethod::Pat(t) = cfg.auth_method().unwrap() else {
        panic!()
    };
    assert_eq!(t.expose(), "dapi-both-secret");
}

#[test]
fn auth_method_errors() {
    let cfg = ConfigLoader::new(Environment::new())
        .set(Attr::Host, "h")
        .set(Attr::AuthType, "oauth-m2m")
        .set(Attr::ClientId, "id")
        .load()
        .unwrap();
    let e = cfg.auth_method().unwrap_err();
    assert!(
        e.to_string()
            .contains("auth_type is oauth-m2m but client_id and client_secret not set"),
        "{e}"
    );
    let cfg = ConfigLoader::new(Environment::new())
        .set(Attr::AuthType, "azure-cli")
        .load()
        .unwrap();
    let e = cfg.auth_method().unwrap_err();
    assert!(
        matches!(e.kind, ConfigErrorKind::UnsupportedAuthType(_)),
        "{e}"
    );
    let cfg = ConfigLoader::new(Environment::new())
        .set(Attr::Username, "u")
        .set(Attr::Password, "p")
        .load()
        .unwrap();
    assert_eq!(cfg.auth_method().unwrap().name(), "basic");
}

#[test]
fn host_normalisation_and_lifted_workspace_id() {
    let cfg = ConfigLoader::new(
        Environment::new().with_var("DATABRICKS_HOST", "adb-1.2.azuredatabricks.net/?o=123"),
    )
    .load()
    .unwrap();
    assert_eq!(cfg.host(), Some("https://adb-1.2.azuredatabricks.net"));
    assert_eq!(cfg.workspace_id(), Some("123"));
    assert_eq!(
        cfg.source(Attr::WorkspaceId),
        Some(&Source::Env("DATABRICKS_HOST"))
    );
    // An explicit workspace id wins over the lifted one.
    let cfg = ConfigLoader::new(
        Environment::new()
            .with_var("DATABRICKS_HOST", "x.com/?o=123")
            .with_var("DATABRICKS_WORKSPACE_ID", "999"),
    )
    .load()
    .unwrap();
    assert_eq!(cfg.workspace_id(), Some("999"));

    let e = ConfigLoader::new(
        Environment::new().with_var("DATABRICKS_HOST", "https://u:hunter2@x.com"),
    )
    .load()
    .unwrap_err();
    assert!(matches!(e.kind, ConfigErrorKind::InvalidHost { .. }), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
}

#[test]
fn timeouts_are_validated() {
    let cfg = ConfigLoader::new(Environment::new())
        .set(Attr::HttpTimeoutSeconds, "5")
        .set(Attr::RetryTimeoutSeconds, "30")
        .load()
        .unwrap();
    assert_eq!(cfg.http_timeout(), Some(std::time::Duration::from_secs(5)));
    assert_eq!(
        cfg.retry_timeout(),
        Some(std::time::Duration::from_secs(30))
    );
    for bad in ["0", "-1", "abc"] {
        let e = ConfigLoader::new(Environment::new())
            .set(Attr::HttpTimeoutSeconds, bad)
            .load()
            .unwrap_err();
        assert!(
            e.to_string().contains("invalid http_timeout_seconds"),
            "{e}"
        );
    }
}

#[test]
fn redact_userinfo_forms() {
    assert_eq!(
        redact_userinfo("https://u:p@x.com/a@b"),
        "https://***@x.com/a@b"
    );
    assert_eq!(redact_userinfo("u:p@x.com"), "***@x.com");
    assert_eq!(redact_userinfo("https://x.com/a@b"), "https://x.com/a@b");
}

#[test]
fn metadata_service_like_the_kiln_profile() {
    const URL: &str = "http://127.0.0.1:4242/metadata/broker-key-secret";
    let home = TempHome::new();
    home.write_cfg(&format!(
        "[kiln]\nhost = https://dbc-1.cloud.databricks.com\nauth_type = metadata-service\n\
         metadata_service_url = {URL}\n\n[mixed]\nhost = https://x.example.com\ntoken = dapi-mixed\n\
         metadata_service_url = {URL}\n"
    ));
    let load = |e: Environment| ConfigLoader::new(e).load();
    let cfg = load(env(&home).with_var("DATABRICKS_CONFIG_PROFILE", "kiln")).unwrap();
    match cfg.auth_method().unwrap() {
        AuthMethod::MetadataService { url } => assert_eq!(url.expose(), URL),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(cfg.get(Attr::MetadataServiceUrl), None);
    assert!(cfg.is_set(Attr::MetadataServiceUrl));
    let described = cfg.describe();
    assert!(
        described.contains("metadata_service_url=***"),
        "{described}"
    );
    assert!(!described.contains("broker-key-secret"), "{described}");
    assert!(!format!("{cfg:?}").contains("broker-key-secret"));

    // From the environment, chosen without auth_type when it is the only method.
    let cfg = load(
        Environment::new()
            .with_var("DATABRICKS_HOST", "https://e.example.com")
            .with_var("DATABRICKS_METADATA_SERVICE_URL", URL),
    )
    .unwrap();
    assert_eq!(cfg.auth_method().unwrap().name(), "metadata-service");
    assert_eq!(
        cfg.source(Attr::MetadataServiceUrl),
        Some(&Source::Env("DATABRICKS_METADATA_SERVICE_URL"))
    );

    // With a token too: the multiple-methods error, without the URL.
    let e = load(env(&home).with_var("DATABRICKS_CONFIG_PROFILE", "mixed")).unwrap_err();
    assert!(
        matches!(&e.kind, ConfigErrorKind::MultipleAuth(m) if m == "metadata-service and pat"),
        "{e}"
    );
    assert!(!e.to_string().contains("broker-key-secret"), "{e}");

    // Forced but missing.
    let e = load(
        Environment::new()
            .with_var("DATABRICKS_HOST", "https://e.example.com")
            .with_var("DATABRICKS_AUTH_TYPE", "metadata-service"),
    )
    .unwrap()
    .auth_method()
    .unwrap_err();
    assert!(e.to_string().contains("metadata_service_url"), "{e}");
}
