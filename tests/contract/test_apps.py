"""Apps: get as the user and as the app's own service principal; create, deploy (a real
process), get and list deployments, stop and start through the SDK's waiters; a deployment
that exits at start; permissions."""

import time
import urllib.request
from datetime import timedelta

import pytest
from databricks.sdk.errors import NotFound, OperationFailed, PermissionDenied
from databricks.sdk.service.apps import (
    App,
    AppAccessControlRequest,
    AppDeployment,
    AppDeploymentMode,
    AppDeploymentState,
    ApplicationState,
    AppPermissionLevel,
    ComputeState,
)
from databricks.sdk.service.workspace import ImportFormat


def test_apps_get(emulator):
    app = emulator.client().apps.get(emulator.app)
    assert app.name == emulator.app
    assert app.creator == emulator.user
    assert app.service_principal_client_id == emulator.client_id
    assert app.compute_status.state == ComputeState.ACTIVE
    assert app.url == emulator.info["DATABRICKS_APP_URL"]
    assert app.url.startswith("http://127.0.0.1:")


def test_apps_get_unknown_is_not_found(emulator):
    with pytest.raises(NotFound):
        emulator.client().apps.get("no-such-app")


def test_app_sp_reads_own_app_unless_switched_off(emulator):
    sp = emulator.sp_client()
    assert sp.apps.get(emulator.app).creator == emulator.user
    emulator.admin("PUT", "/settings", {"sp_can_read_own_app": False})
    with pytest.raises(PermissionDenied):
        sp.apps.get(emulator.app)


def _source(client, user, name, app_yaml):
    """Writes an app source folder (app.yaml only) under the user's home; returns its path."""
    path = f"/Workspace/Users/{user}/{name}"
    client.workspace.mkdirs(path)
    client.workspace.upload(f"{path}/app.yaml", app_yaml.encode(), format=ImportFormat.AUTO, overwrite=True)
    return path


SERVER_YAML = 'command: ["python3", "-m", "http.server", "$DATABRICKS_APP_PORT"]\n'
CRASH_YAML = 'command: ["python3", "-c", "import sys; print(\'bad config\'); sys.exit(4)"]\n'


def test_app_lifecycle_create_deploy_stop_start(emulator):
    """The calls `kiln app deploy` and `kiln app status` make, through the SDK's waiters."""
    w = emulator.client()
    waiter = w.apps.create(App(name="sdk-app", description="made by the SDK"))
    assert waiter.response.compute_status.state == ComputeState.STARTING
    emulator.advance(60)
    app = waiter.result(timeout=timedelta(seconds=60))
    assert app.compute_status.state == ComputeState.ACTIVE
    assert app.creator == emulator.user
    assert app.url.startswith("http://127.0.0.1:")

    src = _source(w, emulator.user, "sdk-app-src", SERVER_YAML)
    deployment = w.apps.deploy(
        "sdk-app", AppDeployment(source_code_path=src, mode=AppDeploymentMode.SNAPSHOT)
    ).result(timeout=timedelta(seconds=60))
    assert deployment.status.state == AppDeploymentState.SUCCEEDED
    assert deployment.deployment_artifacts.source_code_path.startswith(
        f"/Workspace/Users/{app.service_principal_client_id}/src/"
    )
    got = w.apps.get_deployment("sdk-app", deployment.deployment_id)
    assert got.source_code_path == src and got.mode == AppDeploymentMode.SNAPSHOT
    assert [d.deployment_id for d in w.apps.list_deployments("sdk-app")] == [deployment.deployment_id]
    app = w.apps.get("sdk-app")
    assert app.app_status.state == ApplicationState.RUNNING
    assert app.active_deployment.deployment_id == deployment.deployment_id

    # The app answers through its proxy for its creator.
    session = emulator.admin("POST", "/apps/sessions", {"user": emulator.user})
    req = urllib.request.Request(app.url + "/", headers={"Cookie": session["cookie"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        assert b"app.yaml" in resp.read()

    stopped = w.apps.stop("sdk-app").result(timeout=timedelta(seconds=60))
    assert stopped.compute_status.state == ComputeState.STOPPED
    waiter = w.apps.start("sdk-app")
    emulator.advance(60)
    assert waiter.result(timeout=timedelta(seconds=60)).compute_status.state == ComputeState.ACTIVE
    deadline = time.time() + 60
    while w.apps.get("sdk-app").app_status.state != ApplicationState.RUNNING:
        assert time.time() < deadline, "the active deployment runs again after start"
        time.sleep(0.2)


def test_app_deploy_that_exits_at_start_fails_with_its_message(emulator):
    w = emulator.client()
    app = w.apps.get(emulator.app)
    src = _source(w, emulator.user, "crashing-src", CRASH_YAML)
    with pytest.raises(OperationFailed) as failed:
        w.apps.deploy_and_wait(
            app.name, AppDeployment(source_code_path=src), timeout=timedelta(seconds=60)
        )
    assert "exited with code 4" in str(failed.value)
    assert "bad config" in str(failed.value)
    logs = urllib.request.urlopen(emulator.admin_url + f"/apps/{app.name}/logs", timeout=10).read()
    assert b"bad config" in logs


def test_app_permissions_grant_can_use(emulator):
    w = emulator.client()
    bob = emulator.admin("POST", "/users", {"email": "bob@example.com"})
    perms = w.apps.update_permissions(
        emulator.app,
        access_control_list=[
            AppAccessControlRequest(user_name="bob@example.com", permission_level=AppPermissionLevel.CAN_USE)
        ],
    )
    levels = {
        (a.user_name, a.all_permissions[0].permission_level) for a in perms.access_control_list if a.user_name
    }
    assert (emulator.user, AppPermissionLevel.CAN_MANAGE) in levels
    assert ("bob@example.com", AppPermissionLevel.CAN_USE) in levels
    with pytest.raises(PermissionDenied):
        emulator.client(token=bob["token"]).apps.stop(emulator.app)
