//! The environment a shell starts with: an allow-list of the parent's variables plus what kiln
//! sets, and a filter that drops anything whose name looks like a credential, whatever its source.
//! Every other process kiln starts (installers, git, agent checks) gets the same allow-list
//! through [`for_child`], so a token in kiln's own environment reaches none of them.

use std::path::Path;

/// Parent variables passed through unchanged when present.
const PASS_THROUGH: &[&str] = &[
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CERT",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
    "npm_config_cafile",
    "NPM_CONFIG_CAFILE",
    "EDITOR",
    "VISUAL",
    "PAGER",
];

/// Whether a variable name looks like it holds a credential. Such variables never reach a shell.
pub fn is_credential_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    const PARTS: &[&str] = &[
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "PRIVATE",
        "APIKEY",
        "API_KEY",
        "ACCESS_KEY",
        "AUTHORIZATION",
        "COOKIE",
        "SESSION_KEY",
    ];
    PARTS.iter().any(|p| upper.contains(p))
        || upper.ends_with("_KEY")
        || upper.ends_with("_PAT")
        || upper.ends_with("_AUTH")
        || upper == "KEY"
        || upper.starts_with("DATABRICKS_CLIENT_")
        || upper.starts_with("KILN_ACCESS")
}

/// Whether `value` is a UTF-8 locale name.
fn is_utf8_locale(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    v.contains("utf-8") || v.contains("utf8")
}

/// The allow-listed part of every environment kiln gives a process: `HOME`, `USER`, `LOGNAME`,
/// a UTF-8 `LANG`, `PATH` (with `~/.local/bin` first) and the pass-through variables (time zone,
/// proxies, CA files, package registries, editor, UTF-8 `LC_*`); never a credential-looking name.
fn allow_listed(parent: &[(String, String)], home: &Path) -> Vec<(String, String)> {
    let get = |k: &str| parent.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let home_s = home.to_string_lossy().into_owned();
    let user = get("USER")
        .or_else(|| get("LOGNAME"))
        .unwrap_or_else(|| "user".to_owned());
    let lang = get("LANG")
        .filter(|l| is_utf8_locale(l))
        .unwrap_or_else(|| "C.UTF-8".to_owned());
    let base_path = get("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned());
    let local_bin = format!("{home_s}/.local/bin");
    let path = std::iter::once(local_bin.as_str())
        .chain(
            base_path
                .split(':')
                .filter(|p| !p.is_empty() && *p != local_bin),
        )
        .collect::<Vec<_>>()
        .join(":");
    let mut env: Vec<(String, String)> = vec![
        ("LANG".into(), lang),
        ("HOME".into(), home_s),
        ("USER".into(), user.clone()),
        ("LOGNAME".into(), user),
        ("PATH".into(), path),
    ];
    for (k, v) in parent {
        let passes =
            PASS_THROUGH.contains(&k.as_str()) || (k.starts_with("LC_") && is_utf8_locale(v));
        if passes && !env.iter().any(|(n, _)| n == k) {
            env.push((k.clone(), v.clone()));
        }
    }
    env.retain(|(k, _)| !is_credential_name(k));
    env
}

/// Sets `extra` over `env` (a variable of the same name is replaced).
fn overlay(env: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (k, v) in extra {
        env.retain(|(n, _)| n != k);
        env.push((k.clone(), v.clone()));
    }
}

/// Builds the environment of a new shell from the parent's variables (`parent`), the chosen
/// home, user and shell, and `extra` (applied last). Credential-looking names are dropped.
pub fn build(
    parent: &[(String, String)],
    home: &Path,
    shell: &str,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("TERM".into(), "xterm-256color".into()),
        ("COLORTERM".into(), "truecolor".into()),
        ("SHELL".into(), shell.to_owned()),
    ];
    env.extend(allow_listed(parent, home));
    overlay(&mut env, extra);
    env.retain(|(k, _)| !is_credential_name(k));
    env
}

/// The environment of a process kiln starts that is not a terminal (an installer, `git`, an
/// agent's check): the terminal allow-list of `parent` with `home`, then `extra`. Unlike
/// [`build`], `extra` is not filtered: it holds what the caller chose to pass on purpose (a
/// check in direct mode hands the agent `DATABRICKS_TOKEN`); nothing reaches the child
/// from `parent` that a terminal would not get.
pub fn for_child(
    parent: &[(String, String)],
    home: &Path,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env = allow_listed(parent, home);
    overlay(&mut env, extra);
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn credential_names_are_recognised() {
        for n in [
            "DATABRICKS_TOKEN",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASSWORD",
            "OPENAI_API_KEY",
            "ANTHROPIC_AUTH_TOKEN",
            "DATABRICKS_CLIENT_SECRET",
            "DATABRICKS_CLIENT_ID",
            "SSH_PRIVATE_KEY",
            "KILN_ACCESS_KEY",
            "MY_PAT",
            "gh_token",
            "AWS_ACCESS_KEY_ID",
        ] {
            assert!(
                is_credential_name(n),
                "{n} should be treated as a credential"
            );
        }
        for n in [
            "PATH",
            "HOME",
            "LANG",
            "TERM",
            "EDITOR",
            "TZ",
            "KEYBOARD_LAYOUT",
            "GIT_AUTHOR_NAME",
        ] {
            assert!(!is_credential_name(n), "{n} is not a credential");
        }
    }

    #[test]
    fn build_allow_lists_and_orders_path() {
        let parent = pairs(&[
            ("PATH", "/usr/bin:/bin"),
            ("USER", "alice"),
            ("LANG", "en_US.UTF-8"),
            ("DATABRICKS_TOKEN", "dapi-secret"),
            ("RANDOM_VAR", "x"),
            ("TZ", "UTC"),
            ("LC_ALL", "POSIX"),
        ]);
        let extra = pairs(&[("KILN_SESSION", "s-1"), ("SOME_TOKEN", "nope")]);
        let env = build(&parent, Path::new("/home/alice"), "/bin/bash", &extra);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PATH"), Some("/home/alice/.local/bin:/usr/bin:/bin"));
        assert_eq!(get("TERM"), Some("xterm-256color"));
        assert_eq!(get("COLORTERM"), Some("truecolor"));
        assert_eq!(get("LANG"), Some("en_US.UTF-8"));
        assert_eq!(get("HOME"), Some("/home/alice"));
        assert_eq!(get("SHELL"), Some("/bin/bash"));
        assert_eq!(get("TZ"), Some("UTC"));
        assert_eq!(get("KILN_SESSION"), Some("s-1"));
        assert_eq!(
            get("LC_ALL"),
            None,
            "non-UTF-8 locale overrides are dropped"
        );
        assert_eq!(get("RANDOM_VAR"), None);
        assert_eq!(get("DATABRICKS_TOKEN"), None);
        assert_eq!(get("SOME_TOKEN"), None, "extra env is filtered too");
    }

    #[test]
    fn children_get_the_allow_list_and_their_extras() {
        let parent = pairs(&[
            ("PATH", "/usr/bin"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("SERVER_ONLY", "x"),
            ("npm_config_registry", "http://mirror/"),
            ("PIP_CERT", "/ca.pem"),
        ]);
        let extra = pairs(&[("DATABRICKS_TOKEN", "chosen"), ("PATH", "/p/bin:/usr/bin")]);
        let env = for_child(&parent, Path::new("/h"), &extra);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("GITHUB_TOKEN"), None);
        assert_eq!(get("SERVER_ONLY"), None);
        assert_eq!(get("TERM"), None, "not a terminal");
        assert_eq!(get("HOME"), Some("/h"));
        assert_eq!(get("npm_config_registry"), Some("http://mirror/"));
        assert_eq!(get("PIP_CERT"), Some("/ca.pem"));
        assert_eq!(
            get("DATABRICKS_TOKEN"),
            Some("chosen"),
            "extras are on purpose"
        );
        assert_eq!(get("PATH"), Some("/p/bin:/usr/bin"));
        assert_eq!(env.iter().filter(|(k, _)| k == "PATH").count(), 1);
    }

    #[test]
    fn non_utf8_lang_becomes_c_utf8() {
        let env = build(&pairs(&[("LANG", "C")]), Path::new("/h"), "/bin/sh", &[]);
        assert!(env.contains(&("LANG".to_string(), "C.UTF-8".to_string())));
    }
}
