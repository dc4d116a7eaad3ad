//! How much memory is really available for another session: the lower of the machine's
//! `MemAvailable` and, under cgroup v2, the cgroup's limit minus its usage with reclaimable page
//! cache (`inactive_file`) counted as free.

use std::path::{Path, PathBuf};

/// Memory reserved for each launch in flight, so concurrent launches are not all admitted against
/// the same free memory (32 MiB).
pub(crate) const LAUNCH_RESERVE_BYTES: u64 = 32 << 20;

/// Parses `MemAvailable` (kB) from `/proc/meminfo` text, in bytes.
pub(crate) fn parse_meminfo_available(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    })
}

/// Available bytes in a cgroup v2 from its `memory.max`, `memory.current` and `memory.stat`
/// texts; `None` when there is no limit.
pub(crate) fn parse_cgroup_available(max: &str, current: &str, stat: &str) -> Option<u64> {
    let max = max.trim();
    if max == "max" {
        return None;
    }
    let max: u64 = max.parse().ok()?;
    let current: u64 = current.trim().parse().ok()?;
    let inactive_file = stat
        .lines()
        .find_map(|l| l.strip_prefix("inactive_file ")?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Some(max.saturating_sub(current.saturating_sub(inactive_file)))
}

/// The cgroup v2 directory of this process, from `/proc/self/cgroup` text (`0::/path`).
pub(crate) fn parse_cgroup_path(text: &str) -> Option<PathBuf> {
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/')))
}

/// Bytes available now, or `None` when it cannot be read.
pub(crate) fn available_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| parse_meminfo_available(&t));
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| parse_cgroup_path(&t))
        .and_then(|dir| {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            parse_cgroup_available(
                &read("memory.max")?,
                &read("memory.current")?,
                &read("memory.stat")?,
            )
        });
    match (machine, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo() {
        let t = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_meminfo_available(t), Some(20_000_000 * 1024));
        assert_eq!(parse_meminfo_available("garbage"), None);
    }

    #[test]
    fn cgroup_counts_inactive_file_as_free() {
        let stat = "anon 100\nfile 5000\ninactive_file 3000\nactive_file 2000\n";
        assert_eq!(
            parse_cgroup_available("10000\n", "8000\n", stat),
            Some(5000)
        );
        assert_eq!(parse_cgroup_available("max\n", "8000", stat), None);
        assert_eq!(
            parse_cgroup_available("1000", "5000", "inactive_file 0"),
            Some(0)
        );
        assert_eq!(parse_cgroup_available("x", "1", ""), None);
    }

    #[test]
    fn cgroup_path() {
        assert_eq!(
            parse_cgroup_path("0::/user.slice/app\n"),
            Some(PathBuf::from("/sys/fs/cgroup/user.slice/app"))
        );
        assert_eq!(
            parse_cgroup_path("0::/\n"),
            Some(PathBuf::from("/sys/fs/cgroup/"))
        );
        assert_eq!(parse_cgroup_path("1:cpu:/x"), None);
    }
}
