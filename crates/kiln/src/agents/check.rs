//! `kiln agents check`: one tiny non-interactive prompt through each agent's real CLI, with the
//! commands and offline switches established in agent-clis.md, in the configured HOME. The CLI
//! runs in its own process group (ended as a whole on timeout), stdin closed, with the terminal
//! allow-list of the caller's environment ([`crate::child`]): nothing there can shadow its config
//! files (e.g. a `GEMINI_API_KEY` of the caller's) or leak a token to it; what it needs is
//! passed on purpose in [`CheckOptions::env`].

use super::Agent;
use super::install::bin_dir;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

/// Default time one check may take (3 min).
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(180);
/// Default prompt.
pub const DEFAULT_PROMPT: &str = "Reply with the single word: ok";

/// The switches that keep an agent from calling anything but its model endpoint
/// (agent-clis.md). `kiln serve` may add them to its terminals' environment too.
pub fn offline_env(agent: Agent) -> &'static [(&'static str, &'static str)] {
    match agent {
        Agent::Claude => &[
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
            ("DISABLE_AUTOUPDATER", "1"),
            ("DISABLE_TELEMETRY", "1"),
            ("DISABLE_ERROR_REPORTING", "1"),
        ],
        Agent::Codex => &[],
        Agent::Gemini => &[("GEMINI_CLI_NO_RELAUNCH", "true")],
        Agent::OpenCode => &[
            ("OPENCODE_DISABLE_MODELS_FETCH", "1"),
            ("OPENCODE_DISABLE_AUTOUPDATE", "1"),
            ("OPENCODE_DISABLE_DEFAULT_PLUGINS", "1"),
            ("OPENCODE_DISABLE_LSP_DOWNLOAD", "1"),
            ("OPENCODE_DISABLE_SHARE", "1"),
        ],
        Agent::Hermes => &[
            ("TIRITH_ENABLED", "false"),
            ("HERMES_DISABLE_LAZY_INSTALLS", "1"),
        ],
    }
}

/// The non-interactive arguments for one prompt.
pub fn args(agent: Agent, prompt: &str) -> Vec<String> {
    let p = prompt.to_owned();
    let v: Vec<&str> = match agent {
        Agent::Claude => vec!["-p", &p, "--output-format", "text"],
        Agent::Codex => vec![
            "exec",
            "--skip-git-repo-check",
            "--color",
            "never",
            "--disable",
            "plugins",
            "-c",
            "analytics.enabled=false",
            &p,
        ],
        Agent::Gemini => vec!["-p", &p],
        Agent::OpenCode => vec!["run", &p],
        Agent::Hermes => vec!["chat", "-q", &p, "-Q"],
    };
    v.into_iter().map(str::to_owned).collect()
}

/// How to run checks. `Debug` names the extra variables but not their values.
#[derive(Clone)]
pub struct CheckOptions {
    /// HOME of the agents.
    pub home: PathBuf,
    /// Install prefix (its `bin` goes first on `PATH`).
    pub prefix: PathBuf,
    /// The prompt.
    pub prompt: String,
    /// Time limit per agent.
    pub timeout: Duration,
    /// Extra environment (e.g. `GEMINI_API_KEY` in direct mode).
    pub env: Vec<(String, String)>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("CheckOptions")
            .field("home", &self.home)
            .field("prefix", &self.prefix)
            .field("prompt", &self.prompt)
            .field("timeout", &self.timeout)
            .field("env", &env)
            .finish()
    }
}

impl CheckOptions {
    /// Defaults for a HOME and prefix.
    pub fn new(home: PathBuf, prefix: PathBuf) -> Self {
        Self {
            home,
            prefix,
            prompt: DEFAULT_PROMPT.to_owned(),
            timeout: CHECK_TIMEOUT,
            env: Vec::new(),
        }
    }
}

/// What one check saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOutput {
    /// Exit 0 with an answer on stdout.
    pub ok: bool,
    /// Exit code (`None`: signal or timeout).
    pub code: Option<i32>,
    /// Standard output, escape sequences removed.
    pub stdout: String,
    /// Standard error, escape sequences removed.
    pub stderr: String,
    /// How long it took.
    pub duration: Duration,
    /// Timed out.
    pub timed_out: bool,
}

impl CheckOutput {
    /// One line for reports: the answer's last line, or why it failed.
    pub fn summary(&self) -> String {
        let last = |s: &str| {
            s.lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>()
        };
        if self.ok {
            return last(&self.stdout);
        }
        if self.timed_out {
            return format!("no answer within {} s", self.duration.as_secs());
        }
        let why = last(&self.stderr);
        let why = if why.is_empty() {
            last(&self.stdout)
        } else {
            why
        };
        format!(
            "exit {}: {why}",
            self.code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "by signal".into())
        )
    }
}

/// Removes ANSI escape sequences.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.peek() == Some(&'\\')) {
                        if c == '\u{1b}' {
                            chars.next();
                        }
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The command for one agent's prompt, ready to spawn.
pub fn command(agent: Agent, opts: &CheckOptions) -> Command {
    let bin = bin_dir(&opts.prefix);
    let mut path = OsString::from(bin.as_os_str());
    if let Some(p) = std::env::var_os("PATH") {
        path.push(":");
        path.push(p);
    }
    let mut cmd = Command::new(bin.join(agent.bin()));
    crate::child::restrict(cmd.as_std_mut(), Some(&opts.home), &[]);
    cmd.args(args(agent, &opts.prompt))
        .current_dir(work_dir(&opts.home))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (k, v) in offline_env(agent) {
        cmd.env(k, v);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    cmd
}

/// `~/projects` when it exists, else HOME.
fn work_dir(home: &Path) -> PathBuf {
    let p = home.join("projects");
    if p.is_dir() { p } else { home.to_owned() }
}

/// Runs one agent's prompt.
pub async fn check(agent: Agent, opts: &CheckOptions) -> CheckOutput {
    let started = Instant::now();
    let child = match command(agent, opts).spawn() {
        Ok(c) => c,
        Err(e) => {
            return CheckOutput {
                ok: false,
                code: None,
                stdout: String::new(),
                stderr: format!("cannot start {}: {e}", agent.bin()),
                duration: started.elapsed(),
                timed_out: false,
            };
        }
    };
    let pid = child.id();
    match tokio::time::timeout(opts.timeout, child.wait_with_output()).await {
        Ok(Ok(out)) => {
            let stdout = strip_ansi(&String::from_utf8_lossy(&out.stdout));
            let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
            CheckOutput {
                ok: out.status.success() && !stdout.trim().is_empty(),
                code: out.status.code(),
                stdout,
                stderr,
                duration: started.elapsed(),
                timed_out: false,
            }
        }
        Ok(Err(e)) => CheckOutput {
            ok: false,
            code: None,
            stdout: String::new(),
            stderr: e.to_string(),
            duration: started.elapsed(),
            timed_out: false,
        },
        Err(_) => {
            if let Some(p) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
                let _ = rustix::process::kill_process_group(p, rustix::process::Signal::KILL);
            }
            CheckOutput {
                ok: false,
                code: None,
                stdout: String::new(),
                stderr: String::new(),
                duration: started.elapsed(),
                timed_out: true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_is_removed() {
        assert_eq!(strip_ansi("\u{1b}[1;32mok\u{1b}[0m done"), "ok done");
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}text"), "text");
    }

    #[test]
    fn commands_follow_agent_clis() {
        assert_eq!(
            args(Agent::Claude, "hi"),
            ["-p", "hi", "--output-format", "text"]
        );
        assert_eq!(args(Agent::Hermes, "hi"), ["chat", "-q", "hi", "-Q"]);
        assert!(
            args(Agent::Codex, "hi").ends_with(&["analytics.enabled=false".into(), "hi".into()])
        );
        assert!(offline_env(Agent::OpenCode).contains(&("OPENCODE_DISABLE_MODELS_FETCH", "1")));
    }

    #[test]
    fn summary_prefers_the_answer_then_stderr() {
        let mut o = CheckOutput {
            ok: true,
            code: Some(0),
            stdout: "thinking\nkiln-emulator: hi\n\n".into(),
            stderr: String::new(),
            duration: Duration::from_secs(1),
            timed_out: false,
        };
        assert_eq!(o.summary(), "kiln-emulator: hi");
        o.ok = false;
        o.code = Some(1);
        o.stderr = "API Error: 403\n".into();
        assert_eq!(o.summary(), "exit 1: API Error: 403");
    }
}
