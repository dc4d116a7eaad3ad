"""Starts kiln on Databricks Apps (written by `kiln app package` / `kiln app deploy`).

app.yaml runs `python3 launch.py serve` without a shell. Workspace files may lose their
executable bit and may not exceed 10 MB each, so the kiln binary ships gzip-compressed in
parts (bin/kiln.gz.NN). This script checks the parts against kiln-binary.json (sha256),
decompresses them into a writable directory, marks the result executable and replaces
itself with `kiln serve` (exec: same process, so SIGTERM from the platform reaches kiln).
It also makes sure HOME is a writable directory: kiln, npm and pip write below it.
"""

import gzip
import hashlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHUNK = 1 << 20


def fail(message):
    sys.stderr.write("kiln launch: " + message + "\n")
    sys.stderr.flush()
    sys.exit(1)


def writable_dir(path):
    """Creates path (0700) when missing; True when it is a directory this user can write."""
    if not path:
        return False
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def choose_home():
    """HOME if usable, else a private directory under the temporary directory."""
    home = os.environ.get("HOME", "")
    if writable_dir(home):
        return home
    fallback = os.path.join(tempfile.gettempdir(), "kiln-home-%d" % os.getuid())
    if not writable_dir(fallback):
        fail("no writable home directory: HOME=%r and %s are not writable" % (home, fallback))
    sys.stderr.write("kiln launch: HOME=%r is not writable; using %s\n" % (home, fallback))
    os.environ["HOME"] = fallback
    return fallback


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_parts(manifest):
    """Hashes the concatenated parts; returns their paths."""
    paths = []
    digest = hashlib.sha256()
    for name in manifest["parts"]:
        if os.path.isabs(name) or ".." in name.split("/"):
            fail("kiln-binary.json names a part outside the app: %r" % name)
        path = os.path.join(HERE, name)
        try:
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    digest.update(block)
        except OSError as e:
            fail("cannot read %s: %s (redeploy the app: `kiln app deploy`)" % (name, e))
        paths.append(path)
    if digest.hexdigest() != manifest["gzip_sha256"]:
        fail("the binary's parts do not match kiln-binary.json (an incomplete upload?): "
             "redeploy the app with `kiln app deploy`")
    return paths


class Parts:
    """The parts read one after another as one file (what gzip decompresses)."""

    def __init__(self, paths):
        self.paths = list(paths)
        self.current = None

    def read(self, size=-1):
        while True:
            if self.current is None:
                if not self.paths:
                    return b""
                self.current = open(self.paths.pop(0), "rb")
            data = self.current.read(size if size and size > 0 else CHUNK)
            if data:
                return data
            self.current.close()
            self.current = None


def unpack(manifest, target):
    """Decompresses the parts into target (atomically), checking size and sha256."""
    paths = check_parts(manifest)
    directory = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(prefix=".kiln-", dir=directory)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, gzip.GzipFile(fileobj=Parts(paths), mode="rb") as gz:
            for block in iter(lambda: gz.read(CHUNK), b""):
                digest.update(block)
                size += len(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != manifest["size"] or digest.hexdigest() != manifest["sha256"]:
            fail("the decompressed binary does not match kiln-binary.json: redeploy the app")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        fail("cannot unpack the kiln binary: %s" % e)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main():
    home = choose_home()
    try:
        with open(os.path.join(HERE, "kiln-binary.json"), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        fail("cannot read kiln-binary.json: %s" % e)
    bin_dir = os.path.join(home, ".kiln", "bin")
    if not writable_dir(bin_dir):
        fail("cannot create %s" % bin_dir)
    target = os.path.join(bin_dir, "kiln-" + manifest["sha256"][:16])
    if not (os.path.isfile(target) and sha256_file(target) == manifest["sha256"]):
        unpack(manifest, target)
    os.chmod(target, 0o755)
    for name in os.listdir(bin_dir):
        if name.startswith("kiln-") and os.path.join(bin_dir, name) != target:
            try:
                os.unlink(os.path.join(bin_dir, name))
            except OSError:
                pass
    link = os.path.join(bin_dir, "kiln")
    try:
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.basename(target), link)
    except OSError:
        pass
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    sys.stdout.write("kiln launch: starting %s (kiln %s)\n" % (target, manifest.get("version", "?")))
    sys.stdout.flush()
    args = sys.argv[1:] or ["serve"]
    os.execv(target, ["kiln"] + args)


if __name__ == "__main__":
    main()
