"""An on-disk cache of a dataset's sample index (a few numpy arrays), rebuilt when its sources change.

Building an index can mean parsing hundreds of megabytes of JSON (COCO's instances file); the
cached ``.npz`` loads in a fraction of a second. A cache file is named by what it indexes (the
``identity``: source paths and options) and records the ``signature`` of its sources (size and
modification time of each file); when the recorded signature differs from the current one, or
the file cannot be read, the index is rebuilt and the file rewritten atomically.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..._atomic import atomic_write

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
"""Bump when the layout of cached indexes changes, so old files are rebuilt."""

Arrays = dict[str, np.ndarray]


def cache_path(cache_dir: Path, name: str, identity: Mapping[str, Any]) -> Path:
    """The cache file of the index ``name`` with this ``identity`` (paths and options)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir / f"{name}-{digest}.npz"


def _load(path: Path, meta: str) -> Arrays | None:
    """The arrays cached at ``path`` if it records ``meta``; None if absent, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["meta"]) != meta:
                logger.info("Index cache %s is stale (its source files changed): rebuilding it.", path)
                return None
            return {key: data[key] for key in data.files if key != "meta"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        logger.warning("Index cache %s cannot be read (%s): rebuilding it.", path, error)
        return None


def cached_index(
    *,
    cache_dir: Path,
    name: str,
    identity: Mapping[str, Any],
    signature: Mapping[str, Any],
    build: Callable[[], Arrays],
) -> Arrays:
    """Return the cached index, or ``build()`` it and cache it.

    Args:
        cache_dir: the cache folder (created if needed).
        name: the kind of index, the start of the file name (``"coco_crops"``).
        identity: JSON-able paths and options that select the cache file.
        signature: JSON-able state of the source files (see ``files.file_signature``); a
            different signature makes the cached index stale.
        build: computes the index as named numpy arrays (no object arrays).
    """
    path = cache_path(cache_dir, name, identity)
    meta = json.dumps({"format": CACHE_FORMAT, "identity": identity, "signature": signature}, sort_keys=True)
    arrays = _load(path, meta)
    if arrays is not None:
        return arrays
    arrays = build()
    try:
        atomic_write(path, lambda file: np.savez(file, meta=np.array(meta), **arrays))
    except OSError as error:
        logger.warning("Cannot write the index cache %s (%s): the index will be rebuilt next time.", path, error)
    return arrays


__all__ = ["CACHE_FORMAT", "cache_path", "cached_index"]
