//! The app service principal's OAuth secret (`DATABRICKS_CLIENT_SECRET`): read exactly once, and
//! removed from kiln's own environment. Rust cannot safely edit a running process's environment
//! (`remove_var` is `unsafe`, and `unsafe` is denied), so `kiln serve` re-executes itself once,
//! before any thread starts, with the variable removed and the secret written into a pipe that
//! becomes the new process's stdin. The new process reads it from there; its
//! `/proc/<pid>/environ` never holds it, and neither does anything it starts. (The process is
//! also made non-dumpable, and terminals get an allow-listed environment: see `docs/security.md`.)

use kiln_databricks::Secret;
use std::io::{self, IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Set (to `1`) in the re-executed process: the secret is on stdin. Not a setting (kiln sets
/// it for itself when it re-executes), so it is no clap flag.
const HANDOFF_VAR: &str = "KILN_SP_SECRET_STDIN";
/// Where Databricks Apps puts the secret.
pub const SECRET_VAR: &str = "DATABRICKS_CLIENT_SECRET";
/// Largest secret accepted (16 KiB; real ones are under 100 bytes, and a pipe holds 64 KiB).
const MAX_SECRET_BYTES: usize = 16 << 10;

/// Takes the service principal secret. Call first thing in `kiln serve`, before any thread or
/// runtime starts: when the secret is still in the environment this re-executes kiln (it does not
/// return then, unless the re-execution fails, in which case the variable's value is used as is).
pub fn take() -> Option<Secret> {
    if std::env::var_os(HANDOFF_VAR).is_some_and(|v| v == "1") {
        return read_handoff(io::stdin());
    }
    let secret = std::env::var(SECRET_VAR).ok().filter(|s| !s.is_empty())?;
    if secret.len() > MAX_SECRET_BYTES {
        eprintln!("kiln: {SECRET_VAR} is implausibly long; ignoring it");
        return None;
    }
    let err = reexec_without(&secret);
    tracing::warn!(error = %err, "cannot re-execute kiln without {SECRET_VAR} in its environment; using it as is (terminals still never see it)");
    Some(Secret::new(secret))
}

fn read_handoff(stdin: io::Stdin) -> Option<Secret> {
    if stdin.is_terminal() {
        return None;
    }
    let mut raw = Vec::new();
    if let Err(e) = stdin
        .lock()
        .take(MAX_SECRET_BYTES as u64)
        .read_to_end(&mut raw)
    {
        tracing::error!(error = %e, "cannot read the service principal secret from stdin");
        return None;
    }
    let text = String::from_utf8(raw).ok()?;
    let text = text.trim_end_matches(['\r', '\n']);
    (!text.is_empty()).then(|| Secret::new(text))
}

/// Replaces this process with a fresh kiln that has no `DATABRICKS_CLIENT_SECRET`; returns only
/// on failure.
fn reexec_without(secret: &str) -> io::Error {
    let (reader, mut writer) = match io::pipe() {
        Ok(p) => p,
        Err(e) => return e,
    };
    // Small enough for the pipe's buffer: the write cannot block.
    if let Err(e) = writer.write_all(secret.as_bytes()) {
        return e;
    }
    drop(writer);
    let mut args = std::env::args_os();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    cmd.args(args)
        .env_remove(SECRET_VAR)
        .env(HANDOFF_VAR, "1")
        .stdin(Stdio::from(reader));
    cmd.exec()
}
