"""A reference set from the user's files: a folder of images and a text file of captions.

ZSCL (Zheng et al. 2023) distils the original CLIP on reference data that belongs to no task:
ImageNet images and Conceptual Captions captions in the paper. Both are the user's files here:
any folder of images (ImageNet's ``train/`` with one sub-folder per class works as it is; labels
are not used) and a UTF-8 text file with one caption per line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import torch
from torch.utils.data import Dataset

from ..._checks import check_positive_int
from .files import require_dir, require_file
from .images import read_rgb

REFERENCE_IMAGES_HINT = ("a folder of images, at any depth (e.g. ImageNet's train/ folder, as in ZSCL); "
                         "it has to be downloaded by the user")
REFERENCE_CAPTIONS_HINT = ("a UTF-8 text file with one caption per line (e.g. the captions of Conceptual "
                           "Captions' validation TSV, as in ZSCL: https://ai.google.com/research/ConceptualCaptions)")


class ReferenceSet(NamedTuple):
    """Reference data: ``images[i]`` is a transformed image tensor ``[3, H, W]``; ``captions`` are strings."""

    images: Dataset
    captions: Sequence[str]


class ReferenceImages(Dataset):
    """The image files under ``root`` (recursively, in sorted path order), without labels.

    Args:
        root: the folder.
        transform: applied to each RGB PIL image (give the model's evaluation transform).
        max_images: keep a random subset of this many (drawn with ``seed``, kept in path
            order); None keeps every image.
        seed: seeds the subset.
    """

    def __init__(self, root: str | os.PathLike, *, transform: Callable[[Any], Any] | None = None,
                 max_images: int | None = None, seed: int = 0):
        from torchvision.datasets.folder import IMG_EXTENSIONS

        self.root = require_dir(root, what="reference image folder", get=REFERENCE_IMAGES_HINT)
        paths = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())
        if not paths:
            raise ValueError(f"The reference image folder {str(self.root)!r} holds no image "
                             f"(extensions {', '.join(IMG_EXTENSIONS)}). Expected {REFERENCE_IMAGES_HINT}.")
        if max_images is not None and check_positive_int("max_images", max_images) < len(paths):
            kept = torch.randperm(len(paths), generator=torch.Generator().manual_seed(seed))[:max_images]
            paths = [paths[i] for i in sorted(kept.tolist())]
        self.image_paths: list[Path] = paths
        self.transform = transform

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> Any:
        image = read_rgb(self.image_paths[index])
        return self.transform(image) if self.transform else image

    def extra_repr(self) -> str:
        return f"root={str(self.root)!r}, images={len(self)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


def read_captions(path: str | os.PathLike) -> list[str]:
    """The non-blank lines of a UTF-8 text file, stripped; an empty file raises a ValueError."""
    path = require_file(path, what="reference captions file", get=REFERENCE_CAPTIONS_HINT)
    try:
        captions = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise ValueError(f"The reference captions file {str(path)!r} is not UTF-8 text: {error}.") from error
    if not captions:
        raise ValueError(f"The reference captions file {str(path)!r} holds no caption. Expected "
                         f"{REFERENCE_CAPTIONS_HINT}.")
    return captions


def reference_set_from_files(images: str | os.PathLike, captions: str | os.PathLike, *,
                             transform: Callable[[Any], Any] | None = None, max_images: int | None = None,
                             seed: int = 0) -> ReferenceSet:
    """The reference set of an image folder and a captions file (see :class:`ReferenceImages`)."""
    return ReferenceSet(ReferenceImages(images, transform=transform, max_images=max_images, seed=seed),
                        read_captions(captions))


__all__ = ["ReferenceImages", "ReferenceSet", "read_captions", "reference_set_from_files"]
