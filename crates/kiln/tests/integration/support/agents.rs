//! Stand-ins for `npm` and `python3` for installer and setup tests: shell scripts that lay out
//! packages the way the real tools do (`<prefix>/lib/node_modules/<pkg>/package.json` and
//! `<prefix>/bin/<cmd>`; a venv with `bin/python`, a `*.dist-info` directory and the command),
//! print similar output, log each call, and fail for the npm package named in `FAKE_NPM_FAIL`
//! (or in the file `FAKE_NPM_FAIL_FILE` names, while it exists).

use kiln::agents::install::InstallOptions;
use kiln::agents::manifest::Manifest;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

const NPM: &str = r#"#!/bin/sh
# fake npm: install -g --prefix P [flags] pkg@version
echo "npm $*" >> "$FAKE_LOG"
prefix=""; spec=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2;;
    -*) shift;;
    install) shift;;
    *) spec="$1"; shift;;
  esac
done
pkg="${spec%@*}"; ver="${spec##*@}"
fail="$FAKE_NPM_FAIL"
if [ -n "$FAKE_NPM_FAIL_FILE" ] && [ -f "$FAKE_NPM_FAIL_FILE" ]; then fail=$(cat "$FAKE_NPM_FAIL_FILE"); fi
if [ -n "$fail" ] && [ "$pkg" = "$fail" ]; then
  echo "npm error code E404" >&2
  echo "npm error 404 Not Found - GET https://registry.example/$pkg" >&2
  exit 1
fi
cmd="${pkg##*/}"
mkdir -p "$prefix/lib/node_modules/$pkg" "$prefix/bin"
printf '{"name":"%s","version":"%s"}\n' "$pkg" "$ver" > "$prefix/lib/node_modules/$pkg/package.json"
printf '#!/bin/sh\necho %s\n' "$ver" > "$prefix/lib/node_modules/$pkg/cli.sh"
chmod +x "$prefix/lib/node_modules/$pkg/cli.sh"
ln -sf "../lib/node_modules/$pkg/cli.sh" "$prefix/bin/$cmd"
echo "added 1 package in 0.1s"
"#;

const PYTHON: &str = r#"#!/bin/sh
# fake python3: "-m venv DIR" creates a venv; inside a venv "-m pip install [flags] pkg==ver"
echo "python $*" >> "$FAKE_LOG"
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" "$3/lib/python3.11/site-packages"
  cp "$0" "$3/bin/python"
  exit 0
fi
if [ "$1 $2 $3" = "-m pip install" ]; then
  shift 3
  for a in "$@"; do case "$a" in -*) ;; *) spec="$a";; esac; done
  pkg="${spec%%==*}"; ver="${spec##*==}"
  venv="$(cd "$(dirname "$0")/.." && pwd)"
  dist=$(echo "$pkg" | tr '.-' '__')
  mkdir -p "$venv/lib/python3.11/site-packages/$dist-$ver.dist-info"
  printf '#!/bin/sh\necho %s\n' "$ver" > "$venv/bin/hermes"
  chmod +x "$venv/bin/hermes"
  echo "Successfully installed $pkg-$ver"
  exit 0
fi
echo "fake python: unsupported $*" >&2
exit 2
"#;

/// The stand-in tools in a directory.
pub struct FakeTools {
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl FakeTools {
    /// Writes the scripts into `<root>/fake-tools`.
    pub fn new(root: &Path) -> Self {
        let dir = root.join("fake-tools");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in [("npm", NPM), ("python3", PYTHON)] {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.join("calls.log");
        std::fs::write(&log, "").unwrap();
        Self { dir, log }
    }

    /// The built-in manifest with npm packages renamed to `@fake/<agent>`.
    pub fn manifest(&self) -> Manifest {
        let mut m = Manifest::built_in().unwrap();
        m.overlay(
            r#"{"claude": {"package": "@fake/claude"}, "codex": {"package": "@fake/codex"},
                "gemini": {"package": "@fake/gemini"}, "opencode": {"package": "@fake/opencode"}}"#,
        )
        .unwrap();
        m
    }

    /// Installer options using the stand-ins.
    pub fn install_options(&self, prefix: &Path) -> InstallOptions {
        let mut o = InstallOptions::new(prefix.to_owned());
        o.npm = self.dir.join("npm");
        o.python = self.dir.join("python3");
        o.env
            .push(("FAKE_LOG".into(), Some(self.log.display().to_string())));
        o
    }

    /// Calls made so far, one line each.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
