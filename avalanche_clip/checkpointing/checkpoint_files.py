"""The checkpoint files of a run: written atomically with a checksum, the last few kept.

Checkpoint ``n`` is ``ckpt-{n:06d}.pt`` (``torch.save`` of a dict of tensors and plain values,
loadable with ``torch.load(weights_only=True)``) beside ``ckpt-{n:06d}.pt.sha256`` (its SHA-256,
in ``sha256sum`` format: ``sha256sum -c`` checks it). Both are written atomically (temporary
file, fsync, rename), the checkpoint first, so a crash leaves either a complete pair, or a
checkpoint without its checksum, which is not trusted. Reading takes the newest checkpoint
whose checksum matches and which loads; a bad one is reported at warning level, renamed
``*.corrupt`` (kept for inspection, never read again) and the previous one is used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch

from .._atomic import atomic_write
from .._checksums import checksum_path, file_sha256, recorded_sha256, write_checksum
from .._checks import check_positive_int

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^ckpt-(\d{6,})\.pt$")


class _HashingWriter:
    """A binary file that also feeds every byte written to a SHA-256."""

    def __init__(self, file: IO[bytes]):
        self.file = file
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A verified checkpoint: its path, its number and its content."""

    path: Path
    number: int
    state: dict[str, Any]


class CheckpointFiles:
    """The checkpoints of one run, in ``directory``.

    Args:
        directory: where the checkpoints live (created on the first save).
        keep: how many of the newest checkpoints to keep; older ones are deleted after a save.
    """

    def __init__(self, directory: str | os.PathLike, *, keep: int = 2):
        self.directory = Path(directory)
        self.keep = check_positive_int("keep", keep)

    def numbers(self) -> list[int]:
        """The numbers of the checkpoint files present, newest first (verified or not)."""
        if not self.directory.is_dir():
            return []
        found = (_NAME.match(path.name) for path in self.directory.iterdir())
        return sorted((int(match[1]) for match in found if match), reverse=True)

    def path(self, number: int) -> Path:
        """The file of checkpoint ``number``."""
        return self.directory / f"ckpt-{number:06d}.pt"

    def save(self, state: dict[str, Any]) -> Path:
        """Write ``state`` as the next checkpoint with its checksum; delete all but the newest ``keep``."""
        numbers = self.numbers()
        path = self.path(numbers[0] + 1 if numbers else 1)
        writers: list[_HashingWriter] = []

        def write(file: IO[bytes]) -> None:
            writers.append(_HashingWriter(file))
            torch.save(state, writers[-1])

        atomic_write(path, write)
        write_checksum(path, writers[-1].sha256.hexdigest())
        for old in self.numbers()[self.keep:]:
            self.path(old).unlink(missing_ok=True)
            checksum_path(self.path(old)).unlink(missing_ok=True)
        logger.info("Checkpoint written: %s", path)
        return path

    def load_latest(self) -> LoadedCheckpoint | None:
        """The newest checkpoint that verifies and loads, or None if there is none.

        Each newer one that does not (no checksum, a checksum mismatch, a file torch cannot
        read) is reported at warning level and renamed ``*.corrupt``. Temporary files of writes
        that a crash interrupted are deleted.
        """
        for partial in self.directory.glob(".ckpt-*.tmp") if self.directory.is_dir() else ():
            logger.info("Deleting %s, left by a checkpoint write that did not finish.", partial)
            partial.unlink(missing_ok=True)
        for number in self.numbers():
            path = self.path(number)
            try:
                state = self._verified_load(path)
            except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
                logger.warning("Checkpoint %s is unusable (%s): it is renamed %s.corrupt and the previous "
                               "checkpoint is used.", path, error, path.name)
                for bad in (path, checksum_path(path)):
                    if bad.exists():
                        os.replace(bad, bad.with_name(bad.name + ".corrupt"))
                continue
            logger.info("Resuming from checkpoint %s", path)
            return LoadedCheckpoint(path, number, state)
        return None

    def _verified_load(self, path: Path) -> dict[str, Any]:
        if not checksum_path(path).is_file():
            raise ValueError(f"its checksum file {checksum_path(path).name} is missing (the run stopped while "
                             "writing it)")
        expected = recorded_sha256(path)
        actual = file_sha256(path)
        if actual != expected:
            raise ValueError(f"its SHA-256 is {actual[:12]}..., its checksum file says "
                             f"{expected[:12] or 'nothing'}...: the file is truncated or corrupted")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(f"it holds a {type(state).__name__}, not a checkpoint dict")
        return state


__all__ = ["CheckpointFiles", "LoadedCheckpoint"]
