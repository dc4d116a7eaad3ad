//! Golden-file tests of `kiln agents configure`: the real binary writes a scratch HOME against
//! kiln-emulator (models from its serving endpoints, git identity from SCIM Me), for a fresh HOME,
//! a HOME full of user content (merge preservation: comments, unknown keys, user values kept) and
//! direct mode. Every file is compared with `tests/golden/agents/<case>/expected/` (HOME and the
//! workspace URL replaced by `@HOME@` / `@WORKSPACE@`); `KILN_UPDATE_GOLDEN=1` rewrites them. A
//! second run must change no byte and no mtime.

use kiln_emulator::{Emulator, EmulatorOptions};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";
const GATEWAY: &str = "http://127.0.0.1:4321";
const BROKER: &str = "http://127.0.0.1:4322/metadata/broker-secret-path";

fn golden_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/agents")
        .join(case)
}

/// Every file under `dir`, by relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
    }
}

struct Env {
    emu: kiln_emulator::RunningEmulator,
    _tmp: tempfile::TempDir,
    home: PathBuf,
    key_file: PathBuf,
}

async fn setup() -> Env {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key_file = tmp.path().join("gateway.key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    Env {
        emu,
        _tmp: tmp,
        home,
        key_file,
    }
}

impl Env {
    fn kiln(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kiln"));
        c.arg("agents")
            .args(args)
            .arg("--home")
            .arg(&self.home)
            .env("DATABRICKS_HOST", self.emu.url())
            .env("DATABRICKS_TOKEN", self.emu.user_token())
            .env(
                "DATABRICKS_CONFIG_FILE",
                self.home.join("no-such-databrickscfg"),
            )
            .env("RUST_LOG", "warn");
        for v in [
            "KILN_AGENTS",
            "ANTHROPIC_MODEL",
            "CODEX_MODEL",
            "GEMINI_MODEL",
            "HERMES_MODEL",
            "OPENCODE_MODEL",
            "KILN_DATABRICKS_METADATA_URL",
            "DATABRICKS_CONFIG_PROFILE",
        ] {
            c.env_remove(v);
        }
        c
    }

    fn configure(&self, extra: &[&str]) -> (bool, String) {
        let mut args = vec!["configure"];
        args.extend_from_slice(extra);
        let out = self.kiln(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), format!("{stdout}{stderr}"))
    }

    fn gateway_args(&self) -> Vec<String> {
        vec![
            "--gateway".into(),
            GATEWAY.into(),
            "--gateway-key-file".into(),
            self.key_file.display().to_string(),
        ]
    }

    /// HOME's files with placeholders for the varying parts.
    fn normalized(&self) -> BTreeMap<String, String> {
        let home = self.home.display().to_string();
        tree(&self.home)
            .into_iter()
            .map(|(k, v)| {
                let text = String::from_utf8(v)
                    .unwrap()
                    .replace(&home, "@HOME@")
                    .replace(self.emu.url(), "@WORKSPACE@");
                (k, text)
            })
            .collect()
    }

    fn mtimes(&self) -> BTreeMap<String, std::time::SystemTime> {
        tree(&self.home)
            .keys()
            .map(|k| {
                let m = std::fs::metadata(self.home.join(k)).unwrap();
                (k.clone(), m.modified().unwrap())
            })
            .collect()
    }

    fn mode(&self, rel: &str) -> u32 {
        std::fs::metadata(self.home.join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }
}

/// Compares HOME with the golden files (or rewrites them).
fn assert_golden(env: &Env, case: &str) {
    let expected_dir = golden_dir(case).join("expected");
    let actual = env.normalized();
    if std::env::var_os("KILN_UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&expected_dir);
        for (rel, text) in &actual {
            let p = expected_dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }
    let expected: BTreeMap<String, String> = tree(&expected_dir)
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
        .collect();
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "files written for {case}"
    );
    for (rel, text) in &actual {
        assert_eq!(
            text, &expected[rel],
            "{case}: {rel} differs from the golden file (KILN_UPDATE_GOLDEN=1 rewrites it)"
        );
    }
}

/// A second run reports no change and touches no file.
fn assert_idempotent(env: &Env, args: &[String]) {
    let before = tree(&env.home);
    let mtimes = env.mtimes();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = env.configure(&refs);
    assert!(ok, "{out}");
    for line in out
        .lines()
        .filter(|l| !l.starts_with("kiln agents:") && !l.contains(": note:"))
    {
        assert!(
            line.ends_with(": unchanged"),
            "second run changed something: {line}\n{out}"
        );
    }
    assert_eq!(tree(&env.home), before, "bytes changed on the second run");
    assert_eq!(env.mtimes(), mtimes, "mtimes changed on the second run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_home_matches_golden_and_is_idempotent() {
    let env = setup().await;
    let mut args = env.gateway_args();
    args.extend(["--metadata-url".to_owned(), BROKER.to_owned()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = env.configure(&refs);
    assert!(ok, "{out}");
    for item in [
        "claude",
        "codex",
        "gemini",
        "opencode",
        "hermes",
        "git",
        "databricks",
    ] {
        assert!(
            out.contains(&format!("{item}: wrote ")),
            "{item} not written:\n{out}"
        );
    }
    assert!(
        !out.contains(KEY) && !out.contains("broker-secret-path"),
        "a secret in the output:\n{out}"
    );
    assert_golden(&env, "fresh");
    for secret in [
        ".claude/settings.json",
        ".codex/.env",
        ".gemini/.env",
        ".local/share/opencode/auth.json",
        ".hermes/config.yaml",
        ".databrickscfg",
    ] {
        assert_eq!(env.mode(secret), 0o600, "{secret}");
    }
    assert!(
        !env.home.join(".kiln/git-hooks").exists(),
        "git hooks are kiln sync's to install, with their chaining scripts"
    );
    assert_idempotent(&env, &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_content_is_merged_and_kept() {
    let env = setup().await;
    copy_tree(&golden_dir("merge").join("input"), &env.home);
    std::fs::set_permissions(
        env.home.join(".codex/.env"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let args = env.gateway_args();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = env.configure(&refs);
    assert!(ok, "{out}");
    assert!(
        out.contains("git: note: git user.name kept as \"Alice Liddell\""),
        "{out}"
    );
    assert_golden(&env, "merge");
    // A key file that was world-readable is 0600 now.
    assert_eq!(env.mode(".codex/.env"), 0o600);
    assert_idempotent(&env, &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_matches_golden() {
    let env = setup().await;
    let args = vec![
        "--mode".to_owned(),
        "direct".to_owned(),
        "--agents".to_owned(),
        "claude,codex,gemini,opencode,hermes".to_owned(),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = env.configure(&refs);
    assert!(ok, "{out}");
    assert!(!out.contains(env.emu.user_token()), "token in the output");
    let all: String = env.normalized().values().cloned().collect();
    assert!(
        !all.contains(env.emu.user_token()),
        "a token was written to a file"
    );
    assert_golden(&env, "direct");
    assert_idempotent(&env, &args);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_prints_a_redacted_diff_and_writes_nothing() {
    let env = setup().await;
    copy_tree(&golden_dir("merge").join("input"), &env.home);
    let before = tree(&env.home);
    let mut args = vec!["--dry-run".to_owned()];
    args.extend(env.gateway_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = env.configure(&refs);
    assert!(ok, "{out}");
    assert_eq!(tree(&env.home), before, "a dry run wrote something");
    assert!(!out.contains(KEY), "the key leaked into the diff:\n{out}");
    assert!(
        out.contains("\"ANTHROPIC_AUTH_TOKEN\": \"<redacted>\""),
        "{out}"
    );
    assert!(out.contains("-model = \"o3\" # I like this one"), "{out}");
    assert!(
        out.contains("+model = \"databricks-gpt-5-5\" # I like this one"),
        "{out}"
    );
    assert!(out.contains("# hermes"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_and_missing_models() {
    let env = setup().await;
    for e in env.emu.serving().endpoints() {
        if e.family == "anthropic" {
            env.emu.serving().remove_endpoint(&e.name);
        }
    }
    let args = env.gateway_args();
    let mut refs: Vec<&str> = args.iter().map(String::as_str).collect();
    refs.extend(["--agents", "claude,codex,hermes"]);
    let out = env
        .kiln(&[&["configure"], refs.as_slice()].concat())
        .env("CODEX_MODEL", "my-codex-endpoint")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "a failed agent fails the command");
    assert!(
        text.contains("claude: FAILED: the workspace serves no Claude endpoint"),
        "{text}"
    );
    assert!(text.contains("codex: wrote"), "{text}");
    assert!(text.contains("hermes: wrote"), "{text}");
    let codex = std::fs::read_to_string(env.home.join(".codex/config.toml")).unwrap();
    assert!(
        codex.starts_with("model = \"my-codex-endpoint\"\n"),
        "{codex}"
    );
    let hermes = std::fs::read_to_string(env.home.join(".hermes/config.yaml")).unwrap();
    assert!(
        hermes.contains("default: \"databricks-gpt-5-5\""),
        "{hermes}"
    );
    assert!(!env.home.join(".claude/settings.json").exists());
}
