"""Serving endpoints list / get (control plane)."""


def test_serving_endpoints_list_and_get(emulator):
    w = emulator.client()
    names = [e.name for e in w.serving_endpoints.list()]
    assert "databricks-claude-sonnet-4-5" in names
    ep = w.serving_endpoints.get("databricks-claude-sonnet-4-5")
    assert ep.state.ready.value == "READY"
    assert ep.config.served_entities[0].foundation_model.display_name
