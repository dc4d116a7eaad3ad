//! Serving endpoints and AI Gateway probes.

use crate::common::*;

#[tokio::test]
async fn list_and_get_endpoints() {
    let emu = emulator().await;
    let client = user(&emu);
    let endpoints = client.serving().list().await.unwrap();
    assert!(!endpoints.is_empty());
    let first = &endpoints[0];
    let got = client.serving().get(&first.name).await.unwrap();
    assert_eq!(got.name, first.name);
    let err = client
        .serving()
        .get("databricks-no-such-model")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn gateway_probe_reports_each_route() {
    use kiln_databricks::api::gateway::Probe;
    let emu = emulator().await;
    let report = user(&emu).gateway().probe().await;
    assert!(report.anthropic_route.is_available(), "{report:?}");
    assert!(!report.anthropic_models.is_empty(), "{report:?}");
    assert!(
        report.anthropic_models.iter().all(|m| m.contains("claude")),
        "{report:?}"
    );
    // Routes the emulator may or may not offer: either answer, or a clean 404, never a failure.
    for p in [&report.ai_gateway_v2, &report.model_services] {
        assert!(
            matches!(p, Probe::Available | Probe::Unavailable { status: 404, .. }),
            "{report:?}"
        );
    }
    let models = user(&emu).gateway().anthropic_models().await.unwrap();
    assert_eq!(models, report.anthropic_models);
}
