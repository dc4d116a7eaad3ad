//! The environment of every process kiln starts that is not a terminal: installers (npm, pip,
//! python), `git`, agents run by `kiln agents check`. They get the terminal allow-list
//! (`kiln_term::env::for_child`, the one implementation) instead of kiln's own environment, so a
//! `GITHUB_TOKEN` or any other secret the server was started with never reaches them, nor an npm
//! install script, nor a terminal reading `/proc/<child>/environ`.

use std::path::{Path, PathBuf};

/// Clears `cmd`'s environment and gives it the allow-listed one: kiln's variables filtered like a
/// terminal's, `HOME` = `home` (default: kiln's `HOME`), then `extra` (set on purpose, unfiltered).
pub fn restrict(cmd: &mut std::process::Command, home: Option<&Path>, extra: &[(String, String)]) {
    let parent: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let home = home.map(Path::to_path_buf).unwrap_or_else(|| {
        std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
    });
    cmd.env_clear()
        .envs(kiln_term::env::for_child(&parent, &home, extra));
}
