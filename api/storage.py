"""Stored files: uploaded artworks and job outputs, under one root folder.

Keys are relative paths chosen by the caller (``artworks/ab/abcd....png``,
``jobs/JOB_ID/print.tif``); a key can never leave the root. Writes are atomic (temporary
file, fsync, rename), so a reader never sees half a file and the same job id always rewrites
the same keys with the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from preflight.fileio import write_atomically

__all__ = ["Storage", "StorageKeyError"]

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


class StorageKeyError(ValueError):
    """A key that is not a plain relative path (a programming error, never user input)."""


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / ".incoming").mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise StorageKeyError(f"invalid storage key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        write_atomically(self.path(key), data)

    def adopt(self, key: str, temporary: Path) -> None:
        """Move a finished temporary file (from :meth:`incoming`) to ``key`` atomically."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def incoming(self) -> Path:
        """A fresh temporary file on the storage's own filesystem, for streaming uploads."""
        fd, name = tempfile.mkstemp(dir=self.root / ".incoming", suffix=".part")
        os.close(fd)
        return Path(name)

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def check_writable(self) -> None:
        """Raise ``OSError`` unless a file can be written and removed under the root."""
        probe = self.incoming()
        try:
            probe.write_bytes(b"ok")
        finally:
            probe.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free
