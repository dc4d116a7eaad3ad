"""Clusters create / get with the clock-driven state machine and a recorded init script."""

import io

import pytest
from databricks.sdk.errors import NotFound
from databricks.sdk.service.compute import (
    InitScriptInfo,
    State,
    WorkspaceStorageInfo,
)
from databricks.sdk.service.workspace import ImportFormat


def test_cluster_create_get_runs_init_script(emulator):
    w = emulator.client()
    script = f"/Users/{emulator.user}/agents/init.sh"
    w.workspace.mkdirs(f"/Users/{emulator.user}/agents")
    w.workspace.upload(script, io.BytesIO(b"#!/bin/bash\necho init\n"), format=ImportFormat.AUTO)

    waiter = w.clusters.create(
        cluster_name="agents-alice",
        spark_version="15.4.x-scala2.12",
        node_type_id="i3.xlarge",
        num_workers=0,
        autotermination_minutes=60,
        spark_env_vars={"AGENTS_HOST": emulator.host},
        init_scripts=[InitScriptInfo(workspace=WorkspaceStorageInfo(destination=f"/Workspace{script}"))],
    )
    cluster_id = waiter.cluster_id
    details = w.clusters.get(cluster_id)
    assert details.state == State.PENDING
    assert details.creator_user_name == emulator.user

    emulator.advance(120)
    running = waiter.result()
    assert running.state == State.RUNNING

    recorded = emulator.admin("GET", f"/clusters/{cluster_id}/init-scripts")["init_scripts"]
    assert recorded[0]["content"] == "#!/bin/bash\necho init\n"
    assert recorded[0]["env"]["AGENTS_HOST"] == emulator.host
    assert recorded[0]["env"]["DB_CLUSTER_ID"] == cluster_id


def test_unknown_cluster_is_not_found(emulator):
    with pytest.raises(NotFound):
        emulator.client().clusters.get("0101-000000-nonexist")
