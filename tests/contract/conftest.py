"""Fixtures for the contract tests: a fresh kiln-emulator process per test, and official
``WorkspaceClient`` objects pointed at it.

The emulator binary is ``$KILN_EMULATOR_BIN`` (default ``target/debug/kiln-emulator`` under
the repository root). It is started with ``--port 0`` and prints ``KEY=VALUE`` lines, ending
with ``KILN_EMULATOR_READY=1``. The SDK must reach nothing but the emulator, so every
inherited ``DATABRICKS_*`` variable is removed and no ``~/.databrickscfg`` is consulted.
"""

import json
import os
import pathlib
import subprocess
import threading
import urllib.request

import pytest
from databricks.sdk import WorkspaceClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30


class Emulator:
    """A running kiln-emulator process and what it printed."""

    def __init__(self, proc, info):
        self.proc = proc
        self.info = info
        self.host = info["DATABRICKS_HOST"]
        self.token = info["DATABRICKS_TOKEN"]
        self.user = info["KILN_EMULATOR_USER"]
        self.app = info["DATABRICKS_APP_NAME"]
        self.client_id = info["DATABRICKS_CLIENT_ID"]
        self.client_secret = info["DATABRICKS_CLIENT_SECRET"]
        self.admin_url = info["KILN_EMULATOR_ADMIN"]

    def admin(self, method, path, body=None):
        """Calls the emulator's admin API and returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.admin_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")

    def advance(self, seconds):
        """Moves the emulator clock forward."""
        return self.admin("POST", "/clock/advance", {"seconds": seconds})

    def client(self, token=None):
        """A WorkspaceClient authenticating with a PAT (the user's by default)."""
        return WorkspaceClient(host=self.host, token=token or self.token, auth_type="pat")

    def sp_client(self):
        """A WorkspaceClient authenticating as the app's service principal (OAuth M2M)."""
        return WorkspaceClient(
            host=self.host,
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_type="oauth-m2m",
        )


def _binary():
    path = pathlib.Path(os.environ.get("KILN_EMULATOR_BIN", ROOT / "target" / "debug" / "kiln-emulator"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        pytest.fail(f"kiln-emulator binary not found at {path}; run `cargo build -p kiln-emulator`")
    return path


@pytest.fixture(autouse=True)
def clean_databricks_env(monkeypatch, tmp_path):
    """No inherited Databricks configuration reaches the SDK."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "GOOGLE_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABRICKS_CONFIG_FILE", str(tmp_path / "no-databrickscfg"))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def emulator():
    """A fresh emulator for one test; stopped afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABRICKS_")}
    env.setdefault("RUST_LOG", "kiln_emulator=warn")
    proc = subprocess.Popen(
        [str(_binary()), "--port", "0", "--user", "alice@example.com", "--app", "kiln"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    info = {}
    ready = threading.Event()

    def read():
        for line in proc.stdout:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                info[key] = value
                if key == "KILN_EMULATOR_READY":
                    ready.set()
                    return

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S):
        proc.kill()
        pytest.fail("kiln-emulator did not print KILN_EMULATOR_READY=1 in time")
    emu = Emulator(proc, info)
    try:
        yield emu
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
