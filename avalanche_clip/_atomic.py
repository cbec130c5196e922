"""Atomic file writes: a reader or a crash never sees a half-written file.

The content goes to a temporary file in the target's directory, is flushed to disk, then
``os.replace``d over the target, which POSIX and Windows do atomically. The file gets the mode a
plain ``open`` would give it (0666 less the umask), not the temporary file's private 0600, so
results on a shared filesystem stay readable by the group.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def _file_mode() -> int:
    """0666 less the process's umask (``os.umask`` sets it and it is set back: the portable way to read it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically through ``write(binary_file)`` (creating its directory).

    ``write`` may be anything that writes to a binary file object: ``np.savez``,
    ``torch.save``, ``file.write``. Returns the path. An ``OSError`` (``ENOSPC``: the disk is
    full) is raised again naming ``path``, with the same errno; ``path`` is then unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):
                os.fchmod(file.fileno(), _file_mode())
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError as error:  # a full disk, a lost permission: say which file, and that the old one is intact
        Path(temporary).unlink(missing_ok=True)
        raise OSError(error.errno, f"{error.strerror or error} while writing {path}; the previous {path.name} "
                      "(if any) is unchanged") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    return atomic_write(path, lambda file: file.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]
