//! Finding 3 of the security review: processes kiln starts that are not terminals (agent setup's
//! installers, `git`) get the terminal allow-list, not kiln's environment. The real `kiln serve`
//! runs with token-like variables in its environment and agent setup on; stand-ins for `npm` and
//! `git` first on `PATH` record `/proc/self/environ` (git then runs the real git); neither record
//! may hold a token or a variable outside the allow-list, while the registry setting passes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const GITHUB_TOKEN: &str = "ghp_kilnTestNotARealToken0123456789";
const API_KEY: &str = "sk-kiln-test-not-a-real-key";

struct Kiln(Child);

impl Drop for Kiln {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn script(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn real_git() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v git"])
        .output()
        .unwrap();
    let path = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(!path.is_empty(), "git is needed for this test");
    path
}

/// Waits until `path` exists and is not empty; returns its text.
fn wait_for(path: &Path, kiln: &mut Kiln) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(t) = std::fs::read_to_string(path)
            && !t.is_empty()
        {
            return t;
        }
        assert!(
            kiln.0.try_wait().unwrap().is_none(),
            "kiln serve exited before {} was written",
            path.display()
        );
        assert!(
            Instant::now() < deadline,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_allow_listed(what: &str, env: &str, home: &Path) {
    let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
    for bad in [
        GITHUB_TOKEN,
        API_KEY,
        "GITHUB_TOKEN",
        "OPENAI_API_KEY",
        "SERVER_ONLY_SETTING",
    ] {
        assert!(!env.contains(bad), "{bad} reached {what}:\n{env}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("KILN_")),
        "kiln's own settings reached {what}:\n{env}"
    );
    assert!(
        env.lines().any(|l| l == format!("HOME={}", home.display())),
        "{what} has HOME:\n{env}"
    );
    assert!(
        env.lines()
            .any(|l| l == "npm_config_registry=http://127.0.0.1:9/"),
        "registry settings pass through to {what}:\n{env}"
    );
}

#[test]
fn setup_children_never_see_kilns_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin).unwrap();
    // $$ is the script's own process: its environ is exactly what kiln gave it.
    script(
        &bin.join("npm"),
        "#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > \"$HOME/npm.env.tmp\"\n\
         mv \"$HOME/npm.env.tmp\" \"$HOME/npm.env\"\necho 'npm error code E404' >&2\nexit 1\n",
    );
    script(
        &bin.join("git"),
        &format!(
            "#!/bin/sh\n[ -e \"$HOME/git.env\" ] || {{ tr '\\0' '\\n' < /proc/$$/environ > \
             \"$HOME/git.env.tmp\"; mv \"$HOME/git.env.tmp\" \"$HOME/git.env\"; }}\nexec {} \"$@\"\n",
            real_git()
        ),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let port = crate::support::free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("LANG", "C.UTF-8")
        .env("KILN_AGENTS_SETUP", "1")
        .env("KILN_AGENTS", "codex,git")
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("OPENAI_API_KEY", API_KEY)
        .env("SERVER_ONLY_SETTING", "not for children")
        .env("npm_config_registry", "http://127.0.0.1:9/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut kiln = Kiln(child);
    let npm = wait_for(&home.join("npm.env"), &mut kiln);
    assert_allow_listed("npm", &npm, &home);
    let git = wait_for(&home.join("git.env"), &mut kiln);
    assert_allow_listed("git", &git, &home);
}
