//! Build script: bundles the web UI (`web/`, TypeScript + xterm.js) with esbuild into
//! `$OUT_DIR/ui/`, which `src/server/assets.rs` embeds, so the binary is self-contained.
//!
//! - Reruns only when the UI's sources change (the paths in [`INPUTS`]).
//! - Runs `npm ci` first when `web/node_modules` is missing or older than `package-lock.json`.
//! - Needs Node.js and npm; without them it fails with a message saying how to install them.
//! - Escape hatches: `KILN_SKIP_UI_BUILD=1`, or `KILN_UI_DIR` set at build time (the UI is then
//!   served from that directory at run time). Either embeds a page saying the UI was not built.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// What the bundle is made from, relative to `web/`.
const INPUTS: &[&str] = &[
    "src",
    "package.json",
    "package-lock.json",
    "build.mjs",
    "index.html",
    "favicon.svg",
];
/// What the bundle must contain (and `assets.rs` embeds).
const OUTPUTS: &[&str] = &[
    "index.html",
    "app.js",
    "app.css",
    "favicon.svg",
    "app.js.gz",
    "app.js.br",
    "app.css.gz",
    "app.css.br",
    "favicon.svg.gz",
    "favicon.svg.br",
    "fonts/jetbrains-mono-latin-400-normal.woff2",
    "fonts/jetbrains-mono-latin-700-normal.woff2",
    "fonts/jetbrains-mono-LICENSE.txt",
    "fonts/fira-code-latin-400-normal.woff2",
    "fonts/fira-code-latin-700-normal.woff2",
    "fonts/fira-code-LICENSE.txt",
];

const INSTALL_HINT: &str = "Install Node.js (20 or newer) and npm: on Debian/Ubuntu `apt-get install nodejs npm`, \
elsewhere see https://nodejs.org. To build kiln without its web UI, set KILN_SKIP_UI_BUILD=1 \
(or KILN_UI_DIR=<a built web/dist> to serve the UI from disk at run time).";

fn main() -> ExitCode {
    println!("cargo:rerun-if-env-changed=KILN_SKIP_UI_BUILD");
    println!("cargo:rerun-if-env-changed=KILN_UI_DIR");
    let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        return fail("CARGO_MANIFEST_DIR is not set (run this through cargo)");
    };
    let Some(out) = std::env::var_os("OUT_DIR").map(|d| PathBuf::from(d).join("ui")) else {
        return fail("OUT_DIR is not set (run this through cargo)");
    };
    let web = manifest.join("..").join("..").join("web");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    if let Err(e) = std::fs::create_dir_all(&out) {
        return fail(&format!("cannot create {}: {e}", out.display()));
    }

    let skip = std::env::var("KILN_SKIP_UI_BUILD").is_ok_and(|v| v == "1");
    let from_disk = std::env::var_os("KILN_UI_DIR").is_some_and(|v| !v.is_empty());
    if skip || from_disk {
        let why = if skip {
            "KILN_SKIP_UI_BUILD=1"
        } else {
            "KILN_UI_DIR was set"
        };
        println!("cargo:warning=kiln: the web UI is not bundled into this binary ({why})");
        return match write_placeholder(&out, why) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&format!("cannot write the placeholder UI: {e}")),
        };
    }
    if !web.join("package.json").is_file() {
        return fail(&format!(
            "the web UI's sources are missing ({} has no package.json). Build from a full checkout, \
             or set KILN_SKIP_UI_BUILD=1.",
            web.display()
        ));
    }
    for tool in ["node", "npm"] {
        if !runs(tool) {
            return fail(&format!(
                "`{tool}` was not found, and kiln's web UI is built with it. {INSTALL_HINT}"
            ));
        }
    }
    if needs_install(&web) {
        let ok = run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&web),
            "npm ci (installing the web UI's packages)",
        );
        if !ok {
            return fail("`npm ci` failed in web/ (see above); the npm registry must be reachable");
        }
    }
    let ok = run(
        Command::new("node")
            .arg("build.mjs")
            .arg("--outdir")
            .arg(&out)
            .current_dir(&web),
        "node build.mjs (bundling the web UI)",
    );
    if !ok {
        return fail("bundling the web UI failed (see above)");
    }
    for f in OUTPUTS {
        if !out.join(f).is_file() {
            return fail(&format!("the UI bundle lacks {f}"));
        }
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: kiln's web UI: {message}");
    println!("cargo:warning=kiln's web UI: {message}");
    ExitCode::FAILURE
}

/// Whether `tool --version` runs.
fn runs(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `cmd`, passing its output on (to stderr: cargo reads a build script's stdout).
fn run(cmd: &mut Command, what: &str) -> bool {
    match cmd.output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!("{what} failed with {}", o.status);
            eprintln!("{}", String::from_utf8_lossy(&o.stdout));
            eprintln!("{}", String::from_utf8_lossy(&o.stderr));
            false
        }
        Err(e) => {
            eprintln!("{what} could not start: {e}");
            false
        }
    }
}

/// `npm ci` is needed when node_modules is missing or older than the lockfile (npm writes
/// `node_modules/.package-lock.json` on every install).
fn needs_install(web: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = modified(&web.join("package-lock.json"));
    let installed = modified(&web.join("node_modules").join(".package-lock.json"));
    match (lock, installed) {
        (Some(lock), Some(installed)) => installed < lock,
        _ => true,
    }
}

fn write_placeholder(out: &Path, why: &str) -> std::io::Result<()> {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>kiln: no UI</title>\
         <link rel=\"icon\" href=\"favicon.svg\"></head><body>\n<h1>The kiln web UI was not built into this binary</h1>\n\
         <p>It was built with {why}. Serve the UI from disk with <code>KILN_UI_DIR=/path/to/web/dist</code> \
         (build it with <code>cd web &amp;&amp; npm ci &amp;&amp; node build.mjs</code>), or rebuild kiln \
         with Node.js and npm installed.</p>\n<p>The API works as usual.</p>\n</body></html>\n"
    );
    std::fs::write(out.join("index.html"), page)?;
    std::fs::write(out.join("app.js"), "")?;
    std::fs::write(out.join("app.css"), "")?;
    // No fonts (the page falls back to installed ones).
    std::fs::create_dir_all(out.join("fonts"))?;
    for f in OUTPUTS.iter().filter(|f| f.starts_with("fonts/")) {
        std::fs::write(out.join(f), "")?;
    }
    // Empty compressed copies: assets.rs then serves the plain files.
    for name in ["app.js", "app.css", "favicon.svg"] {
        for ext in ["gz", "br"] {
            std::fs::write(out.join(format!("{name}.{ext}")), "")?;
        }
    }
    std::fs::write(
        out.join("favicon.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><rect width=\"32\" height=\"32\" rx=\"6\" fill=\"#15181e\"/></svg>\n",
    )
}
