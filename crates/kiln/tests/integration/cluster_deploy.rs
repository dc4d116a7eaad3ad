//! `kiln cluster deploy` and `status` (the real binary) against kiln-emulator: dev (workspace
//! files, dedicated cluster) and prod (Volume, shared cluster); a second deploy updates the same
//! cluster; `--start` waits for RUNNING and the cluster's init script sees the token resolved
//! from the secret; each fixable failure (no secret scope, no key, no Volume, no permission,
//! an init script failing at start) gives its message with the fix.

use kiln_databricks::{
    Attr, Client, ClientOptions, ConfigLoader, Environment, Secret, StaticToken,
};
use kiln_emulator::{Emulator, EmulatorOptions, Fault, FaultAction, RunningEmulator, StateDelays};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

struct Env {
    emu: RunningEmulator,
    token: String,
    tmp: tempfile::TempDir,
    binary: PathBuf,
}

impl Env {
    async fn new() -> Self {
        let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
        emu.set_delays(StateDelays {
            cluster_start_secs: 1,
            cluster_terminate_secs: 1,
            ..StateDelays::default()
        });
        let token = emu.user_token().to_owned();
        let tmp = tempfile::tempdir().unwrap();
        // A stand-in for the kiln binary (a real static x86_64 executable, so it passes the
        // checks): deploy uploads it and pins its checksum in the script.
        let binary = tmp.path().join("kiln-linux");
        std::fs::write(&binary, crate::app::fixture::elf(0)).unwrap();
        Self {
            emu,
            token,
            tmp,
            binary,
        }
    }

    fn client(&self) -> Client {
        let config = ConfigLoader::new(Environment::new())
            .set(Attr::Host, self.emu.url())
            .load()
            .unwrap();
        Client::with_token_source(
            &config,
            Arc::new(StaticToken::new(Secret::new(self.token.clone()))),
            ClientOptions::default(),
        )
        .unwrap()
    }

    async fn put_secret(&self) {
        let c = self.client();
        c.secrets().create_scope("kiln").await.unwrap();
        c.secrets()
            .put(
                "kiln",
                "databricks-token",
                &Secret::new("dapi-cluster-secret".to_owned()),
            )
            .await
            .unwrap();
    }

    async fn kiln(&self, args: &[&str]) -> Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.arg("cluster")
            .args(args)
            .env("DATABRICKS_HOST", self.emu.url())
            .env("DATABRICKS_TOKEN", &self.token)
            .env("DATABRICKS_CONFIG_FILE", self.tmp.path().join("none"))
            .env("KILN_CLUSTER_BINARY", &self.binary)
            .env_remove("DATABRICKS_CONFIG_PROFILE");
        cmd.output().await.unwrap()
    }

    async fn clusters(&self) -> Vec<kiln_databricks::api::clusters::ClusterDetails> {
        self.client().clusters().list().await.unwrap()
    }
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: &Output) -> String {
    let t = out(o);
    assert!(o.status.success(), "{t}");
    t
}

fn failed(o: &Output) -> String {
    let t = out(o);
    assert!(!o.status.success(), "expected a failure:\n{t}");
    t
}

fn script_for(binary: &Path) -> String {
    let sha = kiln::cluster::script::sha256_file(binary).unwrap();
    kiln::cluster::script::render(&sha)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_deploy_creates_then_updates_one_cluster_and_starts_it() {
    let env = Env::new().await;
    let user = env.emu.user_email().to_owned();

    // No scope, then no key: each says how to fix it; nothing is created.
    let t = failed(&env.kiln(&["deploy"]).await);
    assert!(
        t.contains("no secret scope \"kiln\"")
            && t.contains("databricks secrets create-scope kiln"),
        "{t}"
    );
    env.client().secrets().create_scope("kiln").await.unwrap();
    let t = failed(&env.kiln(&["deploy"]).await);
    assert!(t.contains("has no key \"databricks-token\""), "{t}");
    assert!(env.clusters().await.is_empty());
    env.client()
        .secrets()
        .put(
            "kiln",
            "databricks-token",
            &Secret::new("dapi-cluster-secret".to_owned()),
        )
        .await
        .unwrap();

    let t = ok(&env.kiln(&["deploy"]).await);
    assert!(t.contains("created cluster"), "{t}");
    let src = format!("/Workspace/Users/{user}/.bundle/kiln/dev/files/src");
    assert_eq!(
        env.emu.workspace_file(&format!("{src}/kiln")).unwrap(),
        std::fs::read(&env.binary).unwrap()
    );
    let script = env
        .emu
        .workspace_file(&format!("{src}/kiln-init.sh"))
        .unwrap();
    assert_eq!(String::from_utf8(script).unwrap(), script_for(&env.binary));

    let clusters = env.clusters().await;
    assert_eq!(clusters.len(), 1);
    let c = &clusters[0];
    let f = &c.fields;
    assert_eq!(f.data_security_mode.as_deref(), Some("SINGLE_USER"));
    assert_eq!(f.node_type_id.as_deref(), Some("m6i.xlarge"));
    assert_eq!(f.num_workers, Some(0));
    assert!(f.cluster_name.as_deref().unwrap().starts_with("[dev "));
    assert_eq!(f.custom_tags["kiln_deployment"], "kiln-dev");
    assert_eq!(
        f.spark_env_vars["KILN_DATABRICKS_TOKEN"],
        "{{secrets/kiln/databricks-token}}"
    );
    assert_eq!(
        f.init_scripts[0].workspace.as_ref().unwrap().destination,
        format!("{src}/kiln-init.sh")
    );
    let id = c.cluster_id.clone();

    // Second deploy, with --start: the same cluster, edited, then RUNNING with progress.
    let t = ok(&env
        .kiln(&["deploy", "--node-type-id", "m6i.4xlarge", "--start"])
        .await);
    assert!(t.contains(&format!("updated cluster {id}")), "{t}");
    assert!(t.contains("RUNNING"), "{t}");
    let clusters = env.clusters().await;
    assert_eq!(clusters.len(), 1, "a second cluster was created");
    assert_eq!(clusters[0].cluster_id, id);
    assert_eq!(
        clusters[0].fields.node_type_id.as_deref(),
        Some("m6i.4xlarge")
    );

    // The start ran the init script with the token resolved from the secret.
    let runs = env.emu.init_scripts(&id).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].env["KILN_DATABRICKS_TOKEN"], "dapi-cluster-secret");
    assert_eq!(runs[0].env["KILN_CLUSTER_SOURCE"], src);
    assert_eq!(runs[0].env["KILN_CLUSTER_ACCESS_MODE"], "SINGLE_USER");
    assert_eq!(runs[0].env["KILN_DATABRICKS_HOST"], env.emu.url());
    assert_eq!(
        String::from_utf8(runs[0].content.clone().unwrap()).unwrap(),
        script_for(&env.binary)
    );

    let t = ok(&env.kiln(&["status"]).await);
    assert!(
        t.contains(&id) && t.contains("RUNNING") && t.contains("uploaded"),
        "{t}"
    );
    assert!(!t.contains("dapi-cluster-secret"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prod_deploy_uses_the_volume_and_a_shared_cluster() {
    let env = Env::new().await;
    env.put_secret().await;
    let vol = "/Volumes/main/kiln/init_scripts";

    // No Volume (another one exists): the message names it and the allowlist.
    env.emu.create_volume("/Volumes/main/other/scripts");
    let t = failed(&env.kiln(&["deploy", "--target", "prod"]).await);
    assert!(
        t.contains(&format!("the Volume {vol} does not exist"))
            && t.contains("allowlist")
            && t.contains("databricks volumes create main kiln init_scripts MANAGED"),
        "{t}"
    );
    env.emu.create_volume(vol);

    // Writes refused: the message says which permission is needed.
    let fault = env.emu.add_fault(
        Fault::new(
            "/api/2.0/fs/files/Volumes/*",
            FaultAction::Status {
                status: 403,
                error_code: Some("PERMISSION_DENIED".into()),
                message: Some(
                    "User does not have WRITE VOLUME on Volume 'main.kiln.init_scripts'.".into(),
                ),
            },
        )
        .method("PUT"),
    );
    let t = failed(&env.kiln(&["deploy", "--target", "prod"]).await);
    assert!(
        t.contains("no permission to write") && t.contains("WRITE VOLUME"),
        "{t}"
    );
    env.emu.remove_fault(fault);

    let t = ok(&env.kiln(&["deploy", "--target", "prod", "--start"]).await);
    assert!(t.contains("RUNNING"), "{t}");
    assert_eq!(
        env.emu.volume_file(&format!("{vol}/kiln")).unwrap(),
        std::fs::read(&env.binary).unwrap()
    );
    let clusters = env.clusters().await;
    assert_eq!(clusters.len(), 1);
    let f = &clusters[0].fields;
    assert_eq!(f.data_security_mode.as_deref(), Some("USER_ISOLATION"));
    assert_eq!(f.node_type_id.as_deref(), Some("m6i.2xlarge"));
    assert_eq!(f.cluster_name.as_deref(), Some("kiln-agents"));
    assert_eq!(
        f.init_scripts[0].volumes.as_ref().unwrap().destination,
        format!("{vol}/kiln-init.sh")
    );
    let runs = env.emu.init_scripts(&clusters[0].cluster_id).unwrap();
    assert_eq!(runs[0].kind, "volumes");
    assert_eq!(runs[0].env["KILN_CLUSTER_SOURCE"], vol);

    // Again: updated, never duplicated.
    let t = ok(&env.kiln(&["deploy", "--target", "prod"]).await);
    assert!(t.contains("updated cluster"), "{t}");
    assert_eq!(env.clusters().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_init_script_points_to_its_logs() {
    let env = Env::new().await;
    env.put_secret().await;
    env.emu.update_settings(|s| {
        s.init_script_failure = Some("Script exit status is non-zero".into());
    });
    let t = failed(&env.kiln(&["deploy", "--start"]).await);
    assert!(
        t.contains("did not start")
            && t.contains("INIT_SCRIPT_FAILURE")
            && t.contains("Script exit status is non-zero")
            && t.contains("/var/log/kiln/init-script.log")
            && t.contains("init_scripts"),
        "{t}"
    );
    let t = ok(&env.kiln(&["status"]).await);
    assert!(
        t.contains("TERMINATED") && t.contains("INIT_SCRIPT_FAILURE"),
        "{t}"
    );

    // A secret deleted after the deploy: the start fails on the reference, and says so.
    env.emu.update_settings(|s| s.init_script_failure = None);
    let c = env.client();
    let scopes = c.secrets().list_scopes().await.unwrap();
    assert_eq!(scopes.len(), 1);
    let id = env.clusters().await[0].cluster_id.clone();
    c.secrets().create_scope("other").await.unwrap();
    c.secrets()
        .delete_secret("kiln", "databricks-token")
        .await
        .unwrap();
    c.clusters().start(&id).await.unwrap();
    let e = kiln::cluster::deploy::wait_running(&c, &id, std::time::Duration::from_secs(60))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SECRET_RESOLUTION_ERROR") && e.contains("READ on the scope"),
        "{e}"
    );
}

#[test]
fn bundle_writes_its_files_and_leaves_foreign_ones_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let binary = tmp.path().join("kiln-linux");
    std::fs::write(&binary, crate::app::fixture::elf(3)).unwrap();
    let out = tmp.path().join("b");
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(["cluster", "bundle", "--out"])
            .arg(&out)
            .arg("--binary")
            .arg(&binary)
            .output()
            .unwrap()
    };
    ok(&run());
    for f in [
        "databricks.yml",
        "resources/cluster.yml",
        "src/kiln-init.sh",
        "README.md",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert_eq!(
        std::fs::read(out.join("src/kiln")).unwrap(),
        crate::app::fixture::elf(3)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("src/kiln-init.sh")).unwrap(),
        script_for(&binary)
    );
    // Again: kiln's own files are replaced.
    ok(&run());
    // A databricks.yml of the user's is never overwritten.
    std::fs::write(out.join("databricks.yml"), "bundle:\n  name: mine\n").unwrap();
    let t = failed(&run());
    assert!(t.contains("was not written by kiln"), "{t}");
    assert_eq!(
        std::fs::read_to_string(out.join("databricks.yml")).unwrap(),
        "bundle:\n  name: mine\n"
    );
}

/// The binary for the cluster passes the same checks as the app's: a Linux x86_64 executable
/// needing glibc 2.31 at most, unless `--skip-glibc-check` says the runtime has a newer one.
#[test]
fn cluster_commands_refuse_a_binary_the_runtime_cannot_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .args(args)
            .env_remove("KILN_CLUSTER_BINARY")
            .output()
            .unwrap()
    };
    let out = tmp.path().join("b");
    let out = out.to_str().unwrap();
    let script = tmp.path().join("kiln-init.sh");
    let script = script.to_str().unwrap();
    let t = failed(&run(&[
        "cluster",
        "bundle",
        "--out",
        out,
        "--binary",
        "/etc/passwd",
    ]));
    assert!(t.contains("not a Linux executable"), "{t}");
    assert!(t.contains("./scripts/build-release"), "{t}");
    assert!(!tmp.path().join("b/src/kiln").exists(), "nothing written");

    // This test binary is linked against the build machine's glibc.
    let host = std::env::current_exe().unwrap();
    let needs = kiln::app::elf::needs(&std::fs::read(&host).unwrap()).unwrap();
    if needs
        .max_glibc()
        .is_some_and(|v| v > kiln::app::elf::GLIBC_FLOOR)
    {
        let host = host.to_str().unwrap();
        for args in [
            vec!["cluster", "init-script", "--out", script, "--binary", host],
            vec!["cluster", "bundle", "--out", out, "--binary", host],
        ] {
            let t = failed(&run(&args));
            assert!(t.contains("newer than 2.31"), "{t}");
            assert!(t.contains("GLIBC_2."), "{t}");
        }
        ok(&run(&[
            "cluster",
            "init-script",
            "--out",
            script,
            "--binary",
            host,
            "--skip-glibc-check",
        ]));
    }
}
