"""Decoding image files, and what a labelled set does with one it cannot decode.

Whether every listed image *exists* is checked when a dataset is built (one stat per file).
Whether it *decodes* is only known when it is read: decoding every image of COCO up front would
take minutes. The policy for a corrupt file, chosen by ``on_error``:

- ``"skip"`` (default of the labelled sets): the sample is served by the next readable sample
  of the same class (cyclically, in index order), so labels, class splits and session masks stay
  right; each unreadable file is logged once at warning level with the running count, and
  :attr:`ImageErrorPolicy.unreadable` lists them. Only when no image of the class can be read
  does it raise.
- ``"raise"``: reading the sample raises :class:`UnreadableImageError` naming the file.

Retrieval sets always raise: serving another image would pair its pixels with the wrong captions.
"""

from __future__ import annotations

import bisect
import logging
from collections import defaultdict
from pathlib import Path
from typing import Callable, Literal, Sequence, TypeVar

from PIL import Image

from ..._checks import check_choice

logger = logging.getLogger(__name__)

OnError = Literal["skip", "raise"]
ON_ERROR_CHOICES: tuple[str, ...] = ("skip", "raise")

T = TypeVar("T")


class UnreadableImageError(OSError):
    """An image file exists but cannot be decoded (corrupt, truncated or not an image)."""

    def __init__(self, path: str | Path, reason: BaseException | str):
        self.path = str(path)
        super().__init__(
            f"Cannot decode the image {self.path!r}: {reason}. The file is corrupt or not an "
            "image: download it again, or delete it from the set's list."
        )


def read_rgb(path: str | Path) -> Image.Image:
    """Decode an image file fully, as RGB; raise :class:`UnreadableImageError` if it cannot."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise UnreadableImageError(path, error) from error


class ImageErrorPolicy:
    """Serves labelled samples under an ``on_error`` policy (see the module docstring).

    Args:
        targets: the label of every sample; a substitute always has the same label.
        on_error: ``"skip"`` or ``"raise"``.
        dataset: the dataset's description, for messages.
    """

    def __init__(self, targets: Sequence[int], *, on_error: OnError = "skip", dataset: str):
        self.on_error = check_choice("on_error", on_error, ON_ERROR_CHOICES)
        self.dataset = dataset
        self.unreadable: set[str] = set()
        by_class: dict[int, list[int]] = defaultdict(list)
        for index, target in enumerate(targets):
            by_class[int(target)].append(index)
        self._targets = [int(t) for t in targets]
        self._by_class = dict(by_class)

    def read(self, index: int, read_sample: Callable[[int], T]) -> T:
        """``read_sample(index)``, or under ``"skip"`` that of the next readable same-class sample."""
        try:
            return read_sample(index)
        except UnreadableImageError as error:
            if self.on_error == "raise":
                raise
            self._note(error)
        same_class = self._by_class[self._targets[index]]
        start = bisect.bisect_right(same_class, index)
        for offset in range(len(same_class) - 1):
            candidate = same_class[(start + offset) % len(same_class)]
            try:
                return read_sample(candidate)
            except UnreadableImageError as error:
                self._note(error)
        raise OSError(
            f"{self.dataset}: no image of class {self._targets[index]} can be decoded (its "
            f"{len(same_class)} samples tried; {len(self.unreadable)} unreadable files so far)."
        )

    def _note(self, error: UnreadableImageError) -> None:
        if error.path in self.unreadable:
            return
        self.unreadable.add(error.path)
        logger.warning(
            "%s: skipping an unreadable image (%d so far in this process), its samples are served "
            "by the next readable sample of the same class; pass on_error='raise' to stop instead. %s",
            self.dataset, len(self.unreadable), error,
        )


__all__ = ["ON_ERROR_CHOICES", "ImageErrorPolicy", "OnError", "UnreadableImageError", "read_rgb"]
