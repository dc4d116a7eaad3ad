"""Fault injection seen through the SDK's retry policy."""


def test_sdk_retries_429_with_retry_after(emulator):
    emulator.admin(
        "POST",
        "/faults",
        {"path": "/api/2.0/preview/scim/v2/Me", "times": 1, "kind": "rate_limit", "retry_after_secs": 1},
    )
    assert emulator.client().current_user.me().user_name == emulator.user
    statuses = [r["status"] for r in emulator.admin("GET", "/requests")["requests"]
                if r["path"] == "/api/2.0/preview/scim/v2/Me"]
    assert statuses == [429, 200]
