"""Workspace upload / list / download / delete, and the documented errors."""

import io

import pytest
from databricks.sdk.errors import NotFound, ResourceAlreadyExists, DatabricksError
from databricks.sdk.service.workspace import ImportFormat, Language, ObjectType


def test_workspace_round_trip(emulator):
    w = emulator.client()
    home = f"/Users/{emulator.user}"
    folder = f"{home}/contract"
    w.workspace.mkdirs(folder)
    w.workspace.upload(f"{folder}/notes.txt", io.BytesIO(b"hello workspace\n"), format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/job.py", b"print('hi')\n", language=Language.PYTHON)

    objects = {o.path: o for o in w.workspace.list(folder)}
    assert objects[f"{folder}/notes.txt"].object_type == ObjectType.FILE
    assert objects[f"{folder}/notes.txt"].size == len(b"hello workspace\n")
    assert objects[f"{folder}/job.py"].object_type == ObjectType.NOTEBOOK

    assert w.workspace.download(f"{folder}/notes.txt").read() == b"hello workspace\n"
    status = w.workspace.get_status(f"/Workspace{folder}/notes.txt")
    assert status.object_type == ObjectType.FILE

    w.workspace.delete(f"{folder}/notes.txt")
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{folder}/notes.txt")


def test_workspace_errors(emulator):
    w = emulator.client()
    folder = f"/Users/{emulator.user}/errors"
    w.workspace.mkdirs(folder)
    w.workspace.upload(f"{folder}/a.txt", b"a", format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{folder}/a.txt", b"b", format=ImportFormat.AUTO)
    w.workspace.upload(f"{folder}/a.txt", b"b", format=ImportFormat.AUTO, overwrite=True)
    assert w.workspace.download(f"{folder}/a.txt").read() == b"b"

    with pytest.raises(DatabricksError) as err:
        w.workspace.delete(folder)
    assert err.value.error_code == "DIRECTORY_NOT_EMPTY"
    w.workspace.delete(folder, recursive=True)

    with pytest.raises(NotFound):
        w.workspace.upload(f"/Users/{emulator.user}/missing/parent.txt", b"x", format=ImportFormat.AUTO)
    with pytest.raises(NotFound):
        list(w.workspace.list(f"/Users/{emulator.user}/nothing-here"))


def _import_file(emulator, w, path, data, overwrite=True):
    """The raw import-file upload `databricks sync` and kiln use (no SDK wrapper exists)."""
    return w.api_client.do(
        "POST",
        f"/api/2.0/workspace-files/import-file/{path.lstrip('/')}",
        query={"overwrite": "true" if overwrite else "false"},
        data=data,
    )


def test_sync_upload_rules(emulator):
    """What kiln sync relies on: import-file keeps plain bytes as a FILE, turns a header .py and
    an .ipynb into notebooks without the extension, RAW import keeps them files, large files
    stop at the size limit, and recursive listing / directory delete behave as documented."""
    w = emulator.client()
    root = f"/Users/{emulator.user}/projects/demo"
    w.workspace.mkdirs(f"{root}/sub dir/ü")
    binary = bytes(range(256)) * 4
    _import_file(emulator, w, f"{root}/sub dir/ü/blob.bin", binary)
    assert w.workspace.download(f"{root}/sub dir/ü/blob.bin", format=ImportFormat.AUTO).read() == binary

    header = b"# Databricks notebook source\nprint(1)\n"
    _import_file(emulator, w, f"{root}/nb.py", header)
    assert w.workspace.get_status(f"{root}/nb").object_type == ObjectType.NOTEBOOK
    with pytest.raises(NotFound):
        w.workspace.get_status(f"{root}/nb.py")

    w.workspace.upload(f"{root}/kept.py", header, format=ImportFormat.RAW, overwrite=True)
    assert w.workspace.get_status(f"{root}/kept.py").object_type == ObjectType.FILE
    assert w.workspace.download(f"{root}/kept.py", format=ImportFormat.AUTO).read() == header
    w.workspace.upload(f"{root}/kept.ipynb", b'{"cells": []}', format=ImportFormat.RAW, overwrite=True)
    assert w.workspace.get_status(f"{root}/kept.ipynb").object_type == ObjectType.FILE

    paths = sorted(o.path for o in w.workspace.list(root, recursive=True))
    assert paths == sorted(
        [f"{root}/nb", f"{root}/kept.py", f"{root}/kept.ipynb", f"{root}/sub dir/ü/blob.bin"]
    )

    emulator.admin("PUT", "/settings", {"max_workspace_file_bytes": 1024})
    with pytest.raises(DatabricksError) as err:
        _import_file(emulator, w, f"{root}/big.bin", b"x" * 1025)
    assert err.value.error_code == "MAX_FILE_SIZE_EXCEEDED"
    _import_file(emulator, w, f"{root}/small.bin", b"x" * 1024)

    # An existing notebook is never replaced by a file upload.
    with pytest.raises(DatabricksError):
        _import_file(emulator, w, f"{root}/nb", b"plain")

    with pytest.raises(DatabricksError) as err:
        w.workspace.delete(f"{root}/sub dir")
    assert err.value.error_code == "DIRECTORY_NOT_EMPTY"
    w.workspace.delete(f"{root}/sub dir/ü/blob.bin")
    w.workspace.delete(f"{root}/sub dir/ü")
    with pytest.raises(NotFound):
        w.workspace.delete(f"{root}/sub dir/ü")
