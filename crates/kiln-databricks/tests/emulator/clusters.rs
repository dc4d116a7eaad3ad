//! Clusters: create with init scripts, state waits, edit, terminate, start, list, and errors.

use crate::common::*;
use bytes::Bytes;
use kiln_databricks::Error;
use kiln_databricks::api::clusters::{ClusterSpec, ClusterState, Destination, InitScriptInfo};
use std::time::Duration;

fn spec(init: &str) -> ClusterSpec {
    let mut s = ClusterSpec {
        cluster_name: Some("agents-alice".into()),
        spark_version: "15.4.x-scala2.12".into(),
        node_type_id: Some("i3.xlarge".into()),
        kind: Some("CLASSIC_PREVIEW".into()),
        is_single_node: Some(true),
        data_security_mode: Some("DATA_SECURITY_MODE_DEDICATED".into()),
        autotermination_minutes: Some(60),
        init_scripts: vec![InitScriptInfo {
            volumes: Some(Destination::new(init)),
            ..InitScriptInfo::default()
        }],
        ..ClusterSpec::default()
    };
    s.spark_env_vars
        .insert("AGENTS_HOST".into(), "https://example".into());
    s
}

#[tokio::test]
async fn lifecycle() {
    let emu = emulator().await;
    let client = user(&emu);
    let init = "/Volumes/main/agents/scripts/init.sh";
    client
        .files()
        .upload(init, Bytes::from_static(b"#!/bin/bash\n"), true)
        .await
        .unwrap();
    let clusters = client.clusters();
    let id = clusters.create(&spec(init)).await.unwrap();
    let c = clusters.get(&id).await.unwrap();
    assert_eq!(c.cluster_id, id);
    assert_eq!(c.state, Some(ClusterState::Pending));
    assert_eq!(
        c.fields
            .spark_env_vars
            .get("AGENTS_HOST")
            .map(String::as_str),
        Some("https://example")
    );

    // Edit while pending is refused.
    let err = clusters.edit(&id, &spec(init)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidState(_)), "{err:?}");

    let running = clusters
        .wait_for_state(&id, ClusterState::Running, STEP)
        .await
        .unwrap();
    assert_eq!(running.state, Some(ClusterState::Running));
    let recorded = emu.init_scripts(&id).unwrap();
    assert_eq!(recorded.len(), 1);

    let mut edited = spec(init);
    edited.autotermination_minutes = Some(30);
    clusters.edit(&id, &edited).await.unwrap();

    assert!(
        clusters
            .list()
            .await
            .unwrap()
            .iter()
            .any(|c| c.cluster_id == id)
    );

    clusters.delete(&id).await.unwrap();
    let stopped = clusters
        .wait_for_state(&id, ClusterState::Terminated, STEP)
        .await
        .unwrap();
    assert_eq!(stopped.state, Some(ClusterState::Terminated));
    clusters.start(&id).await.unwrap();
    clusters
        .wait_for_state(&id, ClusterState::Running, STEP)
        .await
        .unwrap();
    clusters.permanent_delete(&id).await.unwrap();
    let err = clusters.get(&id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn a_missing_init_script_fails_the_wait_early() {
    let emu = emulator().await;
    let client = user(&emu);
    let id = client
        .clusters()
        .create(&spec("/Volumes/main/agents/scripts/missing.sh"))
        .await
        .unwrap();
    let err = client
        .clusters()
        .wait_for_state(&id, ClusterState::Running, STEP)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WaitFailed { state, .. } if state == "TERMINATED"),
        "{err:?}"
    );
    assert!(err.to_string().contains("Init script failure"), "{err}");
}

#[tokio::test]
async fn waits_time_out_and_unknown_ids_are_not_found() {
    let emu = emulator().await;
    let client = user(&emu);
    emu.set_delays(kiln_emulator::StateDelays {
        cluster_start_secs: 3600,
        ..Default::default()
    });
    let id = client
        .clusters()
        .create(&spec("/Volumes/x/y/z/none.sh"))
        .await
        .unwrap();
    let err = client
        .clusters()
        .wait_for_state(&id, ClusterState::Running, Duration::from_millis(800))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::WaitTimeout { last_state, .. } if last_state == "PENDING"),
        "{err:?}"
    );

    let err = client
        .clusters()
        .get("0101-000000-nothere1")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(
        err.status(),
        Some(400),
        "Databricks answers 400 INVALID_PARAMETER_VALUE"
    );
    let err = client
        .clusters()
        .create(&ClusterSpec::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
}
