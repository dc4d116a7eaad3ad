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


def test_list_edit_terminate_start(emulator):
    """What `kiln cluster deploy` does with a cluster it made before: find it by its tag in the
    list, edit its spec, and start it after a termination."""
    w = emulator.client()
    tags = {"kiln_deployment": "kiln-dev"}
    spec = dict(
        cluster_name="kiln-agents",
        spark_version="15.4.x-scala2.12",
        node_type_id="m6i.xlarge",
        num_workers=0,
        autotermination_minutes=120,
        custom_tags=tags,
    )
    cid = w.clusters.create(**spec).response.cluster_id
    w.clusters.create(cluster_name="someone-else", spark_version="15.4.x-scala2.12", node_type_id="m6i.xlarge", num_workers=0)
    emulator.advance(120)
    ours = [c for c in w.clusters.list() if (c.custom_tags or {}).get("kiln_deployment") == "kiln-dev"]
    assert [c.cluster_id for c in ours] == [cid]

    # Editing a running cluster restarts it with the new spec.
    spec["node_type_id"] = "m6i.2xlarge"
    w.clusters.edit(cluster_id=cid, **spec)
    emulator.advance(300)
    got = w.clusters.get(cid)
    assert got.node_type_id == "m6i.2xlarge"
    assert got.state == State.RUNNING

    # Terminated, then started again; still one cluster.
    w.clusters.delete(cid)
    emulator.advance(300)
    assert w.clusters.get(cid).state == State.TERMINATED
    w.clusters.start(cid)
    emulator.advance(300)
    assert w.clusters.get(cid).state == State.RUNNING
    assert len([c for c in w.clusters.list() if c.cluster_name == "kiln-agents"]) == 1
