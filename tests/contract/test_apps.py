"""Apps get as the user and as the app's own service principal."""

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied
from databricks.sdk.service.apps import ComputeState


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
