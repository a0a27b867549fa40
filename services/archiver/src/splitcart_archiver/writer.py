"""Where archives live under the output root, and writing them atomically.

Layout (relative to ``SPLITCART_ARCHIVE_ROOT``):

- ``company_data/{company}.json``
- ``store_data/{company}/{safe store id}.json``

The safe store id replaces every character outside ``[A-Za-z0-9._-]`` with ``_``
(``COL:858`` -> ``COL_858``) so the name is valid on every filesystem and in S3 keys; the
JSON inside keeps the exact ``store_id``.

A file is written to a temporary sibling, flushed and fsynced, then renamed over the
target: readers see the previous file or the new one, never a partial one, and a crash
mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_BUFFER = 1 << 20


def safe_name(store_id: str) -> str:
    name = _UNSAFE.sub("_", store_id)
    # "." and ".." (or a hidden file) would not be the store's own file name.
    return f"_{name}" if name.startswith(".") or not name else name


def company_path(company: str) -> str:
    return f"company_data/{safe_name(company)}.json"


def store_path(company: str, store_id: str) -> str:
    return f"store_data/{safe_name(company)}/{safe_name(store_id)}.json"


@dataclass(frozen=True)
class Written:
    sha256: str
    bytes: int


class Sink:
    """Buffered writes that also hash and count what they write. Products arrive a few
    hundred bytes at a time, so they are gathered into ~1 MB blocks first."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._hash = hashlib.sha256()
        self._block = bytearray()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self._block += data
        if len(self._block) >= _BUFFER:
            self.flush()

    def flush(self) -> None:
        self._handle.write(self._block)
        self._hash.update(self._block)
        self.bytes += len(self._block)
        self._block.clear()

    def result(self) -> Written:
        return Written(self._hash.hexdigest(), self.bytes)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Sink]:
    """Write ``target`` through a temporary sibling renamed over it on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            sink = Sink(handle)
            yield sink
            sink.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; archives are published
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
