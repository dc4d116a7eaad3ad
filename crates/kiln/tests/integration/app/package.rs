//! `kiln app package` through the real binary: the packaged directory (every file within the
//! Apps limit, `app.yaml`'s shape, the parts described by `kiln-binary.json`), `launch.py` run
//! by a real python3 with every executable bit lost, the glibc floor of the release binary
//! (`KILN_RELEASE_BIN`, built once by `scripts/test`), and the refusals.

use super::fixture;
use kiln::app::elf::{self, GLIBC_FLOOR};
use kiln::app::source::APPS_FILE_LIMIT;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kiln(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .env_remove("KILN_APP_BINARY")
        .output()
        .unwrap()
}

/// `kiln app package --out <out> --binary <bin>`.
fn package(out: &Path, bin: &Path) -> Output {
    kiln(&[
        "app",
        "package",
        "--out",
        out.to_str().unwrap(),
        "--binary",
        bin.to_str().unwrap(),
    ])
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write_fixture(dir: &Path, status: u8) -> PathBuf {
    let p = dir.join(format!("fixture-{status}"));
    fs::write(&p, fixture::elf(status)).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Every file under `dir` with its size.
fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, m.len()));
            }
        }
    }
    out.sort();
    out
}

/// Checks a packaged directory: sizes, app.yaml, the description of the binary.
fn check_package(dir: &Path) -> serde_json::Value {
    for (name, size) in files(dir) {
        assert!(
            size <= APPS_FILE_LIMIT as u64,
            "{name} is {size} bytes, over the Apps limit"
        );
    }
    let yaml = fs::read_to_string(dir.join("app.yaml")).unwrap();
    let command = yaml
        .lines()
        .find_map(|l| l.strip_prefix("command: "))
        .expect("app.yaml has a command");
    // A YAML flow sequence of quoted strings is JSON: the exact argv, no shell.
    let argv: Vec<String> = serde_json::from_str(command).unwrap();
    assert_eq!(argv, ["python3", "launch.py", "serve"]);
    assert!(
        yaml.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .all(|l| l.starts_with("command: ")),
        "nothing but the command (no env with secrets): {yaml}"
    );
    assert!(dir.join("launch.py").is_file());
    let desc: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("kiln-binary.json")).unwrap()).unwrap();
    for part in desc["parts"].as_array().unwrap() {
        assert!(dir.join(part.as_str().unwrap()).is_file(), "{part}");
    }
    desc
}

/// Runs launch.py as the Apps runtime would (no shell, cwd elsewhere, HOME given).
fn launch(dir: &Path, home: &str) -> Output {
    Command::new("python3")
        .arg(dir.join("launch.py"))
        .arg("serve")
        .current_dir("/")
        .env("HOME", home)
        .output()
        .unwrap()
}

fn lose_exec_bits(dir: &Path) {
    for (name, _) in files(dir) {
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn package_writes_a_source_that_starts_without_exec_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = write_fixture(tmp.path(), 0);
    let out = tmp.path().join("pkg");
    let o = package(&out, &bin);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("commit it to a Git repository"),
        "{}",
        text(&o)
    );
    let desc = check_package(&out);
    assert_eq!(desc["size"], fixture::elf(0).len());

    lose_exec_bits(&out);
    let home = tmp.path().join("home");
    let o = launch(&out, home.to_str().unwrap());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(fixture::MARKER),
        "the unpacked binary ran: {}",
        text(&o)
    );
    let sha = desc["sha256"].as_str().unwrap();
    let unpacked = home.join(".kiln/bin").join(format!("kiln-{}", &sha[..16]));
    assert_eq!(fs::read(&unpacked).unwrap(), fixture::elf(0));
    assert_eq!(
        fs::metadata(&unpacked).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // A second start reuses it; the exit status of the binary is the process's (exec, not a child).
    let o = launch(&out, home.to_str().unwrap());
    assert!(o.status.success(), "{}", text(&o));

    // Packaging again over the same directory (another binary) keeps foreign files and leaves
    // no stale parts.
    fs::write(out.join("README.md"), "mine").unwrap();
    let bin7 = write_fixture(tmp.path(), 7);
    let o = package(&out, &bin7);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(fs::read_to_string(out.join("README.md")).unwrap(), "mine");
    check_package(&out);
    let o = launch(&out, home.to_str().unwrap());
    assert_eq!(o.status.code(), Some(7), "{}", text(&o));
    let left: Vec<_> = fs::read_dir(home.join(".kiln/bin"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left.len(),
        2,
        "the new binary and the `kiln` link: {left:?}"
    );
}

#[test]
fn launch_refuses_damaged_parts_and_survives_an_unusable_home() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = write_fixture(tmp.path(), 0);
    let out = tmp.path().join("pkg");
    let o = package(&out, &bin);
    assert!(o.status.success(), "{}", text(&o));

    // HOME that cannot be created: a private directory under the temporary directory instead.
    let o = launch(&out, "/proc/kiln-no-such-home");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is not writable; using"), "{}", text(&o));

    // A damaged part: a clear message, exit 1, nothing started.
    let part = out.join("bin/kiln.gz.00");
    let mut bytes = fs::read(&part).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&part, bytes).unwrap();
    let home = tmp.path().join("home2");
    let o = launch(&out, home.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("do not match kiln-binary.json"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains(fixture::MARKER.trim()), "{}", text(&o));
}

#[test]
fn package_refuses_bad_binaries_and_foreign_app_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pkg");
    let o = package(&out, Path::new("/etc/passwd"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not a Linux executable"), "{}", text(&o));
    assert!(text(&o).contains("./scripts/build-release"), "{}", text(&o));

    // The test binary itself is linked against this machine's glibc.
    let host = std::env::current_exe().unwrap();
    let needs = elf::needs(&fs::read(&host).unwrap()).unwrap();
    if needs.max_glibc().is_some_and(|v| v > GLIBC_FLOOR) {
        let o = package(&out, &host);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("newer than 2.31"), "{}", text(&o));
        assert!(text(&o).contains("GLIBC_2."), "{}", text(&o));
    }
    let o = kiln(&[
        "app",
        "package",
        "--out",
        out.to_str().unwrap(),
        "--binary",
        "/nope",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot read the kiln binary /nope"),
        "{}",
        text(&o)
    );

    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("app.yaml"), "command: [\"python\", \"app.py\"]\n").unwrap();
    let bin = write_fixture(tmp.path(), 0);
    let o = package(&out, &bin);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("was not written by kiln"), "{}", text(&o));
    assert_eq!(
        fs::read_to_string(out.join("app.yaml")).unwrap(),
        "command: [\"python\", \"app.py\"]\n",
        "the user's file is untouched"
    );
}

/// The ELF reader agrees with binutils' readelf on a real binary.
#[test]
fn version_needs_match_readelf() {
    let host = std::env::current_exe().unwrap();
    let Ok(o) = Command::new("readelf")
        .arg("-V")
        .arg("-W")
        .arg(&host)
        .output()
    else {
        eprintln!("readelf is not installed; skipping the cross-check");
        return;
    };
    let listing = String::from_utf8_lossy(&o.stdout);
    let needs_section = listing
        .split("Version needs section")
        .nth(1)
        .expect("a version needs section");
    let mut theirs: Vec<String> = needs_section
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "Name:" && !w[1].contains(".so"))
        .map(|w| w[1].to_owned())
        .collect();
    let mut ours: Vec<String> = elf::needs(&fs::read(&host).unwrap())
        .unwrap()
        .versions
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs);
}

/// The release binary (`scripts/build-release`, run once by `scripts/test`, which sets
/// `KILN_RELEASE_BIN`) needs no glibc newer than the floor, and packages within the limits.
#[test]
fn release_binary_meets_the_glibc_floor() {
    let Some(path) = super::release_bin() else {
        return;
    };
    let bytes = fs::read(&path).unwrap();
    let needs = elf::needs(&bytes).unwrap();
    let above = needs.above(GLIBC_FLOOR);
    assert!(
        above.is_empty(),
        "the release binary needs glibc newer than {GLIBC_FLOOR}: {above:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pkg");
    let o = package(&out, Path::new(&path));
    assert!(o.status.success(), "{}", text(&o));
    let desc = check_package(&out);
    assert_eq!(desc["size"], bytes.len());
    lose_exec_bits(&out);
    // launch.py reassembles the exact binary, which then runs (`kiln --version` as the command).
    let home = tmp.path().join("home");
    let o = Command::new("python3")
        .arg(out.join("launch.py"))
        .arg("--version")
        .current_dir("/")
        .env("HOME", &home)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(env!("CARGO_PKG_VERSION")),
        "{}",
        text(&o)
    );
}
