"""Reading the files a dataset is built from, with errors that name the file and the fix.

Every loader checks its input here at construction: a missing file or folder raises
``FileNotFoundError`` naming the expected path and where to get it; a malformed JSON file or a
missing key raises ``ValueError`` naming the file, the key and the expected format.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

COCO_URL = "https://cocodataset.org/#download"
KARPATHY_URL = "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"


def _as_path(path: Any, what: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or (isinstance(path, str) and ("\0" in path or not path)):
        raise TypeError(f"The {what} must be a non-empty path without NUL bytes, got {type(path).__name__} "
                        f"{path!r:.60}.")
    return Path(path).expanduser()


def require_file(path: str | os.PathLike, *, what: str, get: str) -> Path:
    """Return ``path`` as a Path if it is a file, else raise a FileNotFoundError.

    Args:
        path: the expected file.
        what: what the file is, for the message (``"COCO instances file"``).
        get: where to get it, for the message.
    """
    path = _as_path(path, what)
    if not path.is_file():
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"The {what} {str(path)!r} {state}. Expected {get}.")
    return path


def require_dir(path: str | os.PathLike, *, what: str, get: str) -> Path:
    """Return ``path`` as a Path if it is a folder, else raise a FileNotFoundError."""
    path = _as_path(path, what)
    if not path.is_dir():
        state = "is a file, not a folder" if path.is_file() else "does not exist"
        raise FileNotFoundError(f"The {what} {str(path)!r} {state}. Expected {get}.")
    return path


def read_json(path: Path, *, what: str) -> Any:
    """Parse the JSON file ``path``; a malformed file raises a ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"The {what} {str(path)!r} is not valid JSON: {error}.") from error


def require_keys(record: Any, keys: Iterable[str], *, where: str, expected: str) -> Mapping[str, Any]:
    """Return ``record`` if it is a mapping holding every key, else raise a ValueError.

    Args:
        record: a parsed JSON object.
        keys: the keys it must hold.
        where: the file (and entry) it comes from, for the message.
        expected: the expected format, for the message.
    """
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}. Expected {expected}.")
    missing = [k for k in keys if k not in record]
    if missing:
        raise ValueError(f"{where}: missing key(s) {missing}. Expected {expected}.")
    return record


def require_list(value: Any, *, where: str, expected: str) -> list:
    """Return ``value`` if it is a JSON list, else raise a ValueError."""
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}. Expected {expected}.")
    return value


def check_files_exist(paths: Iterable[Path], *, listed_in: str, get: str) -> None:
    """Raise a FileNotFoundError if any of ``paths`` is not a file (one stat per file).

    The message gives the number missing and the first few paths, so a wrong root folder is
    recognised at once.
    """
    missing = [str(p) for p in paths if not _is_file(p)]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} image(s) listed in {listed_in} are missing, e.g. {missing[:3]}. "
            f"Check the images folder; expected {get}."
        )


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False also for a name the OS refuses (too long, a NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def file_signature(path: Path) -> list[int]:
    """``[size, mtime_ns]`` of a file: changes whenever the file is rewritten."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/avalanche-clip``, or ``~/.cache/avalanche-clip``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "avalanche-clip"


__all__ = [
    "COCO_URL",
    "KARPATHY_URL",
    "check_files_exist",
    "default_cache_dir",
    "file_signature",
    "read_json",
    "require_dir",
    "require_file",
    "require_keys",
    "require_list",
]
