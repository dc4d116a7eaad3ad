"""`kiln cluster bundle` against the Databricks CLI's published bundle JSON schema.

The schema is `bundle/schema/jsonschema.json` of github.com/databricks/cli at commit
7bbe2852131bc5c4a6c7bad5f147bc7772eedf9f (2026-08-21), SHA-256 below. It is not committed to
this repository (the copy is third-party data): the test reads it from `$KILN_BUNDLE_SCHEMA`,
else `<repo>/../shared/reference/databricks-bundle-schema.json`, checks its SHA-256, and is
skipped with that reason when neither exists.

Each target is resolved as the CLI does before validating: the included files merged into the
root, the target's overrides merged (maps merged, sequences concatenated, scalars replaced;
`variables` overwritten), variable defaults replaced by the target's values, and every
`${var.*}`, `${bundle.*}` and `${workspace.*}` reference substituted (complex variables as
whole values). The resolved documents, and the unresolved one, must validate.

Without the schema the rest still runs: the bundle's keys, targets and variables; each target
resolved; the resolved cluster round-tripped through the official SDK's `ClusterSpec`; and each
target deployed to kiln-emulator as `databricks bundle deploy` would, then started.
"""

import copy
import json
import glob
import hashlib
import os
import pathlib
import io
import re
import struct
import subprocess

import jsonschema
import pytest
import yaml
from databricks.sdk.service import compute
from databricks.sdk.service.workspace import ImportFormat

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA_SHA256 = "c3e8df8f2e1372d7dfbdb614242c8fbd4c20fe7c81f5ae2d935833b6953546ca"
USER = "jo.doe@example.com"
# A stand-in for the kiln binary that passes kiln's binary checks: the ELF header of a static
# Linux x86_64 executable (no program or section headers: nothing that needs a glibc).
STAND_IN = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0)
HOST = "https://dbc-1234.cloud.databricks.com"


def schema_path():
    env = os.environ.get("KILN_BUNDLE_SCHEMA")
    if env:
        return pathlib.Path(env)
    return ROOT.parent / "shared" / "reference" / "databricks-bundle-schema.json"


@pytest.fixture(scope="module")
def schema():
    path = schema_path()
    if not path.is_file():
        pytest.skip(f"no bundle schema at {path} (set KILN_BUNDLE_SCHEMA; see this file's header)")
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, f"{path} is not the pinned schema"
    # The schema's patterns use \\p{L} / \\p{N} (Go's RE2), which Python's re lacks: rewrite
    # them to equivalents ([\\p{L}\\p{N}] is [^\\W_], a lone \\p{L} is [^\\W\\d_]).
    text = raw.decode()
    text = text.replace("[\\\\p{L}\\\\p{N}]", "[^\\\\W_]")
    text = text.replace("\\\\p{L}", "[^\\\\W\\\\d_]").replace("\\\\p{N}", "\\\\d")
    assert "\\p{" not in text
    return json.loads(text)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle")
    binary = out.parent / "kiln-standin"
    binary.write_bytes(STAND_IN)
    kiln = os.environ.get("KILN_BIN", str(ROOT / "target" / "debug" / "kiln"))
    done = subprocess.run(
        [kiln, "cluster", "bundle", "--out", str(out / "b"), "--binary", str(binary)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out / "b"


def load(bundle_dir):
    root = yaml.safe_load((bundle_dir / "databricks.yml").read_text())
    for pattern in root.get("include", []):
        for f in sorted(glob.glob(str(bundle_dir / pattern))):
            merge(root, yaml.safe_load(pathlib.Path(f).read_text()))
    return root


def merge(a, b):
    """The CLI's merge: maps recursively, sequences concatenated, scalars replaced."""
    for k, v in b.items():
        if k in a and isinstance(a[k], dict) and isinstance(v, dict):
            merge(a[k], v)
        elif k in a and isinstance(a[k], list) and isinstance(v, list):
            a[k] = a[k] + v
        else:
            a[k] = copy.deepcopy(v)
    return a


REF = re.compile(r"\$\{([a-zA-Z0-9_.]+)\}")


def resolve(doc, target, user=USER, host=HOST):
    doc = copy.deepcopy(doc)
    t = doc.get("targets", {}).get(target, {})
    for key in ("workspace", "resources", "presets", "sync", "permissions", "run_as"):
        if key in t:
            doc[key] = merge(doc.get(key, {}), t[key])
    for name, value in t.get("variables", {}).items():
        doc["variables"][name]["default"] = value  # overwritten, never merged
    short = re.sub(r"[^a-zA-Z0-9_-]", "_", user.split("@")[0])
    ws = doc.setdefault("workspace", {})
    root = ws.get("root_path", "~/.bundle/${bundle.name}/${bundle.target}")
    root = root.replace("~", f"/Workspace/Users/{user}", 1)
    values = {
        "bundle.name": doc["bundle"]["name"],
        "bundle.target": target,
        "workspace.host": host,
        "workspace.current_user.userName": user,
        "workspace.current_user.short_name": short,
    }
    values["workspace.root_path"] = sub(root, values)
    values["workspace.file_path"] = values["workspace.root_path"] + "/files"
    ws["root_path"] = values["workspace.root_path"]
    variables = {n: v.get("default") for n, v in doc["variables"].items()}
    for _ in range(10):  # variables may reference variables
        variables = {n: subst(v, values, variables) for n, v in variables.items()}
    for n, v in variables.items():
        doc["variables"][n]["default"] = v
    doc["resources"] = subst(doc["resources"], values, variables)
    if t.get("mode") == "development":
        for c in doc["resources"].get("clusters", {}).values():
            c["cluster_name"] = f"[dev {short}] {c['cluster_name']}"
            c.setdefault("custom_tags", {})["dev"] = short
    return doc


def sub(text, values):
    return REF.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


def subst(v, values, variables):
    if isinstance(v, dict):
        return {k: subst(x, values, variables) for k, x in v.items()}
    if isinstance(v, list):
        return [subst(x, values, variables) for x in v]
    if not isinstance(v, str):
        return v
    whole = REF.fullmatch(v)
    if whole and whole.group(1).startswith("var."):
        name = whole.group(1)[4:]
        return copy.deepcopy(variables.get(name, v))

    def one(m):
        ref = m.group(1)
        if ref.startswith("var."):
            val = variables.get(ref[4:])
            return val if isinstance(val, str) else m.group(0)
        return str(values.get(ref, m.group(0)))

    return REF.sub(one, v)


def unresolved(v):
    return [s for s in walk(v) if isinstance(s, str) and REF.search(s)]


def walk(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
    else:
        yield v


def test_the_bundle_as_written_is_valid(schema, bundle):
    doc = load(bundle)
    jsonschema.validate(doc, schema)
    assert set(doc["targets"]) == {"dev", "prod"}
    assert doc["targets"]["dev"]["default"] is True
    assert (bundle / "src" / "kiln-init.sh").is_file()
    assert (bundle / "src" / "kiln").read_bytes() == STAND_IN


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_each_target_resolved_is_valid(schema, bundle, target):
    doc = resolve(load(bundle), target)
    assert unresolved(doc["resources"]) == []
    jsonschema.validate(doc, schema)


# What follows needs no schema: the bundle's structure, its resolved targets, and the resolved
# cluster checked against the official SDK's types and deployed to kiln-emulator as
# `databricks bundle deploy` would (the Clusters API validates the spec there).

BUNDLE_KEYS = {"bundle", "include", "variables", "targets", "workspace", "resources", "sync", "presets", "permissions", "run_as", "artifacts", "experimental"}
TARGET_KEYS = {"default", "mode", "workspace", "variables", "resources", "presets", "run_as", "permissions", "sync", "git", "cluster_id"}
# Keys a bundle's cluster resource may have beyond the Clusters API's spec.
BUNDLE_ONLY_CLUSTER_KEYS = {"permissions", "lifecycle"}


def test_the_bundle_structure(bundle):
    doc = load(bundle)
    assert set(doc) <= BUNDLE_KEYS, set(doc) - BUNDLE_KEYS
    assert doc["bundle"]["name"] == "kiln"
    assert set(doc["targets"]) == {"dev", "prod"}
    assert [t for t, v in doc["targets"].items() if v.get("default")] == ["dev"]
    assert doc["targets"]["dev"]["mode"] == "development"
    assert doc["targets"]["prod"]["mode"] == "production"
    for name, t in doc["targets"].items():
        assert set(t) <= TARGET_KEYS, (name, set(t) - TARGET_KEYS)
        # A target may only set variables the bundle declares.
        assert set(t.get("variables", {})) <= set(doc["variables"]), name
    for name, v in doc["variables"].items():
        assert set(v) <= {"description", "default", "type", "lookup"}, name
        assert isinstance(v.get("description"), str) and v["description"], f"variable {name} is described"
    for var in ("node_type_id", "data_security_mode", "catalog", "schema", "volume", "secret_scope", "secret_key"):
        assert var in doc["variables"], var
    # Every ${var.x} anywhere refers to a declared variable.
    refs = {m.group(1)[4:] for s in walk(doc) if isinstance(s, str) for m in REF.finditer(s) if m.group(1).startswith("var.")}
    assert refs <= set(doc["variables"]), refs - set(doc["variables"])
    assert set(doc["resources"]) == {"clusters"} and set(doc["resources"]["clusters"]) == {"kiln"}


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_each_target_resolved(bundle, target):
    doc = resolve(load(bundle), target)
    assert unresolved(doc["resources"]) == []
    c = doc["resources"]["clusters"]["kiln"]
    env = c["spark_env_vars"]
    assert env["KILN_DATABRICKS_TOKEN"] == "{{secrets/kiln/databricks-token}}"
    assert env["KILN_DATABRICKS_HOST"] == HOST
    assert c["num_workers"] == 0 and c["custom_tags"]["ResourceClass"] == "SingleNode"
    assert c["custom_tags"]["kiln_deployment"] == f"kiln-{target}"
    if target == "dev":
        src = f"/Workspace/Users/{USER}/.bundle/kiln/dev/files/src"
        assert c["data_security_mode"] == "SINGLE_USER"
        assert c["node_type_id"] == "m6i.xlarge"
        assert c["init_scripts"] == [{"workspace": {"destination": f"{src}/kiln-init.sh"}}]
        assert c["cluster_name"] == "[dev jo_doe] kiln-agents"
    else:
        src = "/Volumes/main/kiln/init_scripts"
        assert c["data_security_mode"] == "USER_ISOLATION"
        assert c["node_type_id"] == "m6i.2xlarge"
        assert c["init_scripts"] == [{"volumes": {"destination": f"{src}/kiln-init.sh"}}]
        assert doc["workspace"]["root_path"] == "/Workspace/Shared/.bundle/kiln/prod"
    assert env["KILN_CLUSTER_SOURCE"] == src
    # Every field is one of the Clusters API's (the SDK's ClusterSpec, generated from the
    # published API spec), with values of its types: a typed round trip loses nothing.
    api = {k: v for k, v in c.items() if k not in BUNDLE_ONLY_CLUSTER_KEYS}
    assert compute.ClusterSpec.from_dict(api).as_dict() == api


def _deploy_like_the_cli(emulator, bundle, target):
    """Uploads src/ where the resolved target says, creates the secret and the cluster."""
    w = emulator.client()
    doc = resolve(load(bundle), target, emulator.user, emulator.host)
    c = doc["resources"]["clusters"]["kiln"]
    assert c["spark_env_vars"]["KILN_DATABRICKS_HOST"] == emulator.host
    src = c["spark_env_vars"]["KILN_CLUSTER_SOURCE"]
    for name in ("kiln-init.sh", "kiln"):
        body = (bundle / "src" / name).read_bytes()
        if src.startswith("/Volumes/"):
            w.files.upload(f"{src}/{name}", io.BytesIO(body), overwrite=True)
        else:
            w.workspace.mkdirs(src)
            w.workspace.upload(f"{src}/{name}", io.BytesIO(body), format=ImportFormat.AUTO, overwrite=True)
    w.secrets.create_scope("kiln")
    w.secrets.put_secret("kiln", "databricks-token", string_value="dapi-bundle-secret")
    spec = compute.ClusterSpec.from_dict({k: v for k, v in c.items() if k not in BUNDLE_ONLY_CLUSTER_KEYS})
    fields = {f: getattr(spec, f) for f in spec.__dataclass_fields__ if getattr(spec, f) is not None}
    cid = w.clusters.create(**fields).response.cluster_id
    return w, cid, c


@pytest.mark.parametrize("target", ["dev", "prod"])
def test_each_target_deploys_and_starts_on_the_emulator(emulator, bundle, target):
    w, cid, c = _deploy_like_the_cli(emulator, bundle, target)
    emulator.advance(600)
    got = w.clusters.get(cid)
    assert got.state.value == "RUNNING", got.state_message
    assert got.cluster_name == c["cluster_name"]
    assert got.data_security_mode.value == c["data_security_mode"]
    recorded = emulator.admin("GET", f"/clusters/{cid}/init-scripts")["init_scripts"]
    assert recorded[0]["content"] == (bundle / "src" / "kiln-init.sh").read_text()
    # The token reaches the init script's environment resolved from the secret scope.
    assert recorded[0]["env"]["KILN_DATABRICKS_TOKEN"] == "dapi-bundle-secret"
    assert recorded[0]["env"]["KILN_CLUSTER_SOURCE"] == c["spark_env_vars"]["KILN_CLUSTER_SOURCE"]


def test_a_broken_cluster_is_caught(schema, bundle):
    """The validation has teeth: a wrong type in the resolved cluster fails."""
    doc = resolve(load(bundle), "dev")
    doc["resources"]["clusters"]["kiln"]["num_workers"] = "zero"
    doc["resources"]["clusters"]["kiln"]["no_such_field"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
