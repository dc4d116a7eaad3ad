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
