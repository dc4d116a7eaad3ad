//! CPU time of a process (all its threads; not its children, so a shell's or `gen`'s own work
//! is not counted), from `utime` + `stime` in `/proc/<pid>/stat`.

use anyhow::{Context, anyhow};

/// Clock ticks per second of `/proc` times: `USER_HZ`, which Linux fixes at 100 for user space
/// on every architecture kiln runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU seconds `pid` has used so far.
pub fn seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    parse(&stat).ok_or_else(|| anyhow!("unexpected /proc/{pid}/stat: {stat:?}"))
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in seconds. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.nth(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_the_name() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 1 1 1";
        assert_eq!(parse(line), Some(3.0));
        assert_eq!(parse("garbage"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(seconds(std::process::id()).is_ok_and(|s| s >= 0.0));
    }
}
