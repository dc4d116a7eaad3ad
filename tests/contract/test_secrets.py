"""Secrets (scopes, keys) and their use by clusters: the routes `kiln cluster deploy` uses
(`secrets/list` to check the scope and key) and the start-time resolution of
`{{secrets/<scope>/<key>}}` references in `spark_env_vars`."""

import io

import pytest
from databricks.sdk.service import compute
from databricks.sdk.errors import NotFound, ResourceAlreadyExists


def test_scopes_and_keys(emulator):
    w = emulator.client()
    assert list(w.secrets.list_scopes()) == []
    w.secrets.create_scope("kiln")
    with pytest.raises(ResourceAlreadyExists):
        w.secrets.create_scope("kiln")
    assert [s.name for s in w.secrets.list_scopes()] == ["kiln"]
    assert list(w.secrets.list_secrets("kiln")) == []

    w.secrets.put_secret("kiln", "databricks-token", string_value="dapi-secret-value")
    keys = list(w.secrets.list_secrets("kiln"))
    assert [k.key for k in keys] == ["databricks-token"]
    assert keys[0].last_updated_timestamp > 0
    # Listing never shows the value.
    assert "dapi-secret-value" not in repr(keys)

    with pytest.raises(NotFound):
        list(w.secrets.list_secrets("nope"))
    with pytest.raises(NotFound):
        w.secrets.put_secret("nope", "k", string_value="v")

    w.secrets.delete_secret("kiln", "databricks-token")
    with pytest.raises(NotFound):
        w.secrets.delete_secret("kiln", "databricks-token")
    w.secrets.delete_scope("kiln")
    assert list(w.secrets.list_scopes()) == []


def _spec(w, env):
    return dict(
        cluster_name="kiln-secrets",
        spark_version="15.4.x-scala2.12",
        node_type_id="m6i.xlarge",
        num_workers=0,
        spark_env_vars=env,
    )


def test_cluster_start_resolves_secret_references(emulator):
    w = emulator.client()
    w.secrets.create_scope("kiln")
    w.secrets.put_secret("kiln", "databricks-token", string_value="dapi-secret-value")
    emulator.advance(0)
    c = w.clusters.create(**_spec(w, {"KILN_DATABRICKS_TOKEN": "{{secrets/kiln/databricks-token}}"}))
    cid = c.response.cluster_id
    emulator.advance(60)
    got = w.clusters.get(cid)
    assert got.state.value == "RUNNING"
    # The secret reference stays a reference in the cluster's spec.
    assert got.spark_env_vars["KILN_DATABRICKS_TOKEN"] == "{{secrets/kiln/databricks-token}}"


def test_an_unresolvable_reference_fails_the_start(emulator):
    w = emulator.client()
    c = w.clusters.create(**_spec(w, {"KILN_DATABRICKS_TOKEN": "{{secrets/missing/key}}"}))
    cid = c.response.cluster_id
    emulator.advance(60)
    got = w.clusters.get(cid)
    assert got.state.value == "TERMINATED"
    assert got.termination_reason.code.value == "SECRET_RESOLUTION_ERROR"
    assert "secrets/missing/key" in got.termination_reason.parameters["databricks_error_message"]


def test_a_failing_init_script_fails_the_start(emulator):
    """The emulator's simulated script failure (setting `init_script_failure`)."""
    w = emulator.client()
    dest = "/Volumes/main/kiln/init_scripts/kiln-init.sh"
    w.files.upload(dest, io.BytesIO(b"#!/bin/bash\nexit 1\n"), overwrite=True)
    emulator.admin("PUT", "/settings", {"init_script_failure": "Script exit status is non-zero"})
    spec = _spec(w, {})
    spec["init_scripts"] = [compute.InitScriptInfo(volumes=compute.VolumesStorageInfo(destination=dest))]
    cid = w.clusters.create(**spec).response.cluster_id
    emulator.advance(60)
    got = w.clusters.get(cid)
    assert got.state.value == "TERMINATED"
    assert got.termination_reason.code.value == "INIT_SCRIPT_FAILURE"
    msg = got.termination_reason.parameters["databricks_error_message"]
    assert dest in msg and "Script exit status is non-zero" in msg
