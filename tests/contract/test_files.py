"""Files API on /Volumes: upload / download / metadata / list / delete."""

import io

import pytest
from databricks.sdk.errors import NotFound


def test_files_round_trip(emulator):
    w = emulator.client()
    base = "/Volumes/main/agents/scripts"
    path = f"{base}/init/init.sh"
    body = b"#!/bin/bash\necho hello from a volume\n"
    w.files.upload(path, io.BytesIO(body), overwrite=True)

    got = w.files.download(path)
    assert got.contents.read() == body

    meta = w.files.get_metadata(path)
    assert meta.content_length == len(body)

    entries = {e.name: e for e in w.files.list_directory_contents(f"{base}/init")}
    assert entries["init.sh"].file_size == len(body)
    assert entries["init.sh"].is_directory is False

    w.files.delete(path)
    with pytest.raises(NotFound):
        w.files.get_metadata(path)
    with pytest.raises(NotFound):
        w.files.delete(path)


def test_directories(emulator):
    w = emulator.client()
    d = "/Volumes/main/agents/scripts/a/b"
    w.files.create_directory(d)
    w.files.get_directory_metadata(d)
    w.files.upload(f"{d}/x.txt", io.BytesIO(b"x"), overwrite=True)
    names = [e.name for e in w.files.list_directory_contents("/Volumes/main/agents/scripts/a")]
    assert names == ["b"]
    w.files.delete(f"{d}/x.txt")
    w.files.delete_directory(d)
    with pytest.raises(NotFound):
        w.files.get_directory_metadata(d)
