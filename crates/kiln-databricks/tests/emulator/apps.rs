//! Databricks Apps: the seeded app and its service principal, create, deploy, start/stop,
//! list, delete, and their errors.

use crate::common::*;
use bytes::Bytes;
use kiln_databricks::Error;
use kiln_databricks::api::apps::{App, AppDeployment, ComputeState, DeploymentState};

#[tokio::test]
async fn the_seeded_app_names_its_creator_and_service_principal() {
    let emu = emulator().await;
    let app = user(&emu).apps().get(emu.app_name()).await.unwrap();
    assert_eq!(app.name, emu.app_name());
    assert_eq!(app.creator.as_deref(), Some(emu.user_email()));
    assert_eq!(
        app.service_principal_client_id.as_deref(),
        Some(emu.sp_client_id())
    );

    // The app's own principal may read it, unless the workspace says otherwise.
    let by_sp = sp(&emu).apps().get(emu.app_name()).await.unwrap();
    assert_eq!(by_sp.creator.as_deref(), Some(emu.user_email()));
    emu.set_sp_can_read_own_app(false);
    let err = sp(&emu).apps().get(emu.app_name()).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(
        !err.is_auth_failure(),
        "a permission problem, not a bad token: {err}"
    );

    let err = user(&emu).apps().get("no-such-app").await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn create_deploy_stop_start_delete() {
    let emu = emulator().await;
    let client = user(&emu);
    let apps = client.apps();
    let app = App {
        name: "demo-app".into(),
        description: Some("test".into()),
        ..App::default()
    };
    let created = apps.create(&app, false).await.unwrap();
    assert_eq!(created.name, "demo-app");
    assert_eq!(created.creator.as_deref(), Some(emu.user_email()));
    let err = apps.create(&app, false).await.unwrap_err();
    assert!(err.is_already_exists(), "{err:?}");
    let active = apps
        .wait_for_compute("demo-app", ComputeState::Active, STEP)
        .await
        .unwrap();
    assert_eq!(active.compute_state(), Some(ComputeState::Active));

    // Source code in the workspace.
    let src = format!("/Workspace/Users/{}/demo-app", emu.user_email());
    client.workspace().mkdirs(&src).await.unwrap();
    client
        .workspace()
        .import_file(
            &format!("{src}/app.yaml"),
            // The emulator really runs the app: it must listen on its port.
            Bytes::from_static(
                b"command: [\"python3\", \"-m\", \"http.server\", \"$DATABRICKS_APP_PORT\"]\n",
            ),
            true,
        )
        .await
        .unwrap();
    let request = AppDeployment {
        source_code_path: Some(src.clone()),
        mode: Some("SNAPSHOT".into()),
        ..AppDeployment::default()
    };
    let started = apps.deploy("demo-app", &request).await.unwrap();
    let id = started.deployment_id.clone().unwrap();
    let done = apps
        .wait_for_deployment("demo-app", &id, STEP)
        .await
        .unwrap();
    assert_eq!(done.state(), Some(DeploymentState::Succeeded));
    assert_eq!(done.source_code_path.as_deref(), Some(src.as_str()));
    assert!(
        done.deployment_artifacts
            .and_then(|a| a.source_code_path)
            .is_some()
    );
    let fetched = apps.get_deployment("demo-app", &id).await.unwrap();
    assert_eq!(fetched.deployment_id.as_deref(), Some(id.as_str()));
    let err = apps
        .get_deployment("demo-app", "0123456789abcdef")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");

    // A deployment from a missing folder fails; the wait says why.
    let bad = AppDeployment {
        source_code_path: Some(format!("{src}-missing")),
        ..AppDeployment::default()
    };
    let started = apps.deploy("demo-app", &bad).await.unwrap();
    let err = apps
        .wait_for_deployment("demo-app", started.deployment_id.as_deref().unwrap(), STEP)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WaitFailed { state, .. } if state == "FAILED"),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");

    apps.stop("demo-app").await.unwrap();
    apps.wait_for_compute("demo-app", ComputeState::Stopped, STEP)
        .await
        .unwrap();
    let err = apps.deploy("demo-app", &request).await.unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");
    apps.start("demo-app").await.unwrap();
    apps.wait_for_compute("demo-app", ComputeState::Active, STEP)
        .await
        .unwrap();

    let names: Vec<String> = apps
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(
        names.contains(&"demo-app".to_owned()) && names.contains(&emu.app_name().to_owned()),
        "{names:?}"
    );

    let deleting = apps.delete("demo-app").await.unwrap();
    assert_eq!(deleting.compute_state(), Some(ComputeState::Deleting));
}

#[tokio::test]
async fn bad_app_names_are_refused_before_sending() {
    let emu = emulator().await;
    let err = user(&emu).apps().get("../token").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let err = user(&emu).apps().get("a/b").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(emu.requests().is_empty());
}
