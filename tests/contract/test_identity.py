"""SCIM Me, personal access tokens (create / list / delete / expiry) and OAuth M2M, driven by
the official databricks-sdk."""

import pytest
from databricks.sdk.errors import NotFound, PermissionDenied


def test_me_as_user(emulator):
    me = emulator.client().current_user.me()
    assert me.user_name == emulator.user
    assert me.active is True
    assert me.emails[0].value == emulator.user
    assert me.id


def test_token_create_list_delete(emulator):
    w = emulator.client()
    created = w.tokens.create(comment="contract test", lifetime_seconds=900)
    assert created.token_value.startswith("dapi")
    info = created.token_info
    assert info.comment == "contract test"
    assert info.expiry_time - info.creation_time == 900 * 1000

    ids = [t.token_id for t in w.tokens.list()]
    assert info.token_id in ids

    # The new token works on its own.
    assert emulator.client(created.token_value).current_user.me().user_name == emulator.user

    w.tokens.delete(info.token_id)
    assert info.token_id not in [t.token_id for t in w.tokens.list()]
    with pytest.raises(PermissionDenied):
        emulator.client(created.token_value).current_user.me()
    with pytest.raises(NotFound):
        w.tokens.delete(info.token_id)


def test_expired_token_is_refused(emulator):
    w = emulator.client()
    short = w.tokens.create(comment="short", lifetime_seconds=60)
    assert emulator.client(short.token_value).current_user.me().user_name == emulator.user

    emulator.advance(61)

    with pytest.raises(PermissionDenied) as err:
        emulator.client(short.token_value).current_user.me()
    assert "Invalid access token" in str(err.value)
    # Expired tokens disappear from the list; the seeded token still works.
    assert short.token_info.token_id not in [t.token_id for t in w.tokens.list()]
    assert w.current_user.me().user_name == emulator.user


def test_oauth_m2m_service_principal(emulator):
    sp = emulator.sp_client()
    me = sp.current_user.me()
    assert me.user_name == emulator.client_id
    log = emulator.admin("GET", "/requests")["requests"]
    paths = [r["path"] for r in log]
    assert "/oidc/v1/token" in paths
    me_calls = [r for r in log if r["path"] == "/api/2.0/preview/scim/v2/Me"]
    assert me_calls[-1]["identity"] == emulator.client_id
    assert me_calls[-1]["status"] == 200

