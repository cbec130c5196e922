"""A file's SHA-256 beside it, as ``<file>.sha256`` in ``sha256sum`` format (``sha256sum -c`` checks it).

Shared by the run checkpoints and the world's shipped weights: both are written with their
checksum and refused on reading when the file no longer matches it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ._atomic import atomic_write_text

_CHUNK = 1 << 20


def checksum_path(path: str | os.PathLike) -> Path:
    """Where the checksum of ``path`` is kept: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's content, hex (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksum(path: str | os.PathLike, digest: str) -> Path:
    """Record ``digest`` as the SHA-256 of ``path`` (atomically); return the checksum file."""
    return atomic_write_text(checksum_path(path), f"{digest}  {Path(path).name}\n")


def recorded_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 recorded for ``path`` in its checksum file ("" when that file is empty)."""
    fields = checksum_path(path).read_text(encoding="utf-8").split()
    return fields[0] if fields else ""


__all__ = ["checksum_path", "file_sha256", "recorded_sha256", "write_checksum"]
